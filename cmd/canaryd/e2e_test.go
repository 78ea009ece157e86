package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/internal/redisserver"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
)

// TestMain lets the test binary act as canaryd itself: the end-to-end test
// runs the real daemon as a subprocess of this binary.
func TestMain(m *testing.M) {
	if os.Getenv("CANARYD_E2E_ARGV") == "1" { // a wrapper script's canaryd
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	if os.Getenv("CANARYD_E2E_CHILD") == "1" {
		args := strings.Split(os.Getenv("CANARYD_E2E_ARGS"), "\x1f")
		os.Exit(Main(context.Background(), args, os.Stdout, os.Stderr))
	}
	flag.Parse()
	if !flagGiven("test.parallel") {
		// The parallel tests are the end-to-end ones (TestEndToEndDaemon and
		// TestEndToEndRollout's four worlds): each mostly waits on its
		// daemon's real clock, so run them all at once rather than
		// GOMAXPROCS (2 on CI) at a time.
		_ = flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}

func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

const e2eToken = "e2e-admin-token-1f2e3d"

type e2e struct {
	t         *testing.T
	sim       *awssim.Sim
	cfgPath   string
	addr      string
	tokenFile string // the admin token, for the CLI's --token-file
	client    *api.Client
	cmd       *exec.Cmd
	logs      *syncBuffer

	mu     sync.Mutex
	bad    map[string]bool
	alerts []string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEndToEndDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the daemon as a subprocess for ~40s")
	}
	t.Parallel() // with TestEndToEndRollout: both mostly wait on their daemons' clocks
	e := &e2e{t: t, bad: map[string]bool{"3": true, "4": true, "7": true}, logs: &syncBuffer{}}
	e.sim, _ = awssim.Start(t, awssim.Options{AutoCreateDistributions: true})
	e.sim.CreateFunction("shop")
	for i := 0; i < 8; i++ {
		e.sim.PublishVersion("shop")
	}
	e.sim.CreateAlias("shop", "live", "1")
	rs := testredis.Start(t)
	rc := rs.Client(t)
	ctx := context.Background()
	seed := func() {
		for i := 0; i < 20; i++ {
			rc.Set(ctx, fmt.Sprintf("shop:page:%d", i), "x", 0)
		}
		rc.Set(ctx, "shop:session:1", "keep", 0)
	}
	seed()
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v, _, _ := e.sim.Alias("shop", "live")
		e.mu.Lock()
		bad := e.bad[v]
		e.mu.Unlock()
		if bad {
			http.Error(w, "boom", http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(health.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.alerts = append(e.alerts, string(b))
		e.mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	e.writeConfig(health.URL, hook.URL, rs.Addr)
	e.client = api.NewClient("http://"+e.addr, e2eToken, &http.Client{Timeout: 30 * time.Second})
	e.startDaemon()

	e.eventually("daemon ready", func() bool { return e.client.Ready(ctx) == nil })
	e.eventually("version 1 adopted", func() bool { return e.status().KnownGood == "1" })

	t.Run("unauthenticated requests change nothing", func(t *testing.T) {
		for _, req := range []struct{ method, path, body string }{
			{"POST", "/v1/overrides", `{"target":"api","kind":"pause","ttl":"1h","reason":"x"}`},
			{"POST", "/v1/rollback", `{"target":"api","reason":"x"}`},
			{"POST", "/v1/deploys", `{"target":"api","version":"2"}`},
			{"DELETE", "/v1/overrides/any", ``},
		} {
			r, _ := http.NewRequest(req.method, "http://"+e.addr+req.path, strings.NewReader(req.body))
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s without token = %d, want 401", req.method, req.path, resp.StatusCode)
			}
		}
		if ovs, err := e.client.Overrides(ctx, false); err != nil || len(ovs) != 0 {
			t.Fatalf("overrides after unauthenticated calls: %v %v", ovs, err)
		}
		if n := len(e.sim.Calls("UpdateAlias")); n != 0 {
			t.Fatalf("UpdateAlias calls = %d", n)
		}
	})

	t.Run("good deploy is promoted", func(t *testing.T) {
		e.sim.Deploy("shop", "live", "2", nil)
		e.eventually("version 2 promoted", func() bool { return e.status().KnownGood == "2" })
		if n := len(e.sim.Calls("UpdateAlias")); n != 0 {
			t.Fatalf("good deploy caused %d UpdateAlias", n)
		}
	})

	t.Run("bad deploy is rolled back and caches cleared", func(t *testing.T) {
		rev := e.sim.Deploy("shop", "live", "3", nil)
		inc := e.waitIncident("3")
		if inc.Outcome != "rolled_back" || inc.ToVersion != "2" {
			t.Fatalf("incident %+v", inc)
		}
		e.assertAlias("2")
		calls := e.sim.Calls("UpdateAlias")
		if len(calls) != 1 || calls[0].Params["RevisionId"] != rev {
			t.Fatalf("UpdateAlias calls %+v; want one with RevisionId %s", calls, rev)
		}
		if n := len(e.sim.Invalidations("EE2E")); n != 1 {
			t.Errorf("invalidations = %d", n)
		}
		if n := len(rc.Keys(ctx, "shop:page:*").Val()); n != 0 {
			t.Errorf("%d cache keys left", n)
		}
		if rc.Get(ctx, "shop:session:1").Val() != "keep" {
			t.Errorf("unrelated key removed")
		}
		md, err := e.client.PostmortemMarkdown(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{inc.ID, "health-probe", "lambda-alias", "cloudfront", "3", "2"} {
			if !bytes.Contains(md, []byte(want)) {
				t.Errorf("postmortem lacks %q:\n%s", want, md)
			}
		}
		// The trace the daemon recorded of the watch, downloaded through
		// the API, replays to the same decision.
		trace := filepath.Join(t.TempDir(), "bad.jsonl")
		code, _, errOut := runCLI(t, "trace", "--incident", inc.ID, "--out", trace, "--addr", "http://"+e.addr, "--token-file", e.tokenFile)
		if code != 0 {
			t.Fatalf("trace --incident: exit %d %s", code, errOut)
		}
		code, out, errOut := runCLI(t, "replay", "--config", e.cfgPath, "--trace", trace)
		if code != exitRolledBack || !strings.Contains(out, "rolled_back") {
			t.Fatalf("replay of the recorded trace: exit %d, want %d\n%s%s", code, exitRolledBack, out, errOut)
		}
	})

	t.Run("pause alerts only, then expires and acts", func(t *testing.T) {
		seed()
		e.sim.ResetCalls()
		if _, err := e.client.SetOverride(ctx, api.OverrideRequest{Target: "shop", Kind: store.OverridePause, TTL: "12s", Reason: "db migration", Actor: "e2e"}); err != nil {
			t.Fatal(err)
		}
		e.sim.Deploy("shop", "live", "4", nil)
		e.eventually("alert-only while paused", func() bool { return e.alerted("alert_only") })
		st, err := e.client.Status(ctx)
		if err != nil || !st.Targets[0].Paused {
			t.Fatalf("status does not say paused: %+v %v", st, err)
		}
		if n := len(e.sim.Calls("UpdateAlias")); n != 0 {
			t.Fatalf("paused, yet %d UpdateAlias", n)
		}
		inc := e.waitIncident("4")
		if inc.Outcome != "rolled_back" {
			t.Fatalf("after expiry: %+v", inc)
		}
		if !e.alerted("override_expired") {
			t.Errorf("no override_expired alert")
		}
		e.assertAlias("2")
	})

	t.Run("force rollback", func(t *testing.T) {
		e.sim.Deploy("shop", "live", "5", nil)
		e.eventually("watch of 5", func() bool { w := e.status().Watch; return w != nil && w.NewVersion == "5" })
		if _, err := e.client.SetOverride(ctx, api.OverrideRequest{Target: "shop", Kind: store.OverrideForceRollback, TTL: "1h", Reason: "support tickets", Actor: "e2e"}); err != nil {
			t.Fatal(err)
		}
		inc := e.waitIncident("5")
		if inc.Outcome != "rolled_back" || inc.Trigger != "operator" {
			t.Fatalf("forced: %+v", inc)
		}
		e.assertAlias("2")
	})

	t.Run("mark good", func(t *testing.T) {
		e.sim.Deploy("shop", "live", "6", nil)
		e.eventually("watch of 6", func() bool { w := e.status().Watch; return w != nil && w.NewVersion == "6" })
		if _, err := e.client.SetOverride(ctx, api.OverrideRequest{Target: "shop", Kind: store.OverrideMarkGood, TTL: "1h", Reason: "checked", Actor: "e2e"}); err != nil {
			t.Fatal(err)
		}
		e.eventually("6 is known-good", func() bool { return e.status().KnownGood == "6" })
	})

	t.Run("restart in the middle of a watch resumes it", func(t *testing.T) {
		e.sim.ResetCalls()
		e.setBad("7", false) // healthy until the daemon is down
		e.sim.Deploy("shop", "live", "7", nil)
		e.eventually("watch of 7", func() bool { w := e.status().Watch; return w != nil && w.NewVersion == "7" })
		e.kill()
		e.setBad("7", true)
		e.startDaemon()
		e.eventually("daemon ready again", func() bool { return e.client.Ready(ctx) == nil })
		inc := e.waitIncident("7")
		if inc.Outcome != "rolled_back" || inc.ToVersion != "6" {
			t.Fatalf("after restart: %+v", inc)
		}
		e.assertAlias("6")
		if n := len(e.sim.Calls("UpdateAlias")); n != 1 {
			t.Fatalf("UpdateAlias calls = %d, want 1", n)
		}
	})
	t.Run("CLI commands against the running daemon", func(t *testing.T) {
		addr := "http://" + e.addr
		code, out, errOut := runCLI(t, "status", "--addr", addr, "--token-file", e.tokenFile)
		if code != 0 || !strings.Contains(out, "shop") || !strings.Contains(out, "shop:live") {
			t.Fatalf("status: %d\n%s%s", code, out, errOut)
		}
		code, _, errOut = runCLI(t, "rollback", "shop", "--to", "99", "--yes", "--addr", addr, "--token-file", e.tokenFile)
		if code == 0 || !strings.Contains(errOut, "99") {
			t.Fatalf("rollback --to 99: exit %d %q; want a refusal naming the version", code, errOut)
		}
		code, out, _ = runCLIIn(t, strings.NewReader("n\n"), "rollback", "shop", "--to", "2", "--addr", addr, "--token-file", e.tokenFile)
		if code == 0 || !strings.Contains(out, "Proceed?") || !strings.Contains(out, "lambda-alias") {
			t.Fatalf("unconfirmed rollback: exit %d\n%s", code, out)
		}
		e.assertAlias("6")
		code, out, errOut = runCLI(t, "rollback", "shop", "--to", "2", "--yes", "--reason", "e2e manual", "--addr", addr, "--token-file", e.tokenFile)
		if code != 0 || !strings.Contains(out, "rolled_back") {
			t.Fatalf("rollback --yes: %d\n%s%s", code, out, errOut)
		}
		e.assertAlias("2")
		code, out, errOut = runCLI(t, "override", "pause", "shop", "--ttl", "10m", "--reason", "e2e", "--addr", addr, "--token-file", e.tokenFile)
		if code != 0 || !strings.Contains(out, "pause") {
			t.Fatalf("override pause: %d %s%s", code, out, errOut)
		}
		if _, out, _ = runCLI(t, "status", "--addr", addr, "--token-file", e.tokenFile); !strings.Contains(out, "paused") {
			t.Errorf("status after pause lacks 'paused':\n%s", out)
		}
		if code, out, errOut = runCLI(t, "override", "resume", "shop", "--addr", addr, "--token-file", e.tokenFile); code != 0 {
			t.Fatalf("override resume: %d %s%s", code, out, errOut)
		}
		code, out, errOut = runCLI(t, "history", "shop", "--addr", addr, "--token-file", e.tokenFile)
		if code != 0 || strings.Count(out, "inc-") < 3 {
			t.Fatalf("history: %d\n%s%s", code, out, errOut)
		}
		incs, _ := e.client.Incidents(ctx, "shop", 1)
		code, out, _ = runCLI(t, "history", "--incident", incs[0].ID, "--addr", addr, "--token-file", e.tokenFile)
		if code != 0 || !strings.Contains(out, "# Postmortem") {
			t.Fatalf("postmortem: %d\n%s", code, out)
		}
	})
	t.Run("SIGHUP reloads; an invalid config keeps the running one", func(t *testing.T) {
		good, err := os.ReadFile(e.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.cfgPath, append(good, []byte("\nbogus_key = 1\n")...), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = e.cmd.Process.Signal(syscall.SIGHUP)
		e.eventually("invalid reload refused", func() bool { return strings.Contains(e.logs.String(), "config invalid, keeping the running config") })
		if !strings.Contains(e.logs.String(), "bogus_key") {
			t.Errorf("the refusal does not name the bad key")
		}
		if err := e.client.Ready(ctx); err != nil {
			t.Fatalf("daemon not ready after a refused reload: %v", err)
		}
		if err := os.WriteFile(e.cfgPath, good, 0o600); err != nil {
			t.Fatal(err)
		}
		_ = e.cmd.Process.Signal(syscall.SIGHUP)
		e.eventually("valid reload applied", func() bool { return strings.Contains(e.logs.String(), "config reloaded") })
	})
	e.stopDaemon()
}

// daemonDir picks the daemon's listen address (e.addr) and returns a
// directory for its files, with the admin token in "token".
func (e *e2e) daemonDir() string {
	port, err := redisserver.FreePort()
	if err != nil {
		e.t.Fatal(err)
	}
	e.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dir := e.t.TempDir()
	e.tokenFile = e.writeFile(dir, "token", e2eToken+"\n")
	return dir
}

// writeFile writes a file the daemon reads (mode 0600) and returns its path.
func (e *e2e) writeFile(dir, name, content string) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func (e *e2e) writeConfig(healthURL, hookURL, redisAddr string) {
	dir := e.daemonDir()
	src := fmt.Sprintf(`
[daemon]
listen = %q
admin_token_file = %q
poll_interval = "1s"
log_level = "debug"
shutdown_timeout = "5s"
trace_dir = %q

[aws]
region = "us-east-1"
endpoint_url = %q
max_backoff = "50ms"

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
bake_time = "4s"
rollback_window = "1m"
notify = ["oncall"]

  [[target.probe]]
  name = "health"
  url = %q
  interval = "500ms"
  timeout = "400ms"

  [[target.rule]]
  name = "health-probe"
  kind = "probe"
  probe = "health"
  consecutive_failures = 3

  [[target.actions.cloudfront]]
  distribution = "EE2E"
  paths = ["/*"]

  [[target.actions.redis]]
  name = "pages"
  patterns = ["shop:page:*"]
    [target.actions.redis.conn]
    addrs = [%q]

  [target.actions.verify]
  window = "5s"
`, e.addr, e.tokenFile, filepath.Join(dir, "traces"), e.sim.URL(), filepath.Join(dir, "canaryd.db"), hookURL, healthURL, redisAddr)
	e.cfgPath = e.writeFile(dir, "config.toml", src)
}

func (e *e2e) startDaemon() {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		"CANARYD_E2E_CHILD=1",
		"CANARYD_E2E_ARGS="+strings.Join([]string{"run", "--config", e.cfgPath, "--log-format", "json"}, "\x1f"),
		"AWS_ACCESS_KEY_ID=AKIDE2E", "AWS_SECRET_ACCESS_KEY=e2e-secret", "AWS_EC2_METADATA_DISABLED=true")
	cmd.Stdout, cmd.Stderr = e.logs, e.logs
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.cmd = cmd
	e.t.Cleanup(e.kill)
}

func (e *e2e) kill() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Kill()
	_ = e.cmd.Wait()
	e.cmd = nil
}

// stopDaemon stops it gracefully and checks it exits 0, and that the admin
// token never reached the logs.
func (e *e2e) stopDaemon() {
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	err := e.cmd.Wait()
	e.cmd = nil
	if err != nil {
		e.t.Errorf("daemon exit after SIGTERM: %v", err)
	}
	if strings.Contains(e.logs.String(), e2eToken) {
		e.t.Errorf("admin token appears in the daemon's logs")
	}
}

func (e *e2e) status() api.TargetStatus {
	st, err := e.client.Status(context.Background())
	if err != nil || len(st.Targets) == 0 {
		return api.TargetStatus{}
	}
	return st.Targets[0]
}

func (e *e2e) waitIncident(version string) store.Incident {
	e.t.Helper()
	var inc store.Incident
	e.eventually("incident of version "+version+" closed", func() bool {
		incs, err := e.client.Incidents(context.Background(), "shop", 5)
		if err != nil {
			return false
		}
		for _, i := range incs {
			if i.FromVersion == version && i.Outcome != "" {
				inc = i.Incident
				return true
			}
		}
		return false
	})
	return inc
}

func (e *e2e) assertAlias(want string) {
	e.t.Helper()
	if v, weights, _ := e.sim.Alias("shop", "live"); v != want || len(weights) != 0 {
		e.t.Fatalf("alias = %s %v, want %s", v, weights, want)
	}
}

func (e *e2e) alerted(typ string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.alerts {
		if strings.Contains(a, `"type":"`+typ+`"`) {
			return true
		}
	}
	return false
}

func (e *e2e) setBad(v string, bad bool) {
	e.mu.Lock()
	e.bad[v] = bad
	e.mu.Unlock()
}

// eventually polls cond until it holds, failing after 30 s (real time: the
// daemon is a separate process on the real clock).
func (e *e2e) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			logs := e.logs.String()
			if len(logs) > 6000 {
				logs = logs[len(logs)-6000:]
			}
			e.t.Fatalf("timed out waiting for %s; daemon log tail:\n%s", what, logs)
		}
		time.Sleep(50 * time.Millisecond) // polling another process: no event to wait on
	}
}
