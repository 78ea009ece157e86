package seqtest

import (
	"math"
	"testing"
)

// TestBinomialTwoSampleMatchesDirectComputation checks LogE against the
// definition: the numerator integrated numerically over p, the
// denominator maximised over a fine grid of (p, p').
func TestBinomialTwoSampleMatchesDirectComputation(t *testing.T) {
	test := NewBinomialTwoSample(1.1)
	q, w := ProbeAlternatives()
	for _, c := range []struct{ ref, cur Block }{
		{Block{0, 180}, Block{3, 3}},
		{Block{2, 180}, Block{4, 10}},
		{Block{9, 60}, Block{2, 40}},    // new better than the known-good: no evidence
		{Block{0, 30}, Block{0.5, 2.5}}, // tempered counts
	} {
		// numerator: ∫ p^x (1-p)^(n-x) Beta(p; a, b) dp by the midpoint rule
		const steps = 200000
		prior := 0.0
		for i := range steps {
			p := (float64(i) + 0.5) / steps
			prior += math.Exp(binLL(c.ref.X, c.ref.N, p)+(probePriorA-1)*math.Log(p)+(probePriorB-1)*math.Log1p(-p)-logBeta(probePriorA, probePriorB)) / steps
		}
		mix := 0.0
		for g := range q {
			mix += w[g] * math.Exp(binLL(c.cur.X, c.cur.N, q[g]))
		}
		best := math.Inf(-1)
		for i := 0; i <= 4000; i++ {
			p := float64(i) / 4000
			pn := min(c.cur.X/c.cur.N, 1.1*p, 1)
			best = max(best, binLL(c.ref.X, c.ref.N, p)+binLL(c.cur.X, c.cur.N, pn))
		}
		want := math.Log(prior) + math.Log(mix) - best
		got := test.LogE(c.ref, c.cur)
		// The grid maximum is below the true one by at most a little.
		if math.Abs(got-want) > 0.02 {
			t.Errorf("ref %+v cur %+v: LogE = %.4f, direct computation %.4f", c.ref, c.cur, got, want)
		}
	}
}

// TestBinomialTwoSampleValidity: the new version at the null boundary
// (p_new = 1.1·p_ref), probed six times a period for a 130-period watch
// against 180 pre-deploy results; the e-value must reach 1/α in at most
// α of the watches.
func TestBinomialTwoSampleValidity(t *testing.T) {
	for _, c := range []struct {
		name       string
		pRef, pNew float64
	}{
		{"probes, known-good 0.1%, new at the boundary", 0.001, 0.0011},
		{"probes, known-good 2%, new at the boundary", 0.02, 0.022},
		{"probes, known-good 10%, new at the boundary", 0.1, 0.11},
		{"probes, known-good 30%, new at the boundary", 0.3, 0.33},
		{"probes, known-good 5%, new as good", 0.05, 0.05},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newSim(uint64(c.pRef * 1e6))
			test := NewBinomialTwoSample(1.1)
			n := reps(t, 4000)
			alarms := 0
			for range n {
				ref := Block{X: float64(r.binomial(180, c.pRef)), N: 180}
				var cur Block
				for range 130 {
					cur.X += float64(r.binomial(6, c.pNew))
					cur.N += 6
					if test.LogE(ref, cur) >= math.Log(1/simAlpha) {
						alarms++
						break
					}
				}
			}
			checkRate(t, c.name, alarms, n, simAlpha)
		})
	}
}

// TestBinomialTwoSampleHardDown: against a known-good that passed 180 of
// 180 probes, an endpoint that fails every probe reaches the probe rule's
// level against the known-good (α/2 of 1e-4) on its third failure; the
// Poisson test took four.
func TestBinomialTwoSampleHardDown(t *testing.T) {
	level := math.Log(2 / 1e-4)
	ref := Block{X: 0, N: 180}
	b, p := NewBinomialTwoSample(1.1), NewTwoSample(1.1, &DefaultGrid)
	first := func(logE func(k float64) float64) int {
		for k := 1; k <= 10; k++ {
			if logE(float64(k)) >= level {
				return k
			}
		}
		return 0
	}
	kb := first(func(k float64) float64 { return b.LogE(ref, Block{X: k, N: k}) })
	kp := first(func(k float64) float64 { return p.LogE(ref, Block{X: k, N: k}, nil) })
	t.Logf("failed probes to trip: binomial %d, Poisson %d", kb, kp)
	if kb != 3 || kp != 4 {
		t.Fatalf("binomial trips after %d failed probes (want 3), Poisson after %d (want 4)", kb, kp)
	}
	// A new version as good as a flaky known-good gains no evidence.
	if e := b.LogE(Block{X: 9, N: 180}, Block{X: 3, N: 60}); e > 0 {
		t.Fatalf("as flaky as the known-good: log e = %.2f, want ≤ 0", e)
	}
}
