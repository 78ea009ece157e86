package policy_test

import (
	"fmt"
	"time"

	"github.com/canaryd/canaryd/sample"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
)

// A daemon-style loop: compile once, keep each watch's samples in a
// History that folds final periods into evidence, evaluate on every tick
// with the clock's now.
func ExamplePolicy_Evaluate() {
	t := config.Target{
		Name: "checkout",
		Rules: []config.Rule{{
			Name: "error-rate", Kind: config.RuleErrorRate, Threshold: 0.05,
		}},
	}
	config.ApplyTargetDefaults(&t) // config.Load does this for a file
	p, err := policy.Compile(t)
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	h := p.NewHistory(policy.Watch{Start: start, KnownGood: "3", NewVersion: "4"})
	// The 30 minutes before the deploy: 1% errors, steady, which bounds
	// how bursty the errors can be at the threshold too.
	var baseline []sample.Sample
	for i := -30; i < 0; i++ {
		t := start.Add(time.Duration(i) * time.Minute)
		baseline = append(baseline,
			sample.Sample{Kind: sample.KindMetric, Metric: "Invocations", Time: t, Period: time.Minute, Outcome: sample.OutcomeOK, Value: 1000},
			sample.Sample{Kind: sample.KindMetric, Metric: "Errors", Time: t, Period: time.Minute, Outcome: sample.OutcomeOK, Value: 10})
	}
	pb := p.PrepareBaseline(baseline)
	h.SetBaseline(pb)
	for i := 0; i < 5; i++ {
		t := start.Add(time.Duration(i) * time.Minute)
		h.Add(sample.Sample{Kind: sample.KindMetric, Metric: "Invocations", Time: t, Period: time.Minute, Outcome: sample.OutcomeOK, Value: 1000})
		h.Add(sample.Sample{Kind: sample.KindMetric, Metric: "Errors", Time: t, Period: time.Minute, Outcome: sample.OutcomeOK, Value: 120})
	}
	v := p.Evaluate(policy.Input{WatchStart: start, KnownGood: "3", NewVersion: "4", Prepared: pb,
		Evidence: h.Evidence(), Samples: h.Samples()}, start.Add(5*time.Minute))
	fmt.Println(v.Kind)
	fmt.Println(v.Findings[0])
	// Output:
	// failing
	// error-rate: observed 0.12 > threshold 0.05 over 5m0s (5 samples, evidence 5000) baseline 0.01 e=7.91e+08 ≥ 1/α=5714; 600 of 5000 invocations failed over 5m0s; known-good before the deploy 0.01 (300 of 30000); null bursts down to k=9.9 (the baseline's bound)
}
