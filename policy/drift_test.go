package policy

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// A known-good whose latency starts to rise at the deploy (the morning's
// load arriving) shows no trend in its baseline, so only compare_latency's
// margin covers it: 3,000 invocations a minute, 30 of them above the p99
// (400 ms) and 27 above 420 ms (a heavy tail; min_effect 0.05) before the
// deploy, both counts rising 45% in each half hour after it. A version
// exactly as slow does not trip within the hour; with the margin fixed at
// 0.05 it tripped in minute 41 (an alert past baseline_horizon). A 2x slow
// share on the same drift, from the deploy or from minute 15, still trips
// within minutes (a minute later than with the fixed margin).
func TestCompareLatencyAllowsUnseenDrift(t *testing.T) {
	r := config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency, MinEffect: 0.05}
	tg := target(10*time.Minute, r)
	p, err := Compile(tg)
	if err != nil {
		t.Fatal(err)
	}
	minute := func(i int, k float64) []sample.Sample {
		g := 1 + 0.45*max(0, float64(i)+0.5)/30
		return []sample.Sample{met("Invocations", "", i, 3000), met("Duration.p99", "", i, 400),
			met("Duration.TC(400:)", "", i, math.Round(30*g*k)), met("Duration.TC(420:)", "", i, math.Round(27*g*k))}
	}
	var base []sample.Sample
	for i := -60; i < 0; i++ {
		base = append(base, minute(i, 1)...)
	}
	watch := func(worse float64, from int) func(m int) []sample.Sample {
		return func(m int) []sample.Sample {
			var out []sample.Sample
			for i := range m {
				k := 1.0
				if i >= from {
					k = worse
				}
				out = append(out, minute(i, k)...)
			}
			return out
		}
	}
	if pb := p.PrepareBaseline(base); pb.rules[0].trend.perHour > 0 {
		t.Fatalf("a flat baseline reads as a trend of %.3g an hour", pb.rules[0].trend.perHour)
	}
	if m := tripMinute(p, base, 60, watch(1, 0)); m != 0 {
		t.Errorf("a version as slow as the drifting known-good trips in minute %d, want not within the hour", m)
	}
	in := Input{WatchStart: at(0), NewVersion: "2", KnownGood: "1", Baseline: base, Samples: watch(1, 0)(20)}
	if v := p.Evaluate(in, at(20).Add(10*time.Second)); len(v.Findings) == 0 || !strings.Contains(v.Findings[0].Note, "allowed to drift: that share times 1 + t/1h") {
		t.Errorf("findings %+v do not say the drift allowed", v.Findings)
	}
	if m := tripMinute(p, base, 30, watch(2, 0)); m == 0 || m > 6 {
		t.Errorf("2x the slow share from the deploy trips in minute %d, want by the 6th", m)
	}
	if m := tripMinute(p, base, 30, watch(2, 15)); m == 0 || m > 20 {
		t.Errorf("2x the slow share from minute 15 trips in minute %d, want by the 20th", m)
	}
}
