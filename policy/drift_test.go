package policy

import (
	"math"
	"math/rand/v2"
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
	if v := p.Evaluate(in, at(20).Add(10*time.Second)); len(v.Findings) == 0 || !strings.Contains(v.Findings[0].Note, "allowed to drift: that share times 1 + 1·t, t hours after the deploy)") {
		t.Errorf("findings %+v do not say the drift allowed", v.Findings)
	}
	if m := tripMinute(p, base, 30, watch(2, 0)); m == 0 || m > 6 {
		t.Errorf("2x the slow share from the deploy trips in minute %d, want by the 6th", m)
	}
	if m := tripMinute(p, base, 30, watch(2, 15)); m == 0 || m > 20 {
		t.Errorf("2x the slow share from minute 15 trips in minute %d, want by the 20th", m)
	}
}

// dayDrift bounds the day's fastest rise in slow share: small for a
// steady service, at least the true slope for one that drifts, and
// nothing (driftPerHour then) from too few slow invocations.
func TestDayDrift(t *testing.T) {
	r := rng{rand.New(rand.NewPCG(21, 22))}
	day := func(inv, share float64, logShare func(h float64) float64) (ts []int64, x, n []float64) {
		for m := -24 * 60; m < 0; m++ {
			c := r.poisson(inv)
			ts = append(ts, at(m).UnixNano())
			x, n = append(x, r.poisson(c*share*math.Exp(logShare(float64(m)/60)))), append(n, c)
		}
		return ts, x, n
	}
	flat := func(float64) float64 { return 0 }
	if d, ok := dayDrift(day(1000, 0.01, flat)); !ok || d > 0.1 {
		t.Errorf("a steady day at 10 slow invocations a minute: rate %.3g (%v), want at most 0.1 an hour", d, ok)
	}
	// A daily cycle of 2 in log share: the steepest rise 2·2π/24 = 0.52
	// an hour.
	cycle := func(h float64) float64 { return 2 * math.Sin(2*math.Pi*h/24) }
	if d, ok := dayDrift(day(1000, 0.01, cycle)); !ok || d < math.Expm1(0.5) {
		t.Errorf("a day whose log share rises 0.52 an hour at its steepest: rate %.3g (%v), want at least %.3g", d, ok, math.Expm1(0.5))
	}
	// The periods in any order: the same bound.
	ts, x, n := day(1000, 0.01, cycle)
	want, _ := dayDrift(ts, x, n)
	r.Shuffle(len(ts), func(i, j int) { ts[i], ts[j], x[i], x[j], n[i], n[j] = ts[j], ts[i], x[j], x[i], n[j], n[i] })
	if got, ok := dayDrift(ts, x, n); !ok || math.Abs(got-want) > 1e-9*want {
		t.Errorf("shuffled periods: rate %.6g (%v), in order %.6g", got, ok, want)
	}
	if d, ok := dayDrift(day(3, 0.001, flat)); ok {
		t.Errorf("a few slow invocations a day give a rate (%.3g)", d)
	}
}

// With a day of shape history that shows the known-good's slow share
// steady, compare_latency allows only the drift the day shows: a 3x slow
// share from minute 15 (6 of 1,000 invocations a minute above 1.1x the
// p99 before) trips within the half hour, where the margin at its
// default (1 + t/1h, no history) does not, and the finding says whose
// bound it is.
func TestCompareLatencyDayDrift(t *testing.T) {
	r := config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency, MinEffect: 0.1, Warmup: config.Duration{Duration: 40 * time.Second}}
	withDay := simPolicyHistory(t, r, 0.9998, 24*60)
	without := simPolicyHistory(t, r, 0.9998, 0)
	var base []sample.Sample
	for i := -30 - 24*60; i < 0; i++ {
		base = append(base, latencyMinute(i, 1000, 10, 6)...)
	}
	hour := base[len(base)-4*30:] // the baseline window alone: no day
	watch := func(m int) []sample.Sample {
		var out []sample.Sample
		for i := range m {
			slow := 6.0
			if i >= 15 {
				slow = 18
			}
			out = append(out, latencyMinute(i, 1000, 10, slow)...)
		}
		return out
	}
	if pb := withDay.PrepareBaseline(base); pb.rules[0].drift > 0.1 {
		t.Errorf("a steady day allows a drift of %.3g an hour, want at most 0.1", pb.rules[0].drift)
	}
	if pb := without.PrepareBaseline(hour); pb.rules[0].drift != driftPerHour {
		t.Errorf("without a day: drift %.3g an hour, want driftPerHour", pb.rules[0].drift)
	}
	if m := tripMinute(withDay, base, 30, watch); m == 0 {
		t.Error("a 3x slow share from minute 15 after a steady day does not trip within the half hour")
	}
	if m := tripMinute(without, hour, 30, watch); m != 0 {
		t.Errorf("without the day, a 3x slow share from minute 15 trips in minute %d (the test cannot fail)", m)
	}
	in := Input{WatchStart: at(0), NewVersion: "2", KnownGood: "1", Baseline: base, Samples: watch(10)}
	if v := withDay.Evaluate(in, at(10).Add(10*time.Second)); len(v.Findings) == 0 || !strings.Contains(v.Findings[0].Note, "the shape history's fastest rise") {
		t.Errorf("findings %+v do not say the day bounds the drift", v.Findings)
	}
}
