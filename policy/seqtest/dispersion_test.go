package seqtest

import "testing"

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
