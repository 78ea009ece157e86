package seqtest

import (
	"math"
	"strconv"
	"testing"
)

// TestBurstyRateValidity: versions at the threshold p0, their rate
// multiplied each period by a gamma of shape k (capped at 1), never trip
// the test against the null composite over bursts at more than α, for
// shapes between the grid's points, at or above the test's kLo, and with
// every trial failing in the rare periods where the multiplier exceeds
// 1/p0. The binomial test (the tempered one, with a sparse baseline's k
// read as ∞) is the contrast: the same bursts trip it in most watches.
func TestBurstyRateValidity(t *testing.T) {
	const alpha = 0.05
	cases := []struct {
		name     string
		p0, k    float64
		n        int
		kLo      float64
		binomBad bool // the binomial test fails this case
	}{
		{"throttles at 2%, k=0.5, 1000 a minute, any shape", 0.02, 0.5, 1000, 0, true},
		{"errors at 5%, k=0.3, 30 a minute, any shape", 0.05, 0.3, 30, 0, true},
		{"at 1%, k=0.05, 3000 a minute, any shape", 0.01, 0.05, 3000, 0, true},
		{"at 2%, k=1.3, 1000 a minute, kLo=1.3", 0.02, 1.3, 1000, 1.3, true},
		{"at 5%, binomial, 1000 a minute, kLo=50", 0.05, math.Inf(1), 1000, 50, false},
	}
	for i, c := range cases {
		r := newSim(uint64(100 + i))
		g := &HardFailureGrid
		one := NewBinomial(c.p0, g)
		n := reps(t, 2000)
		alarms, binom := burstyAlarms(n, NewBurstyRate(c.p0, c.kLo, burstKAltTest, g), g, alpha,
			func() (float64, float64) { return float64(r.events(c.n, c.p0, c.k)), float64(c.n) },
			func(sx, sn float64, _ int) float64 { return one.LogE(sx, sn) })
		checkRate(t, c.name, alarms, n, alpha)
		t.Logf("%s: the binomial test %d/%d", c.name, binom, n)
		if b := float64(binom) / float64(n); c.binomBad != (b > 2*alpha) {
			t.Errorf("%s: the binomial test's false alarms %.3f: the case does not test what it says", c.name, b)
		}
	}
}

// burstyAlarms runs n watches of 120 periods drawn by draw (events,
// trials) through test and through a contrast test of the running sums
// (and the period count), and counts the watches each trips at α.
func burstyAlarms(n int, test *BurstyRate, g *Grid, alpha float64, draw func() (float64, float64), contrast func(sx, sn float64, periods int) float64) (alarms, contrastAlarms int) {
	num, den := make([]float64, g.Len()), make([]float64, test.Cells())
	level := math.Log(1 / alpha)
	for range n {
		clear(num)
		clear(den)
		var sx, sn float64
		tripped, ctripped := false, false
		for p := 1; p <= 120; p++ {
			x, tr := draw()
			test.AddPeriod(num, den, x, tr)
			sx, sn = sx+x, sn+tr
			tripped = tripped || test.LogE(num, den) >= level
			ctripped = ctripped || contrast(sx, sn, p) >= level
		}
		alarms += boolInt(tripped, 1, 0)
		contrastAlarms += boolInt(ctripped, 1, 0)
	}
	return alarms, contrastAlarms
}

// TestBurstyCountValidity: the per-period count form (throttles ≥ 1 a
// period) at its threshold of 10, counts negative binomial of shape 0.5
// and 0.05, any shape allowed; and the tempered Poisson test it replaces,
// with no dispersion seen, as the contrast.
func TestBurstyCountValidity(t *testing.T) {
	const alpha, mu0 = 0.05, 10.0
	for i, k := range []float64{0.5, 0.05} {
		r := newSim(uint64(200 + i))
		g := &DefaultGrid
		pois := NewPoisson(g)
		n := reps(t, 2000)
		alarms, contrast := burstyAlarms(n, NewBurstyCount(mu0, 0, burstKAltTest, g), g, alpha,
			func() (float64, float64) { return float64(r.poisson(mu0 * r.multiplier(k))), 1 },
			func(sx, _ float64, periods int) float64 { return pois.LogE(sx, mu0*float64(periods)) })
		checkRate(t, "counts at 10 a period, shape "+strconv.FormatFloat(k, 'g', -1, 64), alarms, n, alpha)
		if c := float64(contrast) / float64(n); c < 2*alpha {
			t.Errorf("shape %g: the Poisson test's false alarms %.3f: the case does not test what it says", k, c)
		}
	}
}

// TestBurstyColdValidity: the absolute latency rule's null, warm slow
// invocations at the 1% threshold in bursts of shape 0.5 plus cold ones
// at their full allowance (every first invocation cold and slow, decaying
// with τ = 40 s), never trips the test that allows the cold share inside
// its null at more than α; and with no cold share it is AddPeriod.
func TestBurstyColdValidity(t *testing.T) {
	const alpha, p0 = 0.05, 0.01
	r := newSim(300)
	g := &HardFailureGrid
	test := NewBurstyRate(p0, 0, burstKAltTest, g)
	n := reps(t, 2000)
	alarms := coldAlarms(test, n, 120, alpha, func(m int) (x, trials, a float64) {
		a = 40 * (math.Exp(-float64(m)*60/40) - math.Exp(-float64(m+1)*60/40)) / 60
		if a > 2*p0 {
			return 0, 0, a // policy skips these periods
		}
		return float64(r.events(1000, p0, 0.5) + r.binomial(1000, a)), 1000, a
	})
	checkRate(t, "latency at 1%, shape 0.5, cold starts at their allowance", alarms, n, alpha)

	n1, d1 := make([]float64, g.Len()), make([]float64, test.Cells())
	n2, d2 := make([]float64, g.Len()), make([]float64, test.Cells())
	test.AddPeriod(n1, d1, 40, 1000)
	test.AddPeriodCold(n2, d2, 40, 1000, 0)
	if test.LogE(n1, d1) != test.LogE(n2, d2) {
		t.Errorf("no cold share: %v, AddPeriod %v", test.LogE(n2, d2), test.LogE(n1, d1))
	}
	// A cold share makes the same count less evidence.
	n3, d3 := make([]float64, g.Len()), make([]float64, test.Cells())
	test.AddPeriodCold(n3, d3, 40, 1000, 0.01)
	if test.LogE(n3, d3) >= test.LogE(n1, d1) {
		t.Errorf("40 of 1000 with a 1%% cold share: %v, not below %v without", test.LogE(n3, d3), test.LogE(n1, d1))
	}
}

// coldAlarms counts the watches of periods (x slow of trials, cold
// allowance a; no trials: skipped) that take test to 1/alpha.
func coldAlarms(test *BurstyRate, watches, periods int, alpha float64, period func(m int) (x, trials, a float64)) int {
	alarms := 0
	num, den := make([]float64, test.grid.Len()), make([]float64, test.Cells())
	for range watches {
		clear(num)
		clear(den)
		tripped := false
		for m := range periods {
			x, trials, a := period(m)
			if trials <= 0 {
				continue
			}
			test.AddPeriodCold(num, den, x, trials, a)
			tripped = tripped || test.LogE(num, den) >= math.Log(1/alpha)
		}
		alarms += boolInt(tripped, 1, 0)
	}
	return alarms
}

// TestBurstyColdBelowAllowance: the allowance is a bound, not a share
// the null must use. A version whose invocations are slow less often than
// the threshold and the cold allowance together (no cold starts at all,
// at a busy minute's traffic, where the allowance expects dozens of cold
// slow invocations) is in the null too, and must not trip the test: a
// null that took the cold count at exactly its allowance found 25 slow of
// 9,110 against 1% plus 1.1% cold absurdly unlikely (e = 1e28).
func TestBurstyColdBelowAllowance(t *testing.T) {
	const alpha, p0 = 0.05, 0.01
	g := &HardFailureGrid
	for _, c := range []struct {
		name       string
		n, p, cold float64
	}{
		{"no cold starts, warm at the threshold", 9000, p0, 0},
		{"no cold starts, warm at a third of it", 9000, p0 / 3, 0},
		{"cold starts at a tenth of the allowance", 2000, p0 / 2, 0.1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newSim(301)
			n := reps(t, 1000)
			alarms := coldAlarms(NewBurstyRate(p0, 0.5, burstKAltTest, g), n, 30, alpha, func(m int) (x, trials, a float64) {
				// The largest allowance the policy judges (twice the
				// threshold), decaying as the rule's 40 s warmup does
				// from one minute to the next.
				a = 2 * p0 * math.Exp(-1.5*float64(m))
				return float64(r.events(int(c.n), c.p, 0.5) + r.binomial(int(c.n), c.cold*a)), c.n, a
			})
			checkRate(t, c.name, alarms, n, alpha)
		})
	}
}

// burstKAltTest is policy's alternatives' burst shape.
const burstKAltTest = 20

// TestBurstyRatePower: what bounding the bursts buys. Everything failing
// at 30 a minute against a 5% threshold: with any burst shape allowed,
// one such minute has a null chance of about 0.28·5% (a gamma multiplier
// of shape ≈ 0.6·p0 above 1/p0), so one minute is not enough and a few
// are; with bursts of shape 50 or more, one is. And a period at the
// threshold is no evidence at all.
func TestBurstyRatePower(t *testing.T) {
	g := &HardFailureGrid
	level := math.Log(1e4)
	periods := func(kLo, x, n float64) int {
		b := NewBurstyRate(0.05, kLo, burstKAltTest, g)
		num, den := make([]float64, g.Len()), make([]float64, b.Cells())
		for i := 1; i <= 30; i++ {
			b.AddPeriod(num, den, x, n)
			if b.LogE(num, den) >= level {
				return i
			}
		}
		return 0
	}
	if got := periods(0, 30, 30); got < 3 || got > 6 {
		t.Errorf("30 of 30 failing, any burst shape: tripped after %d periods, want 3-6", got)
	}
	if got := periods(50, 30, 30); got != 1 {
		t.Errorf("30 of 30 failing, bursts of shape ≥ 50: tripped after %d periods, want 1", got)
	}
	if got := periods(0, 50, 1000); got != 0 {
		t.Errorf("at the threshold: tripped after %d periods", got)
	}
	if got, loose := periods(5, 100, 1000), periods(0, 100, 1000); got == 0 || loose == 0 || got >= loose {
		t.Errorf("10%% failing: %d periods with bursts bounded, %d without: want fewer bounded", got, loose)
	}
}

// TestInvKUpperCoverage: the bound on 1/k from a 30-period baseline is at
// or above the truth in at least 1 - δ of draws, sparse or dense, and a
// baseline without events bounds nothing.
func TestInvKUpperCoverage(t *testing.T) {
	const delta = 0.05
	r := newSim(9)
	for _, c := range []struct {
		p, k float64
		n    int
	}{{3e-4, 0.5, 1000}, {0.01, 1, 1000}, {0.01, 5, 1000}, {0.02, 0.2, 100}} {
		n := reps(t, 2000)
		miss := 0
		x, tr := make([]float64, 30), make([]float64, 30)
		for range n {
			for i := range x {
				x[i], tr[i] = float64(r.events(c.n, c.p, c.k)), float64(c.n)
			}
			if InvKUpper(x, tr, 0, delta) < 1/c.k {
				miss++
			}
		}
		rate := float64(miss) / float64(n)
		t.Logf("rate %g, k %g: bound below 1/k in %.4f of %d", c.p, c.k, rate, n)
		if se := math.Sqrt(delta * (1 - delta) / float64(n)); rate > delta+3*se {
			t.Errorf("rate %g, k %g: bound below the truth %.4f of the time, want at most %v", c.p, c.k, rate, delta)
		}
	}
	if u := InvKUpper(make([]float64, 30), make([]float64, 30), 0, delta); !math.IsInf(u, 1) {
		t.Errorf("no trials: %v, want +Inf", u)
	}
	zero, tr := make([]float64, 30), make([]float64, 30)
	for i := range tr {
		tr[i] = 1000
	}
	if u := InvKUpper(zero, tr, 0, delta); !math.IsInf(u, 1) {
		t.Errorf("no events: %v, want +Inf", u)
	}
}

// TestInvKFits: the true 1/k fits thirty periods drawn at it in all but
// at most delta of them (Wilks' approximation puts it near 10% at a
// likelihood ratio of 4),
// and a shape far from the truth is ruled out by periods that show it:
// Poisson periods rule out heavy bursts, heavy bursts rule out Poisson.
// With no events every shape fits.
func TestInvKFits(t *testing.T) {
	const delta = 0.25
	r := newSim(11)
	ends := []int{30}
	x, tr := make([]float64, 30), make([]float64, 30)
	draw := func(n int, p, k float64) {
		for i := range x {
			x[i], tr[i] = float64(r.events(n, p, k)), float64(n)
		}
	}
	for _, c := range []struct {
		p, k  float64
		n     int
		other float64 // a 1/k the periods should rule out in most hours
	}{{0.01, 12, 1000, 1}, {0.01, 1, 1000, 0}, {0.005, 3, 1000, 0}, {0.05, 0.5, 100, 1e-3}} {
		n := reps(t, 4000)
		miss, ruled := 0, 0
		for range n {
			draw(c.n, c.p, c.k)
			if !InvKFits(x, tr, ends, 1/c.k, delta) {
				miss++
			}
			if !InvKFits(x, tr, ends, c.other, delta) {
				ruled++
			}
		}
		rate := float64(miss) / float64(n)
		t.Logf("rate %g, k %g: the truth ruled out in %.4f of %d hours, 1/k = %g in %.4f", c.p, c.k, rate, n, c.other, float64(ruled)/float64(n))
		if se := math.Sqrt(delta * (1 - delta) / float64(n)); rate > delta+3*se {
			t.Errorf("rate %g, k %g: the truth ruled out in %.4f of hours, want at most %v", c.p, c.k, rate, delta)
		}
		if float64(ruled) < 0.8*float64(n) {
			t.Errorf("rate %g, k %g: 1/k = %g ruled out in only %d of %d hours", c.p, c.k, c.other, ruled, n)
		}
	}
	zero := make([]float64, 30)
	if !InvKFits(zero, tr, ends, 100, delta) || !InvKFits(zero, zero, ends, 0, delta) {
		t.Errorf("no events: a shape ruled out")
	}
}

// TestBurstyRateEdges: counts at the edges (none, all, more events than
// trials, huge traffic, thresholds near 0 and 1, a cold share near 1)
// give an e-value that is a number, never NaN.
func TestBurstyRateEdges(t *testing.T) {
	g := &HardFailureGrid
	for _, p0 := range []float64{1e-6, 0.002, 0.05, 0.99} {
		for _, kLo := range []float64{0, 0.01, 1e9} {
			for _, c := range []struct{ x, n, a float64 }{
				{0, 0, 0}, {0, 1, 0}, {1, 1, 0}, {5, 3, 0}, {0, 1e7, 0}, {1e7, 1e7, 0}, {3e5, 1e7, 0},
				{2, 1000, 0.5}, {1000, 1000, 0.02}, {0, 1000, 0.02}, {1, 1, 0.9},
			} {
				b := NewBurstyRate(p0, kLo, burstKAltTest, g)
				num, den := make([]float64, g.Len()), make([]float64, b.Cells())
				b.AddPeriodCold(num, den, c.x, c.n, c.a)
				b.AddPeriodCold(num, den, c.x, c.n, c.a)
				if e := b.LogE(num, den); math.IsNaN(e) || math.IsInf(e, 1) {
					t.Errorf("p0 %g kLo %g, %g of %g (cold %g) twice: log e = %v", p0, kLo, c.x, c.n, c.a, e)
				}
				cnt := NewBurstyCount(p0*100, kLo, burstKAltTest, &DefaultGrid)
				num, den = make([]float64, g.Len()), make([]float64, cnt.Cells())
				cnt.AddPeriod(num, den, c.x, 1)
				if e := cnt.LogE(num, den); math.IsNaN(e) || math.IsInf(e, 1) {
					t.Errorf("count test at %g, %g events: log e = %v", p0*100, c.x, e)
				}
			}
		}
	}
	for _, x := range [][]float64{{math.NaN(), 1}, {math.Inf(1), 0}, {1e9, 1e9}} {
		if u := InvKUpper(x, []float64{1000, 1000}, 0, 0.01); math.IsNaN(u) || u < 0 {
			t.Errorf("InvKUpper(%v) = %v", x, u)
		}
	}
}
