package seqtest

import (
	"fmt"
	"math"
	"testing"
)

// supColdPeriods against a search over every non-increasing h on a grid of
// 0.01: pool-adjacent-violators must find at least the grid's best (it
// maximises over all h in [0, 1], so it can only be higher, by what the
// grid's spacing misses).
func TestSupColdPeriodsMatchesSearch(t *testing.T) {
	r := newSim(7)
	for trial := range 200 {
		ps := make([]ColdPeriod, 3)
		for j := range ps {
			n := float64(20 + r.IntN(300))
			ps[j] = ColdPeriod{X: float64(r.IntN(40)), N: n, S: n * math.Exp(-float64(j)*r.Float64()*3) * r.Float64()}
			if r.IntN(2) == 0 {
				ps[j].O = 10 * r.Float64() // a period's own allowance
			}
		}
		lamr := 0.002 + 0.03*r.Float64()
		got := supColdPeriods(ps, lamr, nil)
		best := math.Inf(-1)
		for a := 100; a >= 0; a-- {
			for b := a; b >= 0; b-- {
				for c := b; c >= 0; c-- {
					v := coldLL(ps[0], lamr, float64(a)/100) + coldLL(ps[1], lamr, float64(b)/100) + coldLL(ps[2], lamr, float64(c)/100)
					best = max(best, v)
				}
			}
		}
		if got < best-1e-9 {
			t.Fatalf("trial %d: %+v at λr %.4f: PAVA %.6f below the grid's %.6f", trial, ps, lamr, got, best)
		}
		if got > best+1 {
			t.Fatalf("trial %d: %+v: PAVA %.6f far above the grid's %.6f: not a feasible point?", trial, ps, lamr, best)
		}
	}
}

// The profile over λ: the golden-section search finds the maximum of a
// scan.
func TestSupNullColdMatchesScan(t *testing.T) {
	r := newSim(11)
	for trial := range 100 {
		ref := Block{X: float64(10 + r.IntN(200)), N: 10000}
		ps := []ColdPeriod{{X: float64(r.IntN(30)), N: 150, S: 80}, {X: float64(r.IntN(20)), N: 150, S: 17, O: float64(r.IntN(2) * 6)}, {X: float64(r.IntN(20)), N: 150, S: 4}}
		got := logSupNullCold(ref, ps, 1)
		best := math.Inf(-1)
		for i := 1; i <= 4000; i++ {
			lam := float64(i) / 4000 * 0.05
			v := ref.X*math.Log(lam*ref.N) - lam*ref.N + supColdPeriods(ps, lam, nil)
			best = max(best, v)
		}
		if got < best-1e-6 {
			t.Fatalf("trial %d: golden section %.6f below the scan's %.6f", trial, got, best)
		}
	}
}

// coldWatch simulates compare_latency's new side over a watch of periods
// of n invocations each, a reference block of nRef at share lam, slow
// share ratio times lam when warm, and cold-and-slow invocations at share
// c·e^(-t/tau) (t in periods' time), judged with a rule warmup of τ = 40 s
// and one-minute periods. It returns the first period whose e-value
// reaches 1/α (-1: never).
func coldWatch(r sim, tst *TwoSample, lam, ratio, c, tau, n, nRef float64, periods int) int {
	ref := Block{X: float64(r.poisson(lam * nRef)), N: nRef}
	var ps []ColdPeriod
	for j := range periods {
		t1, t2 := float64(j)*60, float64(j+1)*60
		s := 40 * (math.Exp(-t1/40) - math.Exp(-t2/40)) / 60            // the rule's bound at c = 1
		true_ := c * tau * (math.Exp(-t1/tau) - math.Exp(-t2/tau)) / 60 // the cold share
		x := r.poisson(n * (min(1, ratio*lam) + true_))
		ps = pushCold(ps, ColdPeriod{X: float64(x), N: n, S: s * n})
		if tst.LogECold(ref, ps) >= math.Log(1/simAlpha) {
			return j
		}
	}
	return -1
}

// pushCold appends q to ps, the eighth period on holding the sum of the
// rest (as compare_latency's epoch 0 does).
func pushCold(ps []ColdPeriod, q ColdPeriod) []ColdPeriod {
	if len(ps) < 8 {
		return append(ps, q)
	}
	ps[7].Add(q)
	return ps
}

// Validity: cold starts as strong as the model allows (every invocation
// slow at the deploy, decaying at the rule's τ), or weaker, or faster;
// the warm share at the null boundary. The e-value must reach 1/α in at
// most α of the watches.
func TestLogEColdValidity(t *testing.T) {
	tst := NewTwoSamplePrior(1, &ShareGrid, 4, 400)
	n := reps(t, 2000)
	for _, tc := range []struct {
		c, tau, lam, traffic float64
	}{
		{1, 40, 0.01, 300},
		{0.3, 40, 0.01, 300},
		{1, 20, 0.01, 1000},
		{0.05, 40, 0.01, 100},
		{1, 40, 0.002, 3000},
	} {
		name := fmt.Sprintf("cold %.2f τ %.0fs share %.3f %.0f a minute", tc.c, tc.tau, tc.lam, tc.traffic)
		r := newSim(uint64(tc.traffic*1000 + tc.c*100 + tc.tau))
		alarms := 0
		for range n {
			if coldWatch(r, tst, tc.lam, 1, tc.c, tc.tau, tc.traffic, 60*tc.traffic, 30) >= 0 {
				alarms++
			}
		}
		checkRate(t, name, alarms, n, simAlpha)
	}
}

// Validity with a period's own allowance (ColdPeriod.O: cold starts of
// environments started for a traffic spike): spikes whose extra slow
// invocations are as many as their allowances, on top of the strongest
// cold starts after the deploy. The e-value must reach 1/α in at most α
// of the watches, and a spike without its allowance must be seen.
func TestLogEColdValidityWithOffsets(t *testing.T) {
	tst := NewTwoSamplePrior(1, &ShareGrid, 4, 400)
	n := reps(t, 2000)
	const lam, traffic, o = 0.01, 300.0, 20.0
	watch := func(r sim, allow bool) bool {
		ref := Block{X: float64(r.poisson(lam * 60 * traffic)), N: 60 * traffic}
		var ps []ColdPeriod
		for j := range 12 {
			t1, t2 := float64(j)*60, float64(j+1)*60
			s := 40 * (math.Exp(-t1/40) - math.Exp(-t2/40)) / 60
			q := ColdPeriod{N: traffic, S: s * traffic}
			mean := traffic * (lam + s)
			if j == 2 || j == 6 || j == 7 {
				mean += o
				if allow {
					q.O = o
				}
			}
			q.X = float64(r.poisson(mean))
			ps = pushCold(ps, q)
			if tst.LogECold(ref, ps) >= math.Log(1/simAlpha) {
				return true
			}
		}
		return false
	}
	r := newSim(29)
	alarms, unallowed := 0, 0
	for range n {
		if watch(r, true) {
			alarms++
		}
		if watch(r, false) {
			unallowed++
		}
	}
	checkRate(t, "spikes of 20 extra slow invocations, allowed", alarms, n, simAlpha)
	if unallowed < n/2 {
		t.Errorf("the same spikes without their allowance tripped %d of %d watches, want most", unallowed, n)
	}
}

// Power: a slow share 7 times the known-good's (a 2x p99) with mild cold
// starts at 200 invocations a minute stands out once the first minutes
// show the excess does not decay: on average by the fourth minute, where
// a test that judged each minute against the most the cold starts could
// explain waits for the allowance to fall below the excess.
func TestLogEColdPower(t *testing.T) {
	tst := NewTwoSamplePrior(1, &ShareGrid, 4, 400)
	r := newSim(3)
	caught, sum := 0, 0
	for range 100 {
		if j := coldWatch(r, tst, 0.008, 7, 0.05, 30, 200, 12000, 10); j >= 0 {
			caught++
			sum += j + 1
		}
	}
	mean := float64(sum) / float64(max(caught, 1))
	t.Logf("caught %d/100, mean %.2f periods", caught, mean)
	if caught < 95 || mean > 4 {
		t.Errorf("caught %d of 100, after %.2f periods on average: want ≥ 95 by the 4th", caught, mean)
	}
}

func BenchmarkLogECold(b *testing.B) {
	tst := NewTwoSamplePrior(1, &ShareGrid, 4, 400)
	ref := Block{X: 120, N: 12000}
	ps := []ColdPeriod{{X: 10, N: 148, S: 87}, {X: 4, N: 101, S: 16.6}, {X: 9, N: 148, S: 5.5}, {X: 6, N: 146, S: 1.2},
		{X: 8, N: 150, S: 0.27}, {X: 7, N: 150, S: 0.06}, {X: 9, N: 150, S: 0.013}, {X: 60, N: 3000, S: 0.003}}
	for b.Loop() {
		tst.LogECold(ref, ps)
	}
}
