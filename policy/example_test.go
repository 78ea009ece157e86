package policy_test

import (
	"fmt"
	"time"

	"github.com/canaryd/canaryd/sample"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
)

// A daemon-style loop: compile once, keep samples in a History, evaluate
// on every tick with the clock's now.
func ExamplePolicy_Evaluate() {
	p, err := policy.Compile(config.Target{
		Name:     "checkout",
		BakeTime: config.Duration{Duration: 10 * time.Minute},
		Rules: []config.Rule{{
			Name: "error-rate", Kind: config.RuleErrorRate, Threshold: 0.05,
			Window: config.Duration{Duration: 5 * time.Minute}, MinInvocations: 50,
		}},
	})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	h := policy.NewHistory(p.Lookback())
	for i := 0; i < 5; i++ {
		t := start.Add(time.Duration(i) * time.Minute)
		h.Add(sample.Sample{Kind: sample.KindMetric, Metric: "Invocations", Time: t, Period: time.Minute, Outcome: sample.OutcomeOK, Value: 1000})
		h.Add(sample.Sample{Kind: sample.KindMetric, Metric: "Errors", Time: t, Period: time.Minute, Outcome: sample.OutcomeOK, Value: 120})
	}
	v := p.Evaluate(policy.Input{WatchStart: start, KnownGood: "3", NewVersion: "4", Samples: h.Samples()}, start.Add(5*time.Minute))
	fmt.Println(v.Kind)
	fmt.Println(v.Findings[0])
	// Output:
	// failing
	// error-rate: observed 0.12 > threshold 0.05 over 5m0s (5 samples, evidence 5000)
}
