package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// Regression tests for the three bugs of issue #11. They spell every rule
// field out (no defaults helper) so that they also run against the first
// version's policy, where each of them fails.

func bugTarget(rules ...config.Rule) config.Target {
	for i := range rules {
		r := &rules[i]
		r.Op, r.MissingData, r.Window = ">", "ignore", dur(5*time.Minute)
		r.MinSamples, r.MinInvocations, r.Confidence = 3, 50, 0.9998
		if r.Breaches == 0 {
			r.Breaches, r.OfWindows = 1, 1
		}
		if r.Kind == config.RuleLatency {
			r.Stat, r.Warmup = "p99", dur(time.Minute)
		}
	}
	return config.Target{Name: "t", BakeTime: dur(10 * time.Minute), MetricPeriod: dur(time.Minute), MetricLag: 3,
		Probes: []config.Probe{{Name: "health"}}, Rules: rules}
}

// During a traffic split the watcher reports a custom metric for the alias
// as a whole (Version ""), unless its dimensions name the version: a
// metric rule must judge those samples, not report "no recent data"
// forever and block the promotion of every good canary.
func TestBugCustomMetricDuringSplit(t *testing.T) {
	p, err := Compile(bugTarget(
		config.Rule{Name: "queue", Kind: config.RuleMetric, Threshold: 100, Namespace: "App", MetricName: "Queue"},
		config.Rule{Name: "health", Kind: config.RuleProbe, Probe: "health", ConsecutiveFailures: 3},
	))
	if err != nil {
		t.Fatal(err)
	}
	var samples []sample.Sample
	for i := 0; i < 12; i++ {
		samples = append(samples, met("rule:queue", "", i, 20))
	}
	samples = append(samples, probes("health", 0, strings.Repeat(".", 24))...)
	v := p.Evaluate(Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Split: true, Samples: samples}, at(12))
	if v.Kind != Promote {
		t.Fatalf("split watch with a healthy custom metric: %s, want promote: %s", v.Kind, v.Summary)
	}
	if f := v.Findings[0]; f.Observed != 20 || f.Breached {
		t.Fatalf("custom metric finding %s", f)
	}
}

// The throttles threshold is per period: 50 throttles in each of three
// periods is far above 10 per period and trips, without waiting for
// breaches/of_windows counted in five-minute windows.
func TestBugThrottlesPerPeriod(t *testing.T) {
	p, err := Compile(bugTarget(config.Rule{Name: "thr", Kind: config.RuleThrottles, Threshold: 10, Breaches: 3, OfWindows: 5}))
	if err != nil {
		t.Fatal(err)
	}
	samples := cat(vals("Throttles", "", 0, 50, 50, 50), vals("Invocations", "", 0, 1000, 1000, 1000))
	// A baseline of steady throttles (5 a minute) bounds how bursty they
	// are; without one, 5 times the threshold three times over is no
	// proof (seqtest.BurstyRate).
	base := cat(vals("Throttles", "", -30, seqOf(30, 5)...), vals("Invocations", "", -30, seqOf(30, 1000)...))
	v := p.Evaluate(Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Samples: samples, Baseline: base}, at(3))
	if v.Kind != Failing {
		t.Fatalf("50 throttles in each of 3 periods against 10 per period: %s, want failing: %s", v.Kind, v.Summary)
	}
}

// A ratio rule's finding shows the ratio to the known-good value, never
// the raw milliseconds as if they were the ratio.
func TestBugRatioExplanation(t *testing.T) {
	p, err := Compile(bugTarget(config.Rule{Name: "p99", Kind: config.RuleLatency, Baseline: "ratio", Threshold: 1.5}))
	if err != nil {
		t.Fatal(err)
	}
	var base []sample.Sample
	for i := -30; i < 0; i++ {
		base = append(base, met("Duration.p99", "", i, 400), met("Invocations", "", i, 1000))
	}
	samples := cat(vals("Duration.p99", "", 6, 420, 420), vals("Invocations", "", 6, 1000, 1000))
	v := p.Evaluate(Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Samples: samples, Baseline: base}, at(8))
	s := v.Findings[0].String()
	if strings.Contains(s, "observed 420") || !strings.Contains(s, "observed 1.05") {
		t.Fatalf("ratio finding %q: want the ratio 1.05 observed, not 420 ms", s)
	}
}
