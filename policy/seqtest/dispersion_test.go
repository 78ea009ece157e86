package seqtest

import (
	"math"
	"testing"
)

// A step in the rate (an incident that began during the baseline) is not
// burstiness: InvK takes part of it for dispersion, InvKSplit, told where
// the step is, sees binomial counts on both sides; and it still sees the
// burstiness within each side.
func TestInvKSplit(t *testing.T) {
	r := newSim(7)
	x, n := make([]float64, 30), make([]float64, 30)
	var whole, split, bursty float64
	const reps = 200
	for range reps {
		for i := range x {
			p := 0.003
			if i >= 22 {
				p = 0.08
			}
			n[i], x[i] = 1000, float64(r.binomial(1000, p))
		}
		whole += InvK(x, n) / reps
		split += InvKSplit(x, n, 22) / reps
		for i := range x {
			p := 0.003
			if i >= 22 {
				p = 0.08
			}
			x[i] = float64(r.events(1000, p, 5))
		}
		bursty += InvKSplit(x, n, 22) / reps
	}
	t.Logf("mean 1/k: whole %.3g, split %.3g, split with k=5 bursts %.3g", whole, split, bursty)
	if whole < 0.05 || split > 0.01 || bursty < 0.1 {
		t.Fatalf("mean 1/k: whole %.3g, split %.3g, bursty %.3g", whole, split, bursty)
	}
	if got, want := InvKSplit(x, n, 0), InvK(x, n); got != want {
		t.Fatalf("no split: %g, want InvK's %g", got, want)
	}
	for i := range x {
		x[i] = 3
		if i >= 22 {
			x[i] = 40
		}
	}
	if got := InvKPerPeriodSplit(x, 22); got != 0 {
		t.Fatalf("per period, constant on each side: %g", got)
	}
}

// A day read an hour a run: each hour's own rate (the daily cycle, a
// drift) is not taken for bursts, and bursts of shape k are measured to
// within a few standard errors (the first standard deviation of chance is
// not counted: the plain estimate reads a little low).
func TestInvKRuns(t *testing.T) {
	r := newSim(11)
	const periods, run = 1440, 60
	x, n := make([]float64, periods), make([]float64, periods)
	var ends []int
	hourly := make([]float64, periods/run)
	for e := run; e <= periods; e += run {
		ends = append(ends, e)
		hourly[e/run-1] = 0.002 * math.Pow(15, r.Float64()) // 0.2% to 3%
	}
	rate := func(i int) float64 { return hourly[i/run] }
	for i := range x {
		n[i] = 1000
		x[i] = float64(r.binomial(1000, rate(i)))
	}
	if got := InvKRuns(x, n, ends, 1); got != 0 {
		t.Errorf("binomial counts, a rate an hour: 1/k = %.3g, want 0", got)
	}
	if got := InvKRuns(x, n, []int{periods}, 1); got <= 0 {
		t.Errorf("the same as one run: 1/k = %.3g, want the hours' steps taken for bursts", got)
	}
	for _, k := range []float64{3, 10, 30} {
		for i := range x {
			x[i] = float64(r.events(1000, rate(i), k))
		}
		plain, raised := InvKRuns(x, n, ends, 0), InvKRuns(x, n, ends, 1)
		t.Logf("k=%g: 1/k plain %.4g, raised %.4g (truth %.4g)", k, plain, raised, 1/k)
		if plain < 0.6/k || raised > 1.3/k || raised < plain {
			t.Errorf("k=%g: 1/k plain %.4g, raised %.4g, want about %.4g, raised ≥ plain", k, plain, raised, 1/k)
		}
	}
	if got := InvKRuns(x[:60], n[:60], []int{60}, 1); got != InvK(x[:60], n[:60]) {
		t.Errorf("one run with the slack: %g, want InvK's %g", got, InvK(x[:60], n[:60]))
	}
	// Periods without trials are skipped, as InvK skips them, and a run
	// without events adds nothing (its zeros are no evidence of steadiness).
	gx, gn := append([]float64(nil), x[:60]...), append([]float64(nil), n[:60]...)
	for i := 5; i < 60; i += 7 {
		gx[i], gn[i] = 0, 0
	}
	if got, want := InvKRuns(gx, gn, []int{60}, 1), InvK(gx, gn); got != want {
		t.Errorf("one run with empty periods: %g, want InvK's %g", got, want)
	}
	quiet := append(append([]float64(nil), gx...), make([]float64, 60)...)
	quietN := append([]float64(nil), gn...)
	for range 60 {
		quietN = append(quietN, 1000)
	}
	if got, want := InvKRuns(quiet, quietN, []int{60, 120}, 1), InvK(gx, gn); got != want {
		t.Errorf("with an hour of no events: %g, want the busy hour's %g", got, want)
	}
}
