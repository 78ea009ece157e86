package seqtest

import (
	"flag"
	"fmt"
	"math"
	"testing"
)

// Simulations of the tests over a whole watch: every period is a look.
// Validity: under the null the probability that the e-value ever reaches
// 1/α must be at most α. The tests use α = 0.05 so that the rate is
// measurable in a few thousand watches; the check allows three Monte Carlo
// standard errors.

const simAlpha = 0.05

// simReps overrides the number of simulated watches per scenario (the
// figures in the README come from -sim.reps=4000). By default a scenario
// simulates a quarter of its full count, an eighth with -short and a
// twentieth under the race detector, so the suite stays at seconds.
var simReps = flag.Int("sim.reps", 0, "watches simulated per scenario (0: default)")

func reps(t *testing.T, full int) int {
	t.Helper()
	switch {
	case *simReps > 0:
		return *simReps
	case raceEnabled:
		return max(50, full/20)
	case testing.Short():
		return full / 8
	}
	return full / 4
}

// checkRate fails when the measured false-alarm rate exceeds alpha by more
// than three standard errors of a rate alpha estimated from n watches.
func checkRate(t *testing.T, name string, alarms, n int, alpha float64) {
	t.Helper()
	rate := float64(alarms) / float64(n)
	se := math.Sqrt(alpha * (1 - alpha) / float64(n))
	t.Logf("%-48s false alarms %4d / %5d = %.4f (α = %.2f, ±%.4f)", name, alarms, n, rate, alpha, se)
	if rate > alpha+3*se {
		t.Errorf("%s: false-alarm rate %.4f above α = %.2f (+3 s.e. = %.4f)", name, rate, alpha, alpha+3*se)
	}
}

// traffic is a period's expected trials.
type traffic func(period int) float64

func steady(n float64) traffic { return func(int) float64 { return n } }

// diurnal swings between n/4 and n over 240 periods, with a 10x spike
// every 97th period.
func diurnal(n float64) traffic {
	return func(i int) float64 {
		v := n * (0.625 + 0.375*math.Sin(2*math.Pi*float64(i)/240))
		if i%97 == 50 {
			v *= 10
		}
		return v
	}
}

type oneSampleCase struct {
	name    string
	p0      float64 // null boundary, also the true rate after the deploy
	base    float64 // baseline rate (for the dispersion estimate)
	traffic traffic
	k       float64 // gamma shape of the rate multiplier (Inf: binomial)
	periods int
}

// run simulates one watch: 30 baseline periods estimate the dispersion,
// then periods at the null boundary; it reports whether the e-value ever
// reached 1/α.
func (c oneSampleCase) run(r sim, test *Binomial) bool {
	bx, bn := make([]float64, 30), make([]float64, 30)
	for i := range 30 {
		n := r.poisson(c.traffic(-30 + i))
		bx[i], bn[i] = float64(r.events(n, c.base, c.k)), float64(n)
	}
	invK := InvK(bx, bn)
	var x, n float64
	for i := range c.periods {
		ni := r.poisson(c.traffic(i))
		xi := r.events(ni, c.p0, c.k)
		phi := Phi(c.p0*float64(ni), invK)
		x += float64(xi) / phi
		n += float64(ni) / phi
		if test.LogE(x, n) >= math.Log(1/simAlpha) {
			return true
		}
	}
	return false
}

func TestOneSampleValidity(t *testing.T) {
	inf := math.Inf(1)
	cases := []oneSampleCase{
		{"steady 1000/period, 2% threshold", 0.02, 0.005, steady(1000), inf, 600},
		{"diurnal traffic with spikes", 0.05, 0.01, diurnal(2000), inf, 600},
		{"low traffic 3/period", 0.05, 0.05, steady(3), inf, 600},
		{"trickle 0.05/period", 0.05, 0.05, steady(0.05), inf, 1440},
		{"high threshold 50% (probe-like, 1/period)", 0.5, 0.5, steady(1), inf, 600},
		{"bursty k=2, estimated from baseline", 0.02, 0.02, steady(1000), 2, 600},
		{"very bursty k=0.5, estimated", 0.02, 0.02, steady(1000), 0.5, 600},
		{"bursty k=2 with traffic spikes", 0.02, 0.02, diurnal(1000), 2, 600},
		{"bursty k=5, threshold above baseline", 0.05, 0.01, steady(1000), 5, 600},
		{"mildly bursty k=20, 5 events/period", 0.005, 0.005, steady(1000), 20, 600},
		{"mildly bursty k=10, 20 events/period", 0.02, 0.02, steady(1000), 10, 600},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			test := NewBinomial(c.p0, &DefaultGrid)
			r := newSim(uint64(len(c.name)))
			n := reps(t, 2000)
			alarms := 0
			for range n {
				if c.run(r, test) {
					alarms++
				}
			}
			checkRate(t, c.name, alarms, n, simAlpha)
		})
	}
}

// A rate below the threshold in some periods and at it in others is still
// the null: the e-value must not add up evidence across the two.
func TestOneSampleTimeVaryingNull(t *testing.T) {
	test := NewBinomial(0.05, &DefaultGrid)
	r := newSim(7)
	n := reps(t, 2000)
	alarms := 0
	for range n {
		var x, m float64
		for i := range 600 {
			p := 0.05
			if (i/20)%2 == 1 {
				p = 0.01
			}
			ni := r.poisson(500)
			x += float64(r.binomial(ni, p))
			m += float64(ni)
			if test.LogE(x, m) >= math.Log(1/simAlpha) {
				alarms++
				break
			}
		}
	}
	checkRate(t, "rate switching between 1% and the 5% threshold", alarms, n, simAlpha)
}

// detection returns the first period (1-based) at which the e-value
// reaches 1/alpha, or 0.
func detection(periods int, alpha float64, step func(i int) float64) int {
	for i := range periods {
		if step(i) >= math.Log(1/alpha) {
			return i + 1
		}
	}
	return 0
}

func TestOneSamplePower(t *testing.T) {
	const alpha = 1e-3 / 5 // the default per-rule level
	test := NewBinomial(0.05, &DefaultGrid)
	cases := []struct {
		name      string
		n         float64 // trials per period
		p         float64
		within    int // periods
		wantTrips bool
	}{
		{"30 of 30 failing at a 5% threshold", 30, 1, 1, true},
		{"hard failure at 3 invocations a period", 3, 1, 3, true},
		{"10x the threshold at 1000/period", 1000, 0.5, 1, true},
		{"2x the threshold at 1000/period", 1000, 0.1, 3, true},
	}
	for _, c := range cases {
		r := newSim(11)
		var x, n float64
		got := detection(60, alpha, func(int) float64 {
			ni := r.poisson(c.n)
			x += float64(r.binomial(ni, c.p))
			n += float64(ni)
			return test.LogE(x, n)
		})
		t.Logf("%-40s trips at period %d", c.name, got)
		if got == 0 || got > c.within {
			t.Errorf("%s: tripped at period %d, want within %d", c.name, got, c.within)
		}
	}
	// 1 failure out of 3 invocations is no evidence at all.
	if e := math.Exp(test.LogE(1, 3)); e >= 1/alpha {
		t.Errorf("1 of 3 failing: e = %.3g reaches 1/α", e)
	} else {
		t.Logf("1 of 3 failing: e = %.3g < 1/α = %.0f", e, 1/alpha)
	}
	if e := math.Exp(test.LogE(30, 30)); e < 1/alpha {
		t.Errorf("30 of 30 failing: e = %.3g below 1/α", e)
	}
}

type twoSampleCase struct {
	name     string
	rate     float64 // known-good rate (events per trial)
	r0       float64 // null boundary; the new version runs at r0·rate
	baseN    traffic
	newN     traffic
	k        float64
	split    bool // known-good arm runs concurrently: newN for new, 9x for known-good
	drift    bool // the known-good rate swings ±50% over the day (split only)
	periods  int
	baseline int // baseline periods
	// informed: the first quarter of the baseline periods only inform the
	// prior (WithInformedPrior), at rate·moved; the rest is the reference.
	informed bool
	moved    float64
}

func (c twoSampleCase) run(r sim, test *TwoSample) bool {
	var ref, early Block
	bx, bn := make([]float64, c.baseline), make([]float64, c.baseline)
	cut := 0
	if c.informed {
		cut = c.baseline / 4
	}
	for i := range c.baseline {
		n := r.poisson(c.baseN(i - c.baseline))
		rate := c.rate
		if i < cut && c.moved > 0 {
			rate *= c.moved
		}
		x := r.events(n, rate, c.k)
		bx[i], bn[i] = float64(x), float64(n)
	}
	invK := InvK(bx[cut:], bn[cut:])
	for i := range bx {
		phi := Phi(c.rate*bn[i], invK)
		b := &ref
		if i < cut {
			b = &early
		}
		b.X += bx[i] / phi
		b.N += bn[i] / phi
	}
	if c.informed {
		test = test.WithInformedPrior(early.X, early.N, 0.75)
	}
	var cur Block
	split := make([]float64, test.Len())
	for i := range c.periods {
		rate := c.rate
		if c.drift {
			rate *= 1 + 0.5*math.Sin(2*math.Pi*float64(i)/240)
		}
		if c.split {
			n, o := r.poisson(c.newN(i)), r.poisson(9*c.newN(i))
			xn, xo := r.events(n, c.r0*rate, c.k), r.events(o, rate, c.k)
			test.AddSplitPeriod(split, float64(xn), float64(n), float64(xo), float64(o), c.rate, invK)
		} else {
			n := r.poisson(c.newN(i))
			x := r.events(n, c.r0*rate, c.k)
			phi := Phi(c.r0*c.rate*float64(n), invK)
			cur.X += float64(x) / phi
			cur.N += float64(n) / phi
		}
		if test.LogE(ref, cur, split) >= math.Log(1/simAlpha) {
			return true
		}
	}
	return false
}

func TestTwoSampleValidity(t *testing.T) {
	inf := math.Inf(1)
	cases := []twoSampleCase{
		{"vs baseline, 1000/period, 1%", 0.01, 1, steady(1000), steady(1000), inf, false, false, 600, 30, false, 0},
		{"vs baseline, min_effect 0.25", 0.01, 1.25, steady(1000), steady(1000), inf, false, false, 600, 30, false, 0},
		{"vs baseline, low traffic 5/period", 0.02, 1, steady(5), steady(5), inf, false, false, 600, 30, false, 0},
		{"vs baseline, rare errors 0.05%", 0.0005, 1, steady(1000), steady(1000), inf, false, false, 600, 30, false, 0},
		{"vs baseline, diurnal traffic", 0.01, 1, diurnal(1000), diurnal(1000), inf, false, false, 600, 30, false, 0},
		{"vs baseline, high rate 30%", 0.3, 1, steady(200), steady(200), inf, false, false, 600, 30, false, 0},
		{"vs baseline, bursty k=2", 0.01, 1, steady(1000), steady(1000), 2, false, false, 600, 30, false, 0},
		{"vs baseline, very bursty k=0.5", 0.01, 1, steady(1000), steady(1000), 0.5, false, false, 600, 30, false, 0},
		{"split 10%, concurrent", 0.01, 1, steady(1000), steady(100), inf, true, false, 600, 30, false, 0},
		{"split, known-good rate drifts", 0.01, 1, steady(1000), steady(100), inf, true, true, 600, 30, false, 0},
		{"split, bursty k=2 per arm", 0.01, 1, steady(1000), steady(100), 2, true, false, 600, 30, false, 0},
		{"split, min_effect 0.5, high rate", 0.2, 1.5, steady(1000), steady(100), inf, true, false, 600, 30, false, 0},
		{"informed prior, 1000/period, 1%", 0.01, 1, steady(1000), steady(1000), inf, false, false, 600, 60, true, 0},
		{"informed prior, low traffic 5/period", 0.02, 1, steady(5), steady(5), inf, false, false, 600, 60, true, 0},
		{"informed prior, rare errors 0.05%", 0.0005, 1, steady(1000), steady(1000), inf, false, false, 600, 60, true, 0},
		{"informed prior, bursty k=2", 0.01, 1, steady(1000), steady(1000), 2, false, false, 600, 60, true, 0},
		{"informed prior, rate 3x lower before", 0.01, 1, steady(1000), steady(1000), inf, false, false, 600, 60, true, 1.0 / 3},
		{"informed prior, rate 3x higher before", 0.01, 1, steady(1000), steady(1000), inf, false, false, 600, 60, true, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			test := NewTwoSample(c.r0, &CompareGrid) // the grid compare_errors ships with
			r := newSim(uint64(len(c.name)) + 100)
			n := reps(t, 1500)
			alarms := 0
			for range n {
				if c.run(r, test) {
					alarms++
				}
			}
			checkRate(t, c.name, alarms, n, simAlpha)
		})
	}
}

// TestTwoSamplePower measures detection against an oracle that knows both
// rates (a sequential probability ratio test of the true alternative
// against the known-good rate, same level): the gap is the price of not
// knowing the known-good rate (the pre-deploy baseline's 30 periods) and
// the effect size (the grid).
func TestTwoSamplePower(t *testing.T) {
	const alpha = 1e-3 / 5
	cases := []struct {
		name   string
		rate   float64
		effect float64
		n      float64 // new-version trials per period
		split  bool
		within int // periods
	}{
		{"10x errors vs baseline, 1000/period", 0.01, 10, 1000, false, 1},
		{"hard failure vs baseline, 50/period", 0.01, 100, 50, false, 1},
		{"2x errors vs baseline, 1000/period at 0.5%", 0.005, 2, 1000, false, 20},
		{"2x errors vs baseline, 10000/period at 0.5%", 0.005, 2, 10000, false, 3},
		{"10x errors on a 10% canary", 0.01, 10, 100, true, 3},
		{"2x errors on a 10% canary of 10000/period", 0.01, 2, 1000, true, 12},
	}
	for _, c := range cases {
		test := NewTwoSample(1, &CompareGrid)
		r := newSim(21)
		var ref, cur Block
		for range 30 {
			n := r.poisson(c.n / 0.1 * boolf(c.split, 1, 0.1))
			ref.X += float64(r.binomial(n, c.rate))
			ref.N += float64(n)
		}
		split := make([]float64, test.Len())
		oracle, ours := 0, 0
		var llr float64
		for i := range 240 {
			p1 := min(1, c.effect*c.rate)
			var xn, n int
			if c.split {
				var o int
				n, o = r.poisson(c.n), r.poisson(9*c.n)
				xn = r.binomial(n, p1)
				xo := r.binomial(o, c.rate)
				test.AddSplitPeriod(split, float64(xn), float64(n), float64(xo), float64(o), 0, 0)
			} else {
				n = r.poisson(c.n)
				xn = r.binomial(n, p1)
				cur.X += float64(xn)
				cur.N += float64(n)
			}
			llr += float64(xn) * math.Log(p1/c.rate)
			if n > xn {
				llr += float64(n-xn) * math.Log((1-p1)/(1-c.rate))
			}
			if oracle == 0 && llr >= math.Log(1/alpha) {
				oracle = i + 1
			}
			if ours == 0 && test.LogE(ref, cur, split) >= math.Log(1/alpha) {
				ours = i + 1
			}
		}
		t.Logf("%-46s trips at period %3d (oracle knowing both rates: %d)", c.name, ours, oracle)
		if ours == 0 || ours > c.within {
			t.Errorf("%s: tripped at period %d, want within %d", c.name, ours, c.within)
		}
	}
}

func boolf(b bool, x, y float64) float64 {
	if b {
		return x
	}
	return y
}

func TestBoundedValidity(t *testing.T) {
	// Heavy-tailed (Student t with 3 degrees of freedom) and skewed
	// (exponential) noise, standardised by a scale estimated from 30
	// baseline periods, centred at the null.
	cases := []struct {
		name  string
		noise func(r sim) float64
	}{
		{"gaussian", func(r sim) float64 { return r.NormFloat64() }},
		{"student t3", func(r sim) float64 {
			z := r.NormFloat64()
			chi := 0.0
			for range 3 {
				g := r.NormFloat64()
				chi += g * g
			}
			return z / math.Sqrt(chi/3)
		}},
		{"right-skewed spikes", func(r sim) float64 {
			if r.Float64() < 0.05 {
				return 3 + 5*r.ExpFloat64()
			}
			return r.NormFloat64()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newSim(31)
			n := reps(t, 2000)
			alarms := 0
			for range n {
				base := make([]float64, 30)
				for i := range base {
					base[i] = c.noise(r)
				}
				// Half of α for the centre estimated from 30 periods (a
				// one-sided margin of 1.96 standard errors), half for the
				// e-process.
				center, scale, v, _ := RobustCenterScale(base, BoundedClip)
				m0 := center + 1.96*scale*math.Sqrt(v/float64(len(base)))
				test := NewBounded(BoundedClip, v, &BoundedGrid)
				var z, m float64
				for range 600 {
					z += test.Clip((c.noise(r) - m0) / scale)
					m++
					if test.LogE(z, m) >= math.Log(2/simAlpha) {
						alarms++
						break
					}
				}
			}
			checkRate(t, fmt.Sprintf("bounded, %s noise", c.name), alarms, n, simAlpha)
		})
	}
}

// UpperRate covers the true rate with probability at least 1 - eps.
func TestUpperRateCoverage(t *testing.T) {
	r := newSim(5)
	const eps = 0.01
	for _, mu := range []float64{0.5, 3, 30, 300} {
		miss := 0
		const n = 4000
		for range n {
			x := float64(r.poisson(mu))
			if UpperRate(x, 1000, eps)*1000 < mu {
				miss++
			}
		}
		if rate := float64(miss) / n; rate > eps*1.5+0.003 {
			t.Errorf("mean %v: upper bound below the truth %.4f of the time, want at most %v", mu, rate, eps)
		}
	}
	if u := UpperRate(300, 30000, 2.5e-5); u < 0.0115 || u > 0.0135 {
		t.Errorf("UpperRate(300 of 30000) = %v", u)
	}
}

// TestTwoSampleOffsetValidity: the test against the baseline with an
// allowance of extra events on the new side (compare_latency's cold
// starts): the new version's rate is the known-good's plus a share of each
// period's allowance a_t = e^(-t/τ) that decays over the first minutes
// (all of it: the null boundary; half; or all of it only in odd periods).
// Periods whose allowance is more than twice the known-good rate are not
// judged, as in policy.
func TestTwoSampleOffsetValidity(t *testing.T) {
	type offCase struct {
		name string
		rate float64
		use  func(i int) float64 // share of period i's allowance the new version uses
		n    float64
		k    float64
	}
	inf := math.Inf(1)
	cases := []offCase{
		{"cold starts at the allowance, 1%", 0.01, func(int) float64 { return 1 }, 1000, inf},
		{"cold starts at half the allowance", 0.01, func(int) float64 { return 0.5 }, 1000, inf},
		{"cold starts every other period", 0.01, func(i int) float64 { return float64(i % 2) }, 1000, inf},
		{"cold starts at the allowance, 150/period", 0.01, func(int) float64 { return 1 }, 150, inf},
		{"cold starts at the allowance, bursty k=5", 0.01, func(int) float64 { return 1 }, 1000, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			test := NewTwoSample(1, &DefaultGrid)
			r := newSim(uint64(len(c.name)) + 300)
			n := reps(t, 1500)
			alarms := 0
			for range n {
				var ref Block
				bx, bn := make([]float64, 30), make([]float64, 30)
				for i := range bx {
					m := r.poisson(c.n)
					bx[i], bn[i] = float64(r.events(m, c.rate, c.k)), float64(m)
				}
				invK := InvK(bx, bn)
				for i := range bx {
					phi := Phi(c.rate*bn[i], invK)
					ref.X += bx[i] / phi
					ref.N += bn[i] / phi
				}
				var cur Block
				off := 0.0
				for i := range 300 {
					a := 40 * (math.Exp(-float64(i)*60/40) - math.Exp(-float64(i+1)*60/40)) / 60
					m := r.poisson(c.n)
					x := r.events(m, c.rate+c.use(i)*a, c.k)
					if a > 2*c.rate {
						continue
					}
					phi := Phi((c.rate+a)*float64(m), invK)
					cur.X += float64(x) / phi
					cur.N += float64(m) / phi
					off += a * float64(m) / phi
					if test.LogEOffset(ref, cur, off, nil) >= math.Log(1/simAlpha) {
						alarms++
						break
					}
				}
			}
			checkRate(t, c.name, alarms, n, simAlpha)
		})
	}
}

// TestTwoSampleOffsetZero: without an allowance the offset test is the
// test against the baseline, and a vanishing allowance changes it by as
// little.
func TestTwoSampleOffsetZero(t *testing.T) {
	test := NewTwoSample(1.1, &DefaultGrid)
	for _, c := range []struct{ ref, cur Block }{
		{Block{50, 5000}, Block{20, 1000}},
		{Block{50, 5000}, Block{5, 1000}},
		{Block{0, 5000}, Block{3, 1000}},
		{Block{50, 5000}, Block{0, 1000}},
		{Block{12.5, 830.2}, Block{40.1, 900.7}},
	} {
		want := test.LogE(c.ref, c.cur, nil)
		if got := test.LogEOffset(c.ref, c.cur, 0, nil); got != want {
			t.Errorf("%v %v: off 0 gives %v, LogE %v", c.ref, c.cur, got, want)
		}
		if got := test.LogEOffset(c.ref, c.cur, 1e-9, nil); math.Abs(got-want) > 1e-6 {
			t.Errorf("%v %v: off 1e-9 gives %v, LogE %v", c.ref, c.cur, got, want)
		}
		if got := test.LogEOffset(c.ref, c.cur, 5, nil); got > want+1e-9 {
			t.Errorf("%v %v: an allowance of 5 events raises the e-value: %v > %v", c.ref, c.cur, got, want)
		}
	}
}

// BinomialUpper covers the true rate with probability at least
// 1 - e^-level, and is tighter than the Poisson bound at large rates.
func TestBinomialUpperCoverage(t *testing.T) {
	r := newSim(7)
	const level = 3.0 // e^-3 = 5%
	for _, c := range []struct {
		p float64
		n int
	}{{0.01, 1000}, {0.05, 200}, {0.3, 50}, {0.001, 5000}} {
		misses := 0
		const draws = 4000
		for range draws {
			x := r.binomial(c.n, c.p)
			if BinomialUpper(float64(x), float64(c.n), level) < c.p {
				misses++
			}
		}
		if share := float64(misses) / draws; share > math.Exp(-level)+0.01 {
			t.Errorf("p=%g n=%d: the bound was below the rate in %.3f of draws, want at most %.3f", c.p, c.n, share, math.Exp(-level))
		}
	}
	if u := BinomialUpper(100, 10000, level); u < 0.01 || u > 0.013 {
		t.Errorf("BinomialUpper(100, 10000) = %g, want a little above 0.01", u)
	}
	if b, p := BinomialUpper(400, 1000, level), UpperRate(400, 1000, math.Exp(-level)); b >= p {
		t.Errorf("at 40%%: binomial bound %g not below the Poisson one %g", b, p)
	}
	if u := BinomialUpper(0, 0, level); u != 1 {
		t.Errorf("without trials: %g, want 1", u)
	}
}

// TestInformedPriorPower: learning the prior from the baseline's first
// quarter (and comparing with the other three) detects a 2x error rate
// sooner than the vague prior over the whole baseline, on the same data.
func TestInformedPriorPower(t *testing.T) {
	const alpha = 5e-4
	r := newSim(33)
	vague := NewTwoSample(1.1, &DefaultGrid)
	n := reps(t, 200)
	var sumVague, sumInformed float64
	for range n {
		var early, ref, cur Block
		for i := range 60 {
			b := &ref
			if i < 15 {
				b = &early
			}
			k := r.poisson(1000)
			b.X += float64(r.binomial(k, 0.002))
			b.N += float64(k)
		}
		all := Block{X: early.X + ref.X, N: early.N + ref.N}
		informed := vague.WithInformedPrior(early.X, early.N, 0.75)
		dv, di := 0, 0
		for i := 1; i <= 60 && (dv == 0 || di == 0); i++ {
			k := r.poisson(1000)
			cur.X += float64(r.binomial(k, 0.004))
			cur.N += float64(k)
			if dv == 0 && vague.LogE(all, cur, nil) >= math.Log(1/alpha) {
				dv = i
			}
			if di == 0 && informed.LogE(ref, cur, nil) >= math.Log(1/alpha) {
				di = i
			}
		}
		sumVague += float64(boolInt(dv == 0, 61, dv))
		sumInformed += float64(boolInt(di == 0, 61, di))
	}
	t.Logf("2x errors at 1000/period, 0.2%%: mean detection period %.1f (vague prior, whole baseline) vs %.1f (informed prior)",
		sumVague/float64(n), sumInformed/float64(n))
	if sumInformed >= sumVague {
		t.Errorf("the informed prior detects no sooner: mean %.1f vs %.1f periods", sumInformed/float64(n), sumVague/float64(n))
	}
}

func boolInt(b bool, x, y int) int {
	if b {
		return x
	}
	return y
}

// TestInformedPriorKeepsTheVague: the informed test's e-value is never
// below (1-w) times the vague test's on the same reference block (its
// prior is a mixture with weight 1-w on the vague one), whatever the
// earlier data said.
func TestInformedPriorKeepsTheVague(t *testing.T) {
	vague := NewTwoSample(1.1, &DefaultGrid)
	ref, cur := Block{X: 30, N: 15000}, Block{X: 14, N: 1000}
	for _, early := range []Block{{X: 10, N: 5000}, {X: 0, N: 5000}, {X: 500, N: 5000}} {
		inf := vague.WithInformedPrior(early.X, early.N, 0.75)
		lv, li := vague.LogE(ref, cur, nil), inf.LogE(ref, cur, nil)
		if li < lv+math.Log(0.25)-1e-9 {
			t.Errorf("early %v: informed log e %.3f < vague %.3f + log 0.25", early, li, lv)
		}
		t.Logf("early %v: log e %.2f informed, %.2f vague", early, li, lv)
	}
	if inf := vague.WithInformedPrior(10, 5000, 0.75); inf.LogE(ref, cur, nil) <= vague.LogE(ref, cur, nil)+1 {
		t.Errorf("agreeing earlier data gain less than a nat: %.2f vs %.2f", inf.LogE(ref, cur, nil), vague.LogE(ref, cur, nil))
	}
}
