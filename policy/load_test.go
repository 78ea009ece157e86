package policy

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy/seqtest"
	"github.com/canaryd/canaryd/sample"
)

// A dependency that saturates under load fails more of every version's
// requests while traffic is high (load.go). An hour at 1,000 invocations
// a minute and 0.5 % errors, then a watch whose minutes 5-7 carry six
// times the traffic and, with it, 3.5 times the error rate (the rate to
// the power 0.7): without a history that clears such loads those minutes
// are not judged, where compare_errors rolled back in the first of them.
// A regression in the quiet minutes is still caught, at most the spike's
// three minutes later than without the spike.
func TestCompareErrorsLoadSpike(t *testing.T) {
	p, err := Compile(target(10*time.Minute, cmpErr))
	if err != nil {
		t.Fatal(err)
	}
	base := rate("", -60, 0, 1000, 5)
	watch := func(quietErrs, spikeErrs float64) func(m int) []sample.Sample {
		return func(m int) []sample.Sample {
			var out []sample.Sample
			for i := 0; i < m; i++ {
				if i >= 5 && i < 8 {
					out = append(out, rate("", i, i+1, 6000, spikeErrs)...)
				} else {
					out = append(out, rate("", i, i+1, 1000, quietErrs)...)
				}
			}
			return out
		}
	}
	loadErrs := math.Round(6000 * 0.005 * math.Pow(6, 0.7))
	if at := tripMinute(p, base, 20, watch(5, loadErrs)); at != 0 {
		t.Errorf("a spike whose errors rise with its load trips in minute %d", at)
	}
	pb := p.PrepareBaseline(base)
	if rb := &pb.rules[0]; rb.loadSafe || rb.loadRef != 1000 {
		t.Fatalf("an hour without a history: load cleared %v, reference %v invocations a minute, want false and 1000", rb.loadSafe, rb.loadRef)
	}
	// The spike's three minutes, and minute 8 after them, which
	// CloudWatch may still add to: its load is minute 7's until it is
	// final (openLoad).
	in := Input{WatchStart: at(0), NewVersion: "2", KnownGood: "1", Baseline: base, Samples: watch(5, loadErrs)(10)}
	if note := p.Evaluate(in, at(10).Add(10*time.Second)).Findings[0].Note; !strings.Contains(note, "4 period(s) with 1.5x the baseline's traffic or more not judged") {
		t.Errorf("the note does not name the spike's minutes: %s", note)
	}
	// Cleared, as a history could clear it, the same spike trips: the
	// test above can fail.
	pb.rules[0].loadSafe = true
	if tripMinuteOf(p, Input{Prepared: pb}, 20, watch(5, loadErrs)) == 0 {
		t.Error("judged, the spike whose errors rise with its load never trips")
	}
	quiet := tripMinute(p, base, 30, watch(15, 15))
	if quiet == 0 {
		t.Fatal("3x errors never trip")
	}
	if at := tripMinute(p, base, 30, watch(15, 90)); at == 0 || at > quiet+3 {
		t.Errorf("3x errors with a spike in minutes 5-7 trip in minute %d, without it in the %d", at, quiet)
	}
}

// Latency that rises with load (queueing at a saturating dependency) is
// left out in the same way: an hour at 1,000 invocations a minute (p99
// 2 s), then a watch whose minutes 5-7 carry six times the traffic and 30
// times the slow share. Their first minute is a rise whose cold starts
// could explain it (scaleout.go), the other two are busy; judged, as a
// baseline that clears such loads would have them judged, they trip. A
// 4x slow share in the quiet minutes is caught at most the spike's three
// minutes later than without it; traffic that doubles and stays is not
// judged against the baseline at all.
func TestCompareLatencyLoadSpike(t *testing.T) {
	p := compareLatencyCold(t)
	var base []sample.Sample
	for i := -60; i < 0; i++ {
		base = append(base, latencyMinute(i, 1000, 10, 6)...)
	}
	watch := func(quietSlow, spikeInv, spikeSlow float64) func(m int) []sample.Sample {
		return func(m int) []sample.Sample {
			var out []sample.Sample
			for i := 0; i < m; i++ {
				if i >= 5 && i < 8 {
					out = append(out, latencyMinute(i, spikeInv, spikeSlow, spikeSlow)...)
				} else {
					out = append(out, latencyMinute(i, 1000, quietSlow, quietSlow)...)
				}
			}
			return out
		}
	}
	if at := tripMinute(p, base, 20, watch(6, 6000, 1000)); at != 0 {
		t.Errorf("a spike whose latency rises with its load trips in minute %d", at)
	}
	pb := p.PrepareBaseline(base)
	if rb := &pb.rules[0]; rb.loadSafe || rb.loadRef != 1000 {
		t.Fatalf("an hour at one load: load cleared %v, reference %v invocations a minute, want false and 1000", rb.loadSafe, rb.loadRef)
	}
	in := Input{WatchStart: at(0), NewVersion: "2", KnownGood: "1", Baseline: base, Samples: watch(6, 6000, 1000)(10)}
	note := p.Evaluate(in, at(10).Add(10*time.Second)).Findings[0].Note
	// Busy: the spike's last two minutes, and minute 8 while CloudWatch
	// may still add to it (openLoad).
	for _, want := range []string{"1 period(s) after a rise in traffic not judged", "3 period(s) with 1.5x the baseline's traffic or more not judged against it (latency can rise with load"} {
		if !strings.Contains(note, want) {
			t.Errorf("the note does not say %q: %s", want, note)
		}
	}
	pb.rules[0].loadSafe = true
	if cleared := tripMinuteOf(p, Input{Prepared: pb}, 20, watch(6, 6000, 1000)); cleared != 7 {
		t.Errorf("judged, the spike whose latency rises with its load trips in minute %d, want the 7th (its second)", cleared)
	}
	quiet := tripMinute(p, base, 40, watch(24, 1000, 24))
	if quiet == 0 {
		t.Fatal("a 4x slow share never trips")
	}
	if at := tripMinute(p, base, 40, watch(24, 6000, 1000)); at == 0 || at > quiet+3 {
		t.Errorf("a 4x slow share with a spike in minutes 5-7 trips in minute %d, without it in the %d", at, quiet)
	}
	doubled := func(m int) []sample.Sample {
		var out []sample.Sample
		for i := 0; i < m; i++ {
			out = append(out, latencyMinute(i, 2000, 36, 36)...)
		}
		return out
	}
	if at := tripMinute(p, base, 30, doubled); at != 0 {
		t.Errorf("traffic that doubles and stays 3x as slow is judged against the baseline: trips in minute %d", at)
	}
	// A baseline whose own spikes (every 20th minute at five times the
	// traffic) keep the usual slow share clears busy periods; one whose
	// spikes are three times as slow does not, and leaves them out of
	// the slow share the watch is judged against.
	for _, tc := range []struct {
		slow float64
		safe bool
	}{{50, true}, {150, false}} {
		var base []sample.Sample
		for i := -60; i < 0; i++ {
			if i%20 == 0 {
				base = append(base, latencyMinute(i, 5000, tc.slow, tc.slow)...)
			} else {
				base = append(base, latencyMinute(i, 1000, 10, 6)...)
			}
		}
		rb := &p.PrepareBaseline(base).rules[0]
		if rb.loadSafe != tc.safe {
			t.Errorf("a baseline whose spikes have %v slow invocations in 5,000: busy periods cleared %v, want %v", tc.slow, rb.loadSafe, tc.safe)
		}
		if !tc.safe && rb.nullRate > 0.0125 {
			t.Errorf("a baseline whose spikes are 3x as slow: the slow share it allows, %.4g, holds them (0.012 without)", rb.nullRate)
		}
	}
}

// loadExcess counts the busy periods' errors against their hours' rate:
// a day of spikes (every 40th minute at five times the traffic) whose
// errors keep the usual rate clears busy periods; one where they rise
// with the load does not, nor does a day with too few errors to tell.
func TestLoadExcess(t *testing.T) {
	r := rng{rand.New(rand.NewPCG(3, 4))}
	day := func(perMin, rate, spikeRise float64) (x, n []float64) {
		for m := range 24 * 60 {
			inv, p := perMin, rate
			if m%40 == 0 {
				inv, p = 5*perMin, rate*spikeRise
			}
			k := r.poisson(inv)
			x, n = append(x, r.events(k, p, 0)), append(n, k)
		}
		return x, n
	}
	for _, tc := range []struct {
		name                string
		perMin, rate, spike float64
		safe                bool
	}{
		{"errors at the usual rate", 1000, 0.005, 1, true},
		{"errors 1.5x in spikes", 1000, 0.005, 1.5, false},
		{"errors 3x in spikes", 1000, 0.005, 3, false},
		{"too few errors to tell", 20, 0.001, 1, false},
	} {
		x, n := day(tc.perMin, tc.rate, tc.spike)
		busy, expected := loadExcess(x, n)
		safe := expected >= loadMinExpected && busy+2*math.Sqrt(busy) <= loadTolerance*expected
		if safe != tc.safe {
			t.Errorf("%s: %.0f errors in busy periods where their hours predict %.1f: cleared %v, want %v", tc.name, busy, expected, safe, tc.safe)
		}
	}
}

// A day of history whose spikes show errors at the usual rate clears
// busy periods: a spike minute with five times the errors is judged and
// trips. One whose spikes show errors rising with load does not, and the
// spike minutes are left out of the baseline's rate as well.
func TestLoadClearedByHistory(t *testing.T) {
	cmp := config.Rule{Name: "cmp", Kind: config.RuleCompareErrors}
	p := simPolicyHistory(t, cmp, 0.9995, day)
	r := rng{rand.New(rand.NewPCG(5, 6))}
	history := func(spikeRise float64) []sample.Sample {
		var out []sample.Sample
		for m := -30 - day; m < 0; m++ {
			inv, rate := 1000.0, 0.005
			if m%40 == 0 {
				inv, rate = 5000, 0.005*spikeRise
			}
			k := r.poisson(inv)
			out = append(out, met("Invocations", "", m, k), met("Errors", "", m, r.events(k, rate, 0)))
		}
		return out
	}
	watch := cat(rate("", 0, 2, 1000, 5), rate("", 2, 3, 5000, 125))
	for _, tc := range []struct {
		rise       float64
		safe, trip bool
	}{{1, true, true}, {3, false, false}} {
		pb := p.PrepareBaseline(history(tc.rise))
		rb := &pb.rules[0]
		if rb.loadSafe != tc.safe {
			t.Errorf("a day whose spikes show %vx the errors: busy periods cleared %v, want %v", tc.rise, rb.loadSafe, tc.safe)
		}
		if !tc.safe && rb.rate > 0.0055 {
			t.Errorf("a day whose spikes show %vx the errors: the baseline's rate %.4g holds them (0.005 without)", tc.rise, rb.rate)
		}
		v := p.Evaluate(Input{WatchStart: at(0), NewVersion: "2", KnownGood: "1", Prepared: pb, Samples: watch}, at(3).Add(10*time.Second))
		if (v.Kind == Failing) != tc.trip {
			t.Errorf("a day whose spikes show %vx the errors, a spike minute with 5x: %s, want failing %v", tc.rise, dump(v), tc.trip)
		}
	}
}

// Traffic that rises through the baseline's hour (700 to 1,000 a minute,
// the morning's load) is measured against the hour's end, not its median
// (850): 1,300 a minute in the watch is that rise going on, not a spike;
// 1,600 is one.
func TestLoadRefFollowsRisingHour(t *testing.T) {
	var trials []pt
	for i := range 60 {
		trials = append(trials, pt{t: int64(i), out: outOK, v: 700 + 300*float64(i)/59})
	}
	var rb ruleBase
	rb.setLoadRef(trials)
	if rb.loadRef < 950 {
		t.Errorf("reference %.0f invocations a minute for an hour rising to 1,000", rb.loadRef)
	}
	for _, tc := range []struct {
		n    float64
		busy bool
	}{{1300, false}, {1600, true}} {
		if got := rb.busy(&period{nn: tc.n, load: tc.n}); got != tc.busy {
			t.Errorf("%v invocations after an hour rising to 1,000: busy %v, want %v", tc.n, got, tc.busy)
		}
	}
}

// A service whose errors rise with its load (0.5 % at 5,000 invocations
// a minute, times the load to the power 0.7) shows it over a day's cycle
// (peak/trough 3): the known-good's exponent's lower bound is allowed, so
// a watch at 1.45 times the baseline's traffic (short of busy) with the
// errors that load brings (1.3x) is not rolled back, where without the
// allowance it is; a 3x regression at that load still trips.
func TestCompareErrorsLoadAllowance(t *testing.T) {
	cmp := config.Rule{Name: "cmp", Kind: config.RuleCompareErrors}
	p := simPolicyHistory(t, cmp, 0.9995, day)
	r := rng{rand.New(rand.NewPCG(7, 8))}
	errRate := func(inv float64) float64 { return 0.005 * math.Pow(inv/5000, 0.7) }
	var base []sample.Sample
	for m := -30 - day; m < 0; m++ {
		inv := 5000 * math.Exp(0.55*math.Sin(2*math.Pi*float64(m)/day))
		k := r.poisson(inv)
		base = append(base, met("Invocations", "", m, k), met("Errors", "", m, r.events(k, errRate(inv), 0)))
	}
	pb := p.PrepareBaseline(base)
	rb := &pb.rules[0]
	if rb.load.k < 0.45 || rb.load.k > 0.75 {
		t.Errorf("errors to the power 0.7 of a day's load: allowed exponent %.3g, want 0.45-0.75", rb.load.k)
	}
	if rb.busy(&period{nn: 7000, load: 7000}) {
		t.Fatalf("7,000 invocations a minute after an hour rising to 5,000 are busy (reference %.0f)", rb.loadRef)
	}
	watch := func(x float64) func(m int) []sample.Sample {
		return func(m int) []sample.Sample {
			var out []sample.Sample
			for i := range m {
				out = append(out, rate("", i, i+1, 7000, math.Round(x*7000*errRate(7000)))...)
			}
			return out
		}
	}
	checkLoadAllowance(t, p, pb, watch, "its error rate rising with the load the baseline shows", 3, 1)
}

// checkLoadAllowance checks p's first rule, prepared with a load
// allowance (pb), on watches whose events are x times what their load
// brings the known-good: at x = 1 and x = without it does not trip and
// its note names the allowance, at x = 3 it trips by minute by, and
// without the allowance x = without trips (so the check before can fail).
func checkLoadAllowance(t *testing.T, p *Policy, pb *PreparedBaseline, watch func(x float64) func(m int) []sample.Sample, note string, by int, without float64) {
	t.Helper()
	for _, x := range []float64{1, without} {
		if at := tripMinuteOf(p, Input{Prepared: pb}, 20, watch(x)); at != 0 {
			t.Errorf("%gx the events that rise with the load as the baseline shows trip in minute %d", x, at)
		}
	}
	if at := tripMinuteOf(p, Input{Prepared: pb}, 20, watch(3)); at == 0 || at > by {
		t.Errorf("3x the events at that load trip in minute %d, want by the %d", at, by)
	}
	in := Input{WatchStart: at(0), NewVersion: "2", KnownGood: "1", Prepared: pb, Samples: watch(1)(5)}
	if got := p.Evaluate(in, at(5).Add(10*time.Second)).Findings[0].Note; !strings.Contains(got, note) {
		t.Errorf("the note does not say %q: %s", note, got)
	}
	pb.rules[0].load.k = 0
	if tripMinuteOf(p, Input{Prepared: pb}, 20, watch(without)) == 0 {
		t.Errorf("without the allowance, %gx the events that load brings never trip", without)
	}
}

// The exponent's lower bound is 0 for a steady service, for counts that
// do not follow their load, and for too few events to tell.
func TestLoadExponent(t *testing.T) {
	r := rng{rand.New(rand.NewPCG(9, 10))}
	series := func(periods int, base, k, rate float64) (x, n []float64) {
		for i := range periods {
			inv := base * math.Exp(0.55*math.Sin(2*math.Pi*float64(i)/day))
			c := r.poisson(inv)
			x, n = append(x, r.events(c, rate*math.Pow(inv/base, k), 0)), append(n, c)
		}
		return x, n
	}
	for _, tc := range []struct {
		name          string
		periods       int
		base, k, rate float64
		lo, hi        float64
	}{
		{"steady errors over a day", day, 3000, 0, 0.01, 0, 0.05},
		{"errors to the power 1 over a day", day, 3000, 1, 0.01, 0.85, 1.05},
		{"an hour at one load", 60, 3000, 1, 0.01, 0, 0.3},
		{"a handful of errors a day", day, 30, 1, 0.0002, 0, 0.001},
	} {
		x, n := series(tc.periods, tc.base, tc.k, tc.rate)
		if tc.periods == 60 {
			for i := range n { // an hour: a flat load
				n[i] = r.poisson(tc.base)
				x[i] = r.events(n[i], tc.rate, 0)
			}
		}
		if got := loadExponent(x, n); got < tc.lo || got > tc.hi {
			t.Errorf("%s: exponent's lower bound %.3g, want %g-%g", tc.name, got, tc.lo, tc.hi)
		}
	}
	lt := loadTrend{k: 0.5, n0: 1000}
	if g := lt.at(4000); math.Abs(g-2) > 1e-12 {
		t.Errorf("4x the reference load at exponent 0.5: factor %v, want 2", g)
	}
	if g := lt.at(500); g != 1 {
		t.Errorf("half the reference load: factor %v, want 1 (no reduction)", g)
	}
}

// compare_latency allows its known-good's slow share rising with load as
// far as its baseline shows it: an hour whose traffic swings between
// 2,000 and 4,500 a minute twice, its slow share following the load
// cubed (durations rising a tenth or so), and a watch at 4,300 a minute (short of busy) as slow as that
// load makes the known-good: not rolled back, nor at 1.5x that slow share,
// which without the allowance is. (1x is within the margin even without
// the allowance, since that margin grows with the time since the deploy:
// driftAt.) A 3x slow share at that load still trips.
func TestCompareLatencyLoadAllowance(t *testing.T) {
	p := compareLatencyWarm(t)
	share := func(inv float64) float64 { return 0.01 * math.Pow(inv/3000, 3) }
	var base []sample.Sample
	var xs, ns []float64
	for i := -60; i < 0; i++ {
		inv := math.Round(3000 * math.Exp(0.4*math.Sin(2*math.Pi*float64(i)/30)))
		s := math.Round(inv * share(inv))
		base = append(base, latencyMinute(i, inv, s, math.Round(0.6*s))...)
		xs, ns = append(xs, math.Round(0.6*s)), append(ns, inv)
	}
	pb := p.PrepareBaseline(base)
	rb := &pb.rules[0]
	if rb.load.k < 2.4 || rb.load.k > 3.05 {
		t.Errorf("a slow share following the load cubed: allowed exponent %.3g, want 2.4-3.05", rb.load.k)
	}
	// Without a shape history the rule tempers at its baseline's bound on
	// 1/k: the load's swing, which the exponent explains, is no burst.
	if raw := seqtest.InvKUpper(xs, ns, 0, latencyBaselineCapDelta); !(rb.invKCap < 0.01 && raw > 0.3) {
		t.Errorf("tempered at 1/k %.3g (bound with the load allowed for), want below 0.01; the bound taking the load's swing for bursts %.3g, want above 0.3", rb.invKCap, raw)
	}
	if rb.trend.perHour > 0 {
		t.Errorf("a load swinging twice an hour reads as a trend of %.3g an hour", rb.trend.perHour)
	}
	watch := func(x float64) func(m int) []sample.Sample {
		return func(m int) []sample.Sample {
			var out []sample.Sample
			for i := range m {
				s := math.Round(x * 0.6 * 4300 * share(4300))
				out = append(out, latencyMinute(i, 4300, s, s)...)
			}
			return out
		}
	}
	checkLoadAllowance(t, p, pb, watch, "its slow share rising with the load the baseline shows", 4, 1.5)
}

// A late period's first read holds only part of its invocations: read as
// they are, the minute after a busy one looked quiet and was judged
// against the baseline with the errors of the load it really had (quality
// kind good/ramp-load, seed 30497: 3,117 of 4,873 invocations first, with
// its load's 1.4 % errors against 0.3 %). An hour at 1,000 a minute and
// 0.5 %, then minute 5 at 2,000 and 10 % (busy, left out) and minute 6
// first read with 1,300 of its 2,000 invocations at the same 10 %: while
// CloudWatch may still add to it, the period before stands for its load,
// and it is left out too; once final, its own 2,000 leave it out. After a
// quiet minute 5 the same first read is judged, and trips.
func TestCompareErrorsLoadLatePeriod(t *testing.T) {
	p, err := Compile(target(10*time.Minute, cmpErr))
	if err != nil {
		t.Fatal(err)
	}
	base := rate("", -60, 0, 1000, 5)
	watch := func(m5inv, m5errs, m6inv, m6errs float64, quietAfter int) []sample.Sample {
		out := rate("", 0, 5, 1000, 5)
		out = append(out, rate("", 5, 6, m5inv, m5errs)...)
		out = append(out, rate("", 6, 7, m6inv, m6errs)...)
		return append(out, rate("", 7, 7+quietAfter, 1000, 5)...)
	}
	eval := func(s []sample.Sample, now time.Time) Verdict {
		return p.Evaluate(Input{WatchStart: at(0), NewVersion: "2", KnownGood: "1", Baseline: base, Samples: s}, now)
	}
	first := eval(watch(2000, 200, 1300, 130, 0), at(7).Add(10*time.Second))
	if first.Kind == Failing {
		t.Errorf("the first read of the minute after a busy one is judged at the load it shows: %s", first.Findings[0].Note)
	}
	if note := first.Findings[0].Note; !strings.Contains(note, "2 period(s) with 1.5x the baseline's traffic or more not judged") {
		t.Errorf("the note does not count both busy minutes: %s", note)
	}
	if v := eval(watch(2000, 200, 2000, 200, 3), at(10).Add(10*time.Second)); v.Kind == Failing {
		t.Errorf("final, the busy minute 6 is judged: %s", v.Findings[0].Note)
	}
	if v := eval(watch(1000, 5, 1300, 130, 0), at(7).Add(10*time.Second)); v.Kind != Failing {
		t.Errorf("after a quiet minute, 10%% errors at 1,300 invocations against 0.5%% do not trip: %s", v.Findings[0].Note)
	}
	// Once other periods make it final, a minute read with 1,300
	// invocations is judged on them, whatever came before.
	if v := eval(watch(2000, 200, 1300, 130, 3), at(10).Add(10*time.Second)); v.Kind != Failing {
		t.Errorf("a final minute at 1,300 invocations and 10%% errors after a busy one does not trip: %s", v.Findings[0].Note)
	}
}

// localMedians' sliding window gives each period the median of the
// loadWindow periods either side of it, as sorting each window does, ties
// and short series included.
func TestLocalMediansSlide(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, k := range []int{0, 1, 2, loadWindow, 2*loadWindow + 1, 2*loadWindow + 2, 500} {
		n := make([]float64, k)
		for i := range n {
			n[i] = float64(r.IntN(20)) // many ties
		}
		got := localMedians(n)
		for i := range n {
			win := slices.Clone(n[max(0, i-loadWindow):min(k, i+loadWindow+1)])
			slices.Sort(win)
			if want := win[len(win)/2]; got[i] != want {
				t.Fatalf("%d periods: median at %d = %v, want %v", k, i, got[i], want)
			}
		}
	}
}

// exposures weighs periods by the load's effect, and leaves a baseline
// without periods, or without an effect of the load, as it is.
func TestLoadExposures(t *testing.T) {
	lt := loadTrend{k: 2}
	if got := lt.exposures(nil); len(got) != 0 {
		t.Errorf("no periods: %v", got)
	}
	got := lt.exposures([]float64{100, 200, 0})
	if want := []float64{100 * 0.25, 200, 0}; !slices.Equal(got, want) {
		t.Errorf("exposures %v, want %v", got, want)
	}
	n := []float64{100, 200}
	if got := (loadTrend{}).exposures(n); !slices.Equal(got, n) {
		t.Errorf("without a load effect: %v, want %v", got, n)
	}
}

// A sparse baseline (6 errors in 926 invocations at 30 a minute) whose
// errors happened to fall in its busier minutes: compare_errors allows a
// rise with the load (power 1.1 above 32 a minute) and, the errors too few
// to show their shape, judges against every burst shape they leave open
// (seqtest.NewBurstyRelative). Then every invocation fails. The load
// scales the null's rate, so each minute entirely failed adds evidence;
// scaling its invocations instead read the fourth minute (40, above 32)
// as one with successes, the alternative "everything fails" dropped out
// and the half hour passed without a rollback (e = 0.002 after four
// minutes, 43 after thirty).
func TestCompareErrorsHardFailureAtALoad(t *testing.T) {
	cmp := config.Rule{Name: "cmp", Kind: config.RuleCompareErrors}
	p := simPolicy(t, cmp, config.DefaultConfidence)
	bx := []float64{0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	bn := []float64{26, 22, 28, 33, 33, 26, 40, 24, 34, 28, 41, 23, 28, 34, 27, 35, 36, 31, 31, 36, 32, 23, 36, 30, 34, 30, 35, 25, 32, 33}
	var base []sample.Sample
	for i := range bn {
		m := i - len(bn)
		base = append(base, met("Invocations", "", m, bn[i]), met("Errors", "", m, bx[i]))
	}
	pb := p.PrepareBaseline(base)
	if k := pb.rules[0].load.k; k < 0.5 {
		t.Fatalf("load exponent allowed %.2f: the case needs an allowance", k)
	}
	if pb.rules[0].bursty == nil {
		t.Fatal("no test against the burst shapes: the case needs the sparse baseline's")
	}
	watch := []float64{28, 29, 30, 40, 32, 34, 28, 30, 31, 29, 33, 30}
	wantRollbackBy(t, p, pb, watch, watch, 8, "every invocation failing at ~30 a minute")
}
