package policy

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy/seqtest"
	"github.com/canaryd/canaryd/sample"
)

// A day of history stands in for the slack of the hour's estimate of the
// bursts (historyDispersion): an hour that reads clumpy by chance is
// tempered at what it plainly shows, not at that raised by its standard
// error, and at the day's shape where that explains the hour's clumps; a
// day burstier than the hour raises the tempering to the day's.
func TestHistoryDispersion(t *testing.T) {
	cmp := config.Rule{Name: "cmp", Kind: config.RuleCompareErrors}
	withHist := simPolicyHistory(t, cmp, 0.9995, day)
	hourOnly := simPolicyHistory(t, cmp, 0.9995, 0)
	buildWith := func(dayK, hourK float64, edit func(m int, e float64) float64) (all, hour []sample.Sample, x, n []float64) {
		r := rng{rand.New(rand.NewPCG(5, 6))}
		for m := -30 - day; m < 0; m++ {
			k := dayK
			if m >= -30 {
				k = hourK
			}
			e := edit(m, r.events(1000, 0.01, k))
			s := []sample.Sample{met("Invocations", "", m, 1000), met("Errors", "", m, e)}
			all = append(all, s...)
			if m >= -30 {
				hour = append(hour, s...)
				x, n = append(x, e), append(n, 1000)
			}
		}
		return all, hour, x, n
	}
	build := func(dayK, hourK float64, clump bool) (all, hour []sample.Sample, x, n []float64) {
		return buildWith(dayK, hourK, func(m int, e float64) float64 {
			if clump && m == -12 {
				return 45
			}
			return e
		})
	}
	invK := func(p *Policy, base []sample.Sample) float64 { return p.PrepareBaseline(base).rules[0].invK }

	// Steady over the day, one clump in the hour.
	all, hour, x, n := build(0, 0, true)
	raised, plain := invK(hourOnly, hour), seqtest.InvKRuns(x, n, []int{len(x)}, 0)
	got := invK(withHist, all)
	t.Logf("clump in a steady day: 1/k with the day %.4g, the hour's plain %.4g, raised %.4g", got, plain, raised)
	if raised != seqtest.InvK(x, n) || !(plain > 0 && plain < raised) {
		t.Fatalf("the hour's estimates: raised %.4g (InvK %.4g), plain %.4g", raised, seqtest.InvK(x, n), plain)
	}
	if got != plain {
		t.Errorf("1/k with a steady day = %.4g, want the hour's plain %.4g (not its raised %.4g)", got, plain, raised)
	}

	// Moderate bursts all day (k = 12), the hour's periods drawn alike
	// with two of them a little high: the hour's plain estimate reads
	// burstier than the day, but the day's shape explains those periods
	// (seqtest.InvKFits), so the rule tempers at the day's 1/k, not three
	// times harder (quality tuning seed bad/after-deploy 8).
	all, _, x, n = buildWith(12, 12, func(m int, e float64) float64 {
		switch m {
		case -9:
			return 20
		case -20:
			return 18
		}
		return e
	})
	plain, got = seqtest.InvKRuns(x, n, []int{len(x)}, 0), invK(withHist, all)
	t.Logf("a few high periods the day explains: 1/k with the day %.4g, the hour's plain %.4g", got, plain)
	if !(got < plain && got > 0.7/12 && got < 1.3/12) {
		t.Errorf("1/k with a day the hour fits = %.4g, want the day's (1/k = 1/12 within 30%%), below the hour's plain %.4g", got, plain)
	}

	// Bursty over the day (k = 2), moderately bursty in the hour: the
	// hour's few periods cannot rule out the day's bursts, which the
	// tempering then follows (an hour that read calm by chance made a
	// service bursty all day trip: quality seed good/diurnal-drift 871).
	all, hour, _, _ = build(2, 20, false)
	raised, got = invK(hourOnly, hour), invK(withHist, all)
	t.Logf("bursty day: 1/k with the day %.4g, the hour's raised %.4g", got, raised)
	if !(got > raised && got > 0.5*0.7 && got < 0.5*1.3) {
		t.Errorf("1/k with a burstier day = %.4g, want the day's (1/k = 0.5 within 30%%), above the hour's %.4g", got, raised)
	}

	// Bursts in the hour the plain estimate sees whatever the day says.
	all, hour, x, n = build(1000, 3, false)
	plain, raised, got = seqtest.InvKRuns(x, n, []int{len(x)}, 0), invK(hourOnly, hour), invK(withHist, all)
	t.Logf("bursty hour, steady day: 1/k with the day %.4g, the hour's plain %.4g, raised %.4g", got, plain, raised)
	if plain <= 0 || got != plain || raised <= plain {
		t.Errorf("bursty hour, steady day: 1/k %.4g, want the hour's plain %.4g (raised %.4g)", got, plain, raised)
	}
}

// The day's dispersion reaches a baseline in which an incident began too
// (historyDispersion with a step): the hour's estimate within each side of
// the step is raised by its standard error as in a steady hour, and a
// steady day takes that slack away. The incident's tail, which decides
// whether a new version made the incident worse, follows.
func TestHistoryDispersionAtAStep(t *testing.T) {
	cmp := config.Rule{Name: "cmp", Kind: config.RuleCompareErrors}
	withHist := simPolicyHistory(t, cmp, 0.9995, day)
	hourOnly := simPolicyHistory(t, cmp, 0.9995, 0)
	const step = 20 // the incident's first period in the hour
	r := rng{rand.New(rand.NewPCG(7, 8))}
	var all, hour []sample.Sample
	var x, n []float64
	for m := -30 - day; m < 0; m++ {
		p := 0.01
		if m >= -30+step {
			p = 0.04
		}
		e := r.events(1000, p, 0)
		if m == -22 {
			e = 45 // one clump before the incident
		}
		s := []sample.Sample{met("Invocations", "", m, 1000), met("Errors", "", m, e)}
		all = append(all, s...)
		if m >= -30 {
			hour = append(hour, s...)
			x, n = append(x, e), append(n, 1000)
		}
	}
	hb, db := hourOnly.PrepareBaseline(hour), withHist.PrepareBaseline(all)
	for name, b := range map[string]*PreparedBaseline{"hour": hb, "day": db} {
		if sh := &b.rules[0].shift; !sh.on || sh.step != step {
			t.Fatalf("%s: the incident's step: on %v at %d, want at %d", name, sh.on, sh.step, step)
		}
	}
	raised, got := hb.rules[0].invK, db.rules[0].invK
	plain := seqtest.InvKRuns(x, n, []int{step, len(x)}, 0)
	t.Logf("clump before an incident in a steady day: 1/k with the day %.4g, the hour's plain %.4g, raised %.4g", got, plain, raised)
	if raised != seqtest.InvKSplit(x, n, step) || !(plain > 0 && plain < raised) {
		t.Fatalf("the hour's estimates: raised %.4g (InvKSplit %.4g), plain %.4g", raised, seqtest.InvKSplit(x, n, step), plain)
	}
	if got != plain {
		t.Errorf("1/k with a steady day = %.4g, want the hour's plain %.4g (not its raised %.4g)", got, plain, raised)
	}
	if hs, ds := hb.rules[0].shift.invK, db.rules[0].shift.invK; ds != max(got, tailInvK(x[step:], n[step:], false)) || ds > hs {
		t.Errorf("the tail's 1/k: %.4g with the day, %.4g without; want max(the rule's %.4g, the tail's own %.4g)",
			ds, hs, got, tailInvK(x[step:], n[step:], false))
	}
}

// compare_errors tempers against the baseline at its upper bound on 1/k
// (invKCap), not the estimate: five errors a minute that look binomial
// could be bursts of shape 10 as well. At the baseline's own traffic the
// bound tempers a little more than the estimate; a spike minute of 100x
// the traffic with twice the errors expected is then no evidence of a
// regression, while the same minute with ten times the errors still is.
func TestTemperingCapsBusyPeriods(t *testing.T) {
	p, err := Compile(target(10*time.Minute, cmpErr))
	if err != nil {
		t.Fatal(err)
	}
	// Five errors a minute that look binomial (bursts of shape 10 could
	// give these as well).
	errs := []float64{5, 6, 4, 7, 5, 3, 6, 5, 8, 4, 5, 6, 2, 5, 7, 4, 6, 5, 3, 6, 5, 9, 4, 5, 6, 5, 3, 7, 5, 6}
	var base []sample.Sample
	for i, e := range errs {
		base = append(base, met("Invocations", "", i-30, 1800), met("Errors", "", i-30, e))
	}
	pb := p.PrepareBaseline(base)
	rb := &pb.rules[0]
	if rb.loadSafe {
		t.Fatal("an hour without a busy minute clears busy minutes")
	}
	// As if a history had shown errors that do not rise with load
	// (load.go): otherwise the spike minute is not judged at all.
	rb.loadSafe = true
	mu := rb.rate * 180000
	if rb.invKCap <= rb.invK || rb.phi(mu) != seqtest.Phi(mu, rb.invKCap) || rb.phi(5.4) != seqtest.Phi(5.4, rb.invKCap) || rb.phi(5.4) <= seqtest.Phi(5.4, rb.invK) {
		t.Fatalf("1/k %.4g, its upper bound %.4g: φ %.4g at the baseline's traffic, %.4g in a spike", rb.invK, rb.invKCap, rb.phi(5.4), rb.phi(mu))
	}
	t.Logf("1/k %.4g, upper bound %.4g: a minute at the baseline's traffic is tempered by %.4g (%.4g at the estimate), a spike minute expecting %.0f errors by %.4g (%.4g)",
		rb.invK, rb.invKCap, rb.phi(5.4), seqtest.Phi(5.4, rb.invK), mu, rb.phi(mu), seqtest.Phi(mu, rb.invK))
	for _, tc := range []struct {
		errs float64
		trip bool
	}{{1080, false}, {5400, true}} {
		s := cat(rate("", 0, 1, 1800, 5), rate("", 1, 2, 180000, tc.errs))
		v := p.Evaluate(Input{WatchStart: at(0), NewVersion: "2", KnownGood: "1", Prepared: pb, Samples: s}, at(2).Add(5*time.Second))
		if (v.Kind == Failing) != tc.trip {
			t.Errorf("a spike minute with %v of 180000 failing: %s, want failing %v", tc.errs, dump(v), tc.trip)
		}
	}
}

// A day of clumps makes compare_errors test against every clump size the
// baseline leaves open (clumpyDay), even when its hour of a few errors,
// one a minute, reads steady: the day's errors show the service's shape.
func TestClumpyDayChoosesTheCompositeTest(t *testing.T) {
	cmp := config.Rule{Name: "cmp", Kind: config.RuleCompareErrors}
	withHist := simPolicyHistory(t, cmp, 0.9995, day)
	hourOnly := simPolicyHistory(t, cmp, 0.9995, 0)
	r := rng{rand.New(rand.NewPCG(9, 10))}
	var all, hour []sample.Sample
	for m := -30 - day; m < 0; m++ {
		e := r.events(2500, 2e-4, 0.06) // about 700 errors a day, in clumps
		if m >= -30 {
			e = float64(m % 3 & 1) // 10 single errors in the hour
		}
		s := []sample.Sample{met("Invocations", "", m, 2500), met("Errors", "", m, e)}
		all = append(all, s...)
		if m >= -30 {
			hour = append(hour, s...)
		}
	}
	if b := hourOnly.PrepareBaseline(hour); b.rules[0].bursty != nil {
		t.Fatalf("an hour of single errors alone: the composite test (k ≥ %.3g)", b.rules[0].kLo)
	}
	b := withHist.PrepareBaseline(all)
	if b.rules[0].bursty == nil {
		t.Errorf("a day of clumps: the tempered test at 1/k = %.3g, want the composite one", b.rules[0].invK)
	}
}

// The shape history's bound on 1/k holds only while the bursts kept the
// day's shape: a day at shape 50 and a baseline hour at shape 2 (a
// dependency that began to flap) temper compare_errors at the baseline's
// own bound, which the day's would undercut tenfold; a baseline like the
// day keeps the day's tighter bound.
func TestHistoryBoundGuard(t *testing.T) {
	cmp := config.Rule{Name: "cmp", Kind: config.RuleCompareErrors}
	p := simPolicyHistory(t, cmp, 0.9995, day)
	for _, tc := range []struct {
		name    string
		k       float64 // the baseline's burst shape
		ownBase bool    // the baseline's own bound rules
	}{{"a baseline burstier than the day", 2, true}, {"a baseline like the day", 50, false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := rng{rand.New(rand.NewPCG(11, 12))}
			var all []sample.Sample
			var x, n []float64
			for m := -30 - day; m < 0; m++ {
				k := 50.0
				if m >= -30 {
					k = tc.k
				}
				e := r.events(1000, 0.01, k)
				all = append(all, met("Invocations", "", m, 1000), met("Errors", "", m, e))
				if m >= -30 {
					x, n = append(x, e), append(n, 1000)
				}
			}
			rb := &p.PrepareBaseline(all).rules[0]
			base := seqtest.InvKUpper(x, n, 0, invKCapDelta/2)
			if tc.ownBase && rb.invKCap < base {
				t.Errorf("1/k tempered at %.4g, below the baseline's own bound %.4g", rb.invKCap, base)
			}
			if !tc.ownBase && rb.invKCap >= base {
				t.Errorf("1/k tempered at %.4g, not below the baseline's own bound %.4g: the day's bound should rule", rb.invKCap, base)
			}
			t.Logf("1/k tempered at %.4g; the baseline's own bound %.4g, its estimate %.4g", rb.invKCap, base, rb.invK)
		})
	}
}

// slowCountsDay is a day and 30 minutes of 1,000 invocations a minute, 1%
// slower than 400 ms in bursts of shape 1 (three samples a minute).
func slowCountsDay() []sample.Sample {
	minute := slowMinute("400", flat(1000), flat(0.01), 1)
	r := rng{rand.New(rand.NewPCG(5, 6))}
	var all []sample.Sample
	for m := -30 - day; m < 0; m++ {
		all = append(all, minute(r, m, "")...)
	}
	return all
}

// compare_latency reads the shape of its slow counts' bursts from the
// shape history when it holds them (the watcher reads the baseline's
// trimmed counts over the shape_window): with a day of slow counts in
// bursts of shape 1 it tempers at the day's 1/k, near the truth, where
// the baseline's 30 minutes alone leave it at their estimate raised by
// its standard error.
func TestLatencyReadsTheDaysShape(t *testing.T) {
	rule := config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency}
	all := slowCountsDay()
	withDay := &simPolicyHistory(t, rule, 0.9995, day).PrepareBaseline(all).rules[0]
	noDay := &simPolicy(t, rule, 0.9995).PrepareBaseline(all[len(all)-3*30:]).rules[0]
	if withDay.eventsKg < 0 || !withDay.hasRef {
		t.Fatalf("no slow counts to temper: %+v", withDay)
	}
	if k := withDay.invK; math.Abs(k-1) > 0.15 {
		t.Errorf("with a day of history 1/k = %.4g, want the truth 1 within 0.15", k)
	}
	if noDay.invK <= withDay.invK {
		t.Errorf("without history 1/k = %.4g, want above the day's %.4g (the hour's slack)", noDay.invK, withDay.invK)
	}
	t.Logf("1/k: with a day %.4g, without %.4g", withDay.invK, noDay.invK)
}

// compare_latency tempers its slow counts at an upper bound on their
// bursts' 1/k when a shape history holds them (the watcher reads the
// baseline's trimmed counts over the shape_window): the day's bound, near
// the truth and below what the baseline's 30 minutes alone allow. Without
// a history it keeps the estimate (invKCap 0): the baseline's own bound
// cost a sixth of the p99 regressions caught.
func TestLatencyTempersAtHistoryBound(t *testing.T) {
	rule := config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency}
	all := slowCountsDay()
	var x, n []float64
	for _, s := range all {
		if s.Time.Before(at(-30)) {
			continue
		}
		switch s.Metric {
		case "Invocations":
			n = append(n, s.Value)
		case "Duration.TC(400:)":
			x = append(x, s.Value)
		}
	}
	base := seqtest.InvKUpper(x, n, 0, invKCapDelta)
	withDay := &simPolicyHistory(t, rule, 0.9995, day).PrepareBaseline(all).rules[0]
	if withDay.eventsKg < 0 || !withDay.hasRef {
		t.Fatalf("no slow counts to temper: %+v", withDay)
	}
	if c := withDay.invKCap; !(c >= withDay.invK && c > 0.5 && c < base) {
		t.Errorf("with a day of history 1/k tempered at %.4g (estimate %.4g); want above the estimate, near the truth 1 and below the baseline's own bound %.4g", c, withDay.invK, base)
	}
	if got := withDay.temperInvK(); got != withDay.invKCap {
		t.Errorf("tempers at %.4g, not the bound %.4g", got, withDay.invKCap)
	}
	// Without history: the baseline's own bound, at the lower level.
	noDay := &simPolicy(t, rule, 0.9995).PrepareBaseline(all[len(all)-3*30:]).rules[0]
	want := max(seqtest.InvKUpper(x, n, 0, latencyBaselineCapDelta), noDay.invK)
	if c := noDay.invKCap; math.Abs(c-want) > 1e-9*want || !(c > noDay.invK && c < base) || noDay.temperInvK() != c {
		t.Errorf("without a history 1/k tempered at %.4g (bound %.4g), want the baseline's 70%% bound %.4g, between the estimate %.4g and the 95%% bound %.4g",
			noDay.temperInvK(), c, want, noDay.invK, base)
	}
	t.Logf("1/k: with a day's bound %.4g (estimate %.4g); the baseline's own 95%% bound %.4g; without history its 70%% bound %.4g (estimate %.4g)",
		withDay.invKCap, withDay.invK, base, noDay.invKCap, noDay.invK)
}

// A service with one error in 30,000 invocations before the deploy (too
// few to show their shape: compare_errors judges against every burst
// shape they leave open, rare clumps up to a rate of 1 among them), then
// every one of 1,000 invocations a minute failing. Each such minute is
// evidence; until stop 63 the alternative "everything fails" sat at the
// grid's top rate (0.988 here) and a minute entirely failed cost it more
// than the null's clumps: e = 1e-24 after eight minutes.
func TestCompareErrorsHardFailureOnARareErrorService(t *testing.T) {
	cmp := config.Rule{Name: "cmp", Kind: config.RuleCompareErrors}
	p := simPolicy(t, cmp, config.DefaultConfidence)
	var base []sample.Sample
	for m := -30; m < 0; m++ {
		e := 0.0
		if m == -22 {
			e = 1
		}
		base = append(base, met("Invocations", "", m, 1000), met("Errors", "", m, e))
	}
	pb := p.PrepareBaseline(base)
	if pb.rules[0].bursty == nil {
		t.Fatal("no test against the burst shapes: the case needs the sparse baseline's")
	}
	n := make([]float64, 15)
	for i := range n {
		n[i] = 1000
	}
	wantRollbackBy(t, p, pb, n, n, 8, "every invocation failing at 1,000 a minute")
}
