package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func parseFile(t *testing.T, path string, o Options) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if o.LookupEnv == nil {
		o.LookupEnv = noEnv
	}
	return Parse(data, filepath.Base(path), o)
}

func TestInvalidConfigs(t *testing.T) {
	cases := []struct {
		file string
		want []string // substrings of the error, in any order
	}{
		{"invalid-unknown-key.toml", []string{"invalid-unknown-key.toml:9:", "target[0].bake_tme", "unknown key"}},
		{"invalid-wrong-type.toml", []string{":9:", "target[0].bake_time", "must be a duration string such as \"30s\" (got the number 300)"}},
		{"invalid-wrong-type-int.toml", []string{":9:", "target[0].metric_lag", `must be a whole number, not the string "three"`}},
		{"invalid-bad-duration.toml", []string{"invalid duration \"5 minutes\""}},
		{"invalid-missing-field.toml", []string{"invalid-missing-field.toml:4:", "target[0].function: required"}},
		{"invalid-out-of-range.toml", []string{":9:", "target[0].metric_lag: must be between 1 and 15 (got 99)"}},
		{"invalid-trace-keep.toml", []string{":3:", "daemon.trace_keep: must be between 1 and 100000 (got -5)"}},
		{"invalid-orphan-sweep.toml", []string{":3:", "daemon.orphan_sweep: must be between 1s and 1h0m0s (got 0s)",
			":4:", "daemon.orphan_age: must be between 1s and 1h0m0s (got 2h0m0s)",
			":5:", "daemon.lost_sweep: must be between 1s and 1h0m0s (got 500ms)"}},
		{"invalid-out-of-range-threshold.toml", []string{"target[0].rule[0].threshold", "error rate threshold must be in (0, 1] (got 1.5)"}},
		{"invalid-unresolved-env.toml", []string{":2:", "daemon.admin_token_env", "CANARYD_TEST_UNSET_TOKEN is not set"}},
		{"invalid-unresolved-file.toml", []string{"daemon.admin_token_file", "cannot read secret file"}},
		{"invalid-duplicate-target.toml", []string{":15:", "target[1].name: duplicate target name \"api\""}},
		{"invalid-unknown-probe.toml", []string{"target[0].rule[1].probe: unknown probe \"nope\""}},
		{"invalid-unknown-notifier.toml", []string{"target[0].notify: unknown notifier \"pager\""}},
		{"invalid-notifier-secret.toml", []string{"notifier[0]: pagerduty needs routing_key_env or routing_key_file"}},
		{"invalid-cron.toml", []string{"daemon.sweep_cron: invalid cron spec"}},
		{"invalid-probe.toml", []string{"target[0].probe[0].url: must be an absolute http(s) URL", "target[0].probe[0].body_match: invalid regexp", "problems"}},
		{"invalid-syntax.toml", []string{":14:", "expected"}},
		{"invalid-rule-window.toml", []string{":15:", "target[0].rule[0].window: window 30s is shorter than metric_period", ":20:", "does not apply to kind \"compare_errors\""}},
		{"invalid-events.toml", []string{":5:", "events.queue_url: must be an SQS queue URL", ":6:", "events.sweep: must be between 1m0s and 24h0m0s (got 10s)",
			":7:", "events.wait_time: must be between 1s and 20s", ":8:", "events.max_messages: must be between 1 and 10 (got 11)",
			":9:", "events.sweep_rate: must be in (0, daemon.max_poll_rate = 10] alias reads per second (got 50)"}},
		{"invalid-events-no-queue.toml", []string{":4:", "events.queue_url: required when [events] is present"}},
		{"invalid-rule-confidence.toml", []string{":12:", "target[0].rule[0].confidence: must be in [0.5, 1)", ":18:", "target[0].rule[1].op: a latency rule trips when the target gets worse",
			":19:", "target[0].rule[1].warmup: must not be negative"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, err := parseFile(t, filepath.Join("testdata", tc.file), Options{})
			if err == nil {
				t.Fatal("expected an error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *config.Error: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	src := `
[daemon]
log_level = "loud"
poll_interval = "10ms"

[aws]
region = "us-east-1"

[[target]]
name = "API"
function = "f"
alias = "a"
extra = 1

  [[target.rule]]
  name = "r"
  kind = "nope"
`
	_, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	wantPaths := []string{"daemon.log_level", "daemon.poll_interval", "target[0].name", "target[0].extra", "target[0].rule[0].kind"}
	got := map[string]int{}
	for _, p := range ce.Problems {
		got[p.Path] = p.Line
	}
	for _, w := range wantPaths {
		if line, ok := got[w]; !ok || line == 0 {
			t.Errorf("problem for %s missing or without line (got %v)", w, ce.Problems)
		}
	}
}

func TestShippedExampleLoads(t *testing.T) {
	cfg, err := Parse(mustRead(t, "../config.toml"), "config.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatalf("shipped config.toml: %v", err)
	}
	tg := cfg.Targets[0]
	if tg.Name != "checkout-api" || len(tg.Rules) != 7 || len(tg.Probes) != 1 {
		t.Fatalf("unexpected target: %+v", tg)
	}
	if tg.Actions.Verify.Window.Duration != 2*time.Minute {
		t.Errorf("verify window = %s", tg.Actions.Verify.Window)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("the shipped rules use knobs that have no effect: %v", cfg.Warnings)
	}
}

func TestDefaultsApplied(t *testing.T) {
	cfg, err := parseFile(t, "testdata/valid-minimal.toml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Daemon.Listen, DefaultListen},
		{"poll", cfg.Daemon.PollInterval.Duration, DefaultPollInterval},
		{"orphan sweep", cfg.Daemon.OrphanSweep.Duration, DefaultOrphanSweep},
		{"orphan age", cfg.Daemon.OrphanAge.Duration, DefaultOrphanAge},
		{"lost sweep", cfg.Daemon.LostSweep.Duration, DefaultLostSweep},
		{"backend", cfg.Store.Backend, "bolt"},
		{"target region", tg.Region, "us-east-1"},
		{"bake", tg.BakeTime.Duration, DefaultBakeTime},
		{"period", tg.MetricPeriod.Duration, time.Minute},
		{"rule op", tg.Rules[0].Op, ">"},
		{"rule min invocations", tg.Rules[0].MinInvocations, DefaultMinInvocations},
		{"rule M of N", [2]int{tg.Rules[0].Breaches, tg.Rules[0].OfWindows}, [2]int{1, 1}},
		{"rule confidence", tg.Rules[0].Confidence, DefaultConfidence},
		{"missing data", tg.Rules[0].MissingData, MissingIgnore},
		{"verify without probes", tg.Actions.Verify.Window.Duration, time.Duration(0)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestZeroRetriesIsKept(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml")) + `
  [[target.actions.webhook]]
  name = "w"
  url = "https://x.example/hook"
  retries = 0
  [[target.actions.webhook]]
  name = "w2"
  url = "https://x.example/hook"
`
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Targets[0].Actions.Webhooks[0].Retries; r != 0 {
		t.Errorf("explicit retries = 0 became %d", r)
	}
	if r := cfg.Targets[0].Actions.Webhooks[1].Retries; r != 3 {
		t.Errorf("default retries = %d, want 3", r)
	}
}

// TestZeroWarmupIsKept: warmup = "0s" turns a latency rule's cold-start
// allowance off; an unwritten warmup is the default.
func TestZeroWarmupIsKept(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml")) + `
  [[target.rule]]
  name = "p99-warm"
  kind = "compare_latency"
  warmup = "0s"
  [[target.rule]]
  name = "p99-cold"
  kind = "compare_latency"
  [[target.rule]]
  name = "p99-slow"
  kind = "compare_latency"
  warmup = "90s"
`
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []time.Duration{0, DefaultWarmup, 90 * time.Second} {
		if got := cfg.Targets[0].Rules[i+1].Warmup.Duration; got != want {
			t.Errorf("rule %s: warmup = %s, want %s", cfg.Targets[0].Rules[i+1].Name, got, want)
		}
	}
}

// TestMinEffectDefaults: a compare rule without min_effect gets the
// drift margin the shipped config recommends, a written one (0 included)
// is kept, and other kinds are left alone.
func TestMinEffectDefaults(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml")) + `
  [[target.rule]]
  name = "errors-vs-known-good"
  kind = "compare_errors"
  [[target.rule]]
  name = "errors-no-margin"
  kind = "compare_errors"
  min_effect = 0
  [[target.rule]]
  name = "p99"
  kind = "compare_latency"
  [[target.rule]]
  name = "p99-no-margin"
  kind = "compare_latency"
  min_effect = 0.0
  [[target.rule]]
  name = "p99-wide"
  kind = "compare_latency"
  min_effect = 0.3
`
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	rules := cfg.Targets[0].Rules
	if rules[0].MinEffect != 0 {
		t.Errorf("rule %s (%s): min_effect = %g, want 0", rules[0].Name, rules[0].Kind, rules[0].MinEffect)
	}
	for i, want := range []float64{DefaultErrorsMinEffect, 0, DefaultLatencyMinEffect, 0, 0.3} {
		if got := rules[i+1].MinEffect; got != want {
			t.Errorf("rule %s: min_effect = %g, want %g", rules[i+1].Name, got, want)
		}
	}
	// A Target built in code means what it says: no margin unless set.
	tg := Target{Name: "t", Rules: []Rule{{Name: "e", Kind: RuleCompareErrors}}}
	ApplyTargetDefaults(&tg)
	if got := tg.Rules[0].MinEffect; got != 0 {
		t.Errorf("code-built compare_errors: min_effect = %g, want 0", got)
	}
}

// TestZeroWrittenIsNamed: a zero written where none is allowed is an
// error naming the key and its line, not silently the default.
func TestZeroWrittenIsNamed(t *testing.T) {
	for _, c := range []struct{ key, line, rule, want string }{
		{"metric_lag = 0", "", "", "target[0].metric_lag: must be between 1 and 15 (got 0)"},
		{"", "min_invocations = 0", "compare_errors", "target[0].rule[1].min_invocations: must be between 1 and 1000000000 (got 0)"},
		{"", "min_samples = 0", "probe\"\n  probe = \"health", "target[0].rule[1].min_samples: must be between 1 and 10000 (got 0)"},
	} {
		src := "[aws]\nregion = \"us-east-1\"\n\n[[target]]\nname = \"api\"\nfunction = \"api-fn\"\nalias = \"live\"\n" + c.key + "\n" +
			"  [[target.probe]]\n  name = \"health\"\n  url = \"https://api.example/health\"\n" +
			"  [[target.rule]]\n  name = \"errors\"\n  kind = \"error_rate\"\n  threshold = 0.05\n"
		if c.rule != "" {
			src += "  [[target.rule]]\n  name = \"r\"\n  kind = \"" + c.rule + "\"\n  " + c.line + "\n"
		}
		_, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s%s: error %v, want one containing %q", c.key, c.line, err, c.want)
		}
	}
}

// TestOrphanSweepKnobs: the test-only daemon.orphan_sweep and orphan_age
// are taken as written (a chaos experiment's seconds, not the defaults).
func TestOrphanSweepKnobs(t *testing.T) {
	src := "[daemon]\norphan_sweep = \"2s\"\norphan_age = \"1s\"\nlost_sweep = \"10s\"\n" + string(mustRead(t, "testdata/valid-minimal.toml"))
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Daemon.OrphanSweep.Duration; got != 2*time.Second {
		t.Errorf("orphan_sweep = %s, want 2s", got)
	}
	if got := cfg.Daemon.OrphanAge.Duration; got != time.Second {
		t.Errorf("orphan_age = %s, want 1s", got)
	}
	if got := cfg.Daemon.LostSweep.Duration; got != 10*time.Second {
		t.Errorf("lost_sweep = %s, want 10s", got)
	}
}

func TestSecretsResolveAndRedact(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "pd")
	if err := os.WriteFile(keyFile, []byte("pd-routing-key-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `
[daemon]
admin_token_env = "TOKEN"
[aws]
region = "us-east-1"
[[notifier]]
name = "pd"
type = "pagerduty"
routing_key_file = "` + keyFile + `"
[[target]]
name = "api"
function = "f"
alias = "a"
notify = ["pd"]
  [[target.probe]]
  name = "h"
  url = "https://x.example/health"
  headers_env = { Authorization = "HEALTH_TOKEN" }
  [[target.rule]]
  name = "r"
  kind = "probe"
  probe = "h"
`
	env := map[string]string{"TOKEN": "s3cr3t-admin", "HEALTH_TOKEN": "Bearer hh"}
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Daemon.AdminToken.Value() != "s3cr3t-admin" {
		t.Errorf("admin token not resolved")
	}
	if cfg.Notifiers[0].RoutingKey.Value() != "pd-routing-key-123" {
		t.Errorf("routing key from file = %q", cfg.Notifiers[0].RoutingKey.Value())
	}
	if cfg.Targets[0].Probes[0].SecretHeaders["Authorization"].Value() != "Bearer hh" {
		t.Errorf("secret header not resolved")
	}
	for _, s := range []string{
		cfg.Daemon.AdminToken.String(),
		fmtAll(cfg),
	} {
		if strings.Contains(s, "s3cr3t-admin") || strings.Contains(s, "pd-routing-key-123") || strings.Contains(s, "Bearer hh") {
			t.Fatalf("secret leaked in %q", s)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
