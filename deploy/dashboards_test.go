package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/canaryd/canaryd/awssim"
)

// The Grafana dashboard and the Prometheus rules use only metric names
// (and label names) that the real daemon exposes on /metrics. The daemon
// runs here as the built binary against the AWS simulator, through a
// deploy, so families that need a watch to exist are there too.

var (
	metricName = regexp.MustCompile(`\bcanaryd_[a-z0-9_]+`)
	selector   = regexp.MustCompile(`\b(canaryd_[a-z0-9_]+)\{([^}]*)\}`)
	labelName  = regexp.MustCompile(`([a-z_]+)\s*(?:=~|!=|!~|=)`)
)

// dashboardExprs returns every PromQL expression of the dashboard: panel
// targets, annotations and template variables.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("grafana/canaryd.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	return out
}

type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert, Record, Expr, For string
			Labels, Annotations      map[string]string
		}
	}
}

func ruleExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("prometheus/canaryd.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("rules are not YAML: %v", err)
	}
	var out []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Expr == "" || r.Alert == "" && r.Record == "" {
				t.Errorf("group %s: a rule without alert/record name or expr: %+v", g.Name, r)
			}
			if r.Alert != "" && (r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "") {
				t.Errorf("alert %s needs a severity label, a summary and a description", r.Alert)
			}
			out = append(out, r.Expr)
		}
	}
	return out
}

func TestDashboardAndRulesUseTheDaemonsMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	dash, rules := dashboardExprs(t), ruleExprs(t)
	if len(dash) < 15 || len(rules) < 8 {
		t.Fatalf("found %d dashboard and %d rule expressions", len(dash), len(rules))
	}
	for _, alert := range []string{"canaryd_watcher_samples_total", "canaryd_rollbacks_total", "canaryd_watch_started_timestamp_seconds", `up{job="canaryd"}`} {
		if !strings.Contains(strings.Join(rules, "\n"), alert) {
			t.Errorf("no rule uses %s", alert)
		}
	}
	families := scrapeDaemon(t)
	for where, exprs := range map[string][]string{"grafana/canaryd.json": dash, "prometheus/canaryd.rules.yml": rules} {
		for _, e := range exprs {
			for _, name := range metricName.FindAllString(e, -1) {
				if _, ok := families[family(name, families)]; !ok {
					t.Errorf("%s uses %s, which the daemon does not expose (expr %q)", where, name, e)
				}
			}
			for _, m := range selector.FindAllStringSubmatch(e, -1) {
				labels := families[family(m[1], families)]
				for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
					if labels != nil && !labels[l[1]] {
						t.Errorf("%s selects %s{%s=...}, a label the daemon does not set (it has %v)", where, m[1], l[1], sortedKeys(labels))
					}
				}
			}
		}
	}
}

// family maps a histogram's series name to its family.
func family(name string, families map[string]map[string]bool) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if _, exists := families[base]; exists {
				return base
			}
		}
	}
	return name
}

// scrapeDaemon builds canaryd, runs it against awssim through one deploy,
// and returns the families on /metrics with their label names.
func scrapeDaemon(t *testing.T) map[string]map[string]bool {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "canaryd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/canaryd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sim, _ := awssim.Start(t, awssim.Options{})
	sim.CreateFunction("shop")
	sim.PublishVersion("shop")
	sim.PublishVersion("shop")
	sim.CreateAlias("shop", "live", "1")
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(health.Close)
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`
[daemon]
listen = %q
admin_token_env = "CANARYD_ADMIN_TOKEN"
poll_interval = "1s"
[aws]
region = "us-east-1"
endpoint_url = %q
[store]
path = %q
[[notifier]]
name = "oncall"
type = "webhook"
url = %q
[[target]]
name = "shop"
function = "shop"
alias = "live"
bake_time = "1h"
notify = ["oncall"]
  [[target.probe]]
  name = "health"
  url = %q
  interval = "500ms"
  timeout = "400ms"
  [[target.rule]]
  name = "health"
  kind = "probe"
  probe = "health"
`, addr, sim.URL(), filepath.Join(dir, "canaryd.db"), health.URL, health.URL)
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--log-format", "json")
	cmd.Env = append(os.Environ(), "CANARYD_ADMIN_TOKEN=dashboards-test-token", "AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=secret",
		"AWS_EC2_METADATA_DISABLED=true", "CANARYD_LISTEN=")
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tail := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		tail <- lines
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	deployed := false
	var fams map[string]map[string]bool
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		fams = scrape(addr)
		if !deployed && knownGood(addr) == "1" {
			sim.Deploy("shop", "live", "2", nil)
			deployed = true
		}
		// A watch, an AWS call and its first verdict (counted after the
		// watch starts: under a loaded machine a scrape can fall between).
		if fams["canaryd_watch_started_timestamp_seconds"] != nil && fams["canaryd_aws_call_duration_seconds"] != nil &&
			fams["canaryd_verdicts_total"] != nil {
			return fams
		}
		time.Sleep(100 * time.Millisecond) // polling another process: no event to wait on
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	t.Fatalf("the daemon did not expose a watch within 30s; families %v\nlogs:\n%s", sortedKeys(fams), strings.Join(<-tail, "\n"))
	return nil
}

// knownGood asks the admin API for the target's known-good version.
func knownGood(addr string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer dashboards-test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st struct {
		Targets []struct {
			KnownGood string `json:"known_good"`
		}
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil || len(st.Targets) == 0 {
		return ""
	}
	return st.Targets[0].KnownGood
}

func scrape(addr string) map[string]map[string]bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	fams := map[string]map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			fams[strings.Fields(name)[0]] = map[string]bool{}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		fam := family(strings.Fields(name)[0], fams)
		if fams[fam] == nil {
			fams[fam] = map[string]bool{}
		}
		for _, l := range labelName.FindAllStringSubmatch(strings.Split(rest, "}")[0], -1) {
			if l[1] != "le" && l[1] != "quantile" {
				fams[fam][l[1]] = true
			}
		}
	}
	return fams
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestPromtoolRules runs the rules' unit tests when promtool is installed
// (Debian: apt-get install prometheus).
func TestPromtoolRules(t *testing.T) {
	pt, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed")
	}
	for _, args := range [][]string{{"check", "rules", "canaryd.rules.yml"}, {"test", "rules", "canaryd.rules.test.yml"}} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
