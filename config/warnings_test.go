package config

import (
	"strings"
	"testing"
)

// Knobs the statistical rules no longer use still load, and Load lists
// each one written in the file, with its line, for `canaryd check`.
func TestRuleWarnings(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml")) + `
  [[target.rule]]
  name = "old-style"
  kind = "error_rate"
  threshold = 0.05
  window = "2m"
  breaches = 2
  of_windows = 3
  for = "1m"
  min_samples = 4
  missing_data = "breaching"

  [[target.rule]]
  name = "queue"
  kind = "metric"
  namespace = "App"
  metric_name = "Depth"
  threshold = 10
  window = "2m"
  breaches = 2
  of_windows = 3
  confidence = 0.99

  [[target.rule]]
  name = "cmp"
  kind = "compare_errors"
  burst_cv = 1.5

  [[target.rule]]
  name = "thr"
  kind = "throttles"
  threshold = 0.002
  burst_cv = 1.5
`
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, w.Path)
		if w.Line == 0 || w.Msg == "" {
			t.Errorf("warning without line or message: %+v", w)
		}
	}
	want := []string{
		"target[0].rule[1].window", "target[0].rule[1].breaches", "target[0].rule[1].of_windows",
		"target[0].rule[1].for", "target[0].rule[1].min_samples", "target[0].rule[1].missing_data",
		"target[0].rule[2].confidence", "target[0].rule[3].burst_cv",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("warnings %v\nwant %v", got, want)
	}
	if !strings.Contains(cfg.Warnings[0].Msg, "sequential test over the whole watch") {
		t.Errorf("message %q does not say why", cfg.Warnings[0].Msg)
	}
}

// The one rule check: what Load rejects, CheckRule rejects with the key.
func TestCheckRule(t *testing.T) {
	base := Rule{Name: "r", Kind: RuleErrorRate, Threshold: 0.05}
	with := func(f func(r *Rule)) Rule { r := base; f(&r); return r }
	cases := []struct {
		name  string
		rule  Rule
		field string // "" = valid
	}{
		{"valid with defaults", base, ""},
		{"confidence out of range", with(func(r *Rule) { r.Confidence = 0.3 }), "confidence"},
		{"ratio below 1", with(func(r *Rule) { r.Baseline, r.Threshold = "ratio", 0.5 }), "threshold"},
		{"probe without probe", Rule{Name: "p", Kind: RuleProbe, Probe: "nope"}, "probe"},
		{"failure ratio 1", Rule{Name: "p", Kind: RuleProbe, Probe: "h", FailureRatio: 1}, "failure_ratio"},
		{"metric window below the period", Rule{Name: "m", Kind: RuleMetric, Namespace: "N", MetricName: "M", Window: Duration{30e9}}, "window"},
		{"throttle share", Rule{Name: "t", Kind: RuleThrottles, Threshold: 0.01}, ""},
		{"burst_cv negative", with(func(r *Rule) { r.BurstCV = -1 }), "burst_cv"},
		{"burst_cv", with(func(r *Rule) { r.BurstCV = 2 }), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := Target{MetricPeriod: Duration{60e9}, Rules: []Rule{tc.rule}}
			ApplyTargetDefaults(&tg)
			errs := CheckRule(tg.Rules[0], map[string]bool{"h": true}, tg.MetricPeriod.Duration)
			switch {
			case tc.field == "" && len(errs) > 0:
				t.Fatalf("unexpected errors %v", errs)
			case tc.field != "" && (len(errs) == 0 || !strings.HasPrefix(errs[0].Error(), tc.field+":")):
				t.Fatalf("errors %v, want one on %s", errs, tc.field)
			}
		})
	}
}

// Rules written as ratios or deltas of the known-good, the way static
// alarms are, load with a hint naming the compare rule that asks the same
// question with more power; the other relative rules, and the compare
// rules themselves, load without one.
func TestRelativeRuleHints(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml")) + `
  [[target.rule]]
  name = "p99-ratio"
  kind = "latency"
  stat = "p99.9"
  threshold = 1.5
  baseline = "ratio"

  [[target.rule]]
  name = "p99-delta"
  kind = "latency"
  threshold = 100
  baseline = "delta"

  [[target.rule]]
  name = "errors-2x"
  kind = "error_rate"
  threshold = 2
  baseline = "ratio"

  [[target.rule]]
  name = "errors-plus-1pc"
  kind = "error_rate"
  threshold = 0.01
  baseline = "delta"

  [[target.rule]]
  name = "cmp"
  kind = "compare_latency"
`
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"target[0].rule[1].baseline": "kind compare_latency counts the new version's invocations slower than the known-good's p99.9",
		"target[0].rule[2].baseline": "kind compare_latency",
		"target[0].rule[3].baseline": "a regression of 2x is not caught; kind compare_errors",
	}
	for _, w := range cfg.Warnings {
		m, ok := want[w.Path]
		if !ok {
			t.Errorf("unexpected warning %s: %s", w.Path, w.Msg)
			continue
		}
		if !strings.Contains(w.Msg, m) || w.Line == 0 {
			t.Errorf("%s (line %d): %q, want %q", w.Path, w.Line, w.Msg, m)
		}
		delete(want, w.Path)
	}
	for p := range want {
		t.Errorf("no hint at %s", p)
	}
}
