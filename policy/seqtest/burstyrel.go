package seqtest

import "math"

// A rate against the known-good's when the known-good's bursts are
// unknown.
//
// compare_errors' two-sample test (TwoSample) tempers each period by the
// burstiness the baseline shows. Tempering matches the variance, not the
// shape: for bursts of shape k below about 0.3 (a service whose rare
// errors come in clumps, a downstream blip now and then) a negative
// binomial is so skewed that one clump outweighs any tempering, and a
// sparse baseline (a few events in an hour) does not show the bursts at
// all. Simulated at α = 5% over a two-hour watch, 1,000 invocations a
// minute: 0.03% errors in bursts of shape 0.05 tripped the tempered test
// in 8.7% of watches, 0.01% in bursts of shape 0.02 at 3,000 a minute in
// 16%, and 1% in bursts of shape 0.2 in 7.6%.
//
// NewBurstyRelative builds BurstyRate's test for that case. The null: the
// known-good's baseline periods x_j of n_j are NB(λ·n_j, k), the new
// version's periods have means μ_t ≤ r0·λ·n_t, one k for both. λ and k
// are unknown; the baseline confines them to its likelihood region
//
//	C = {(λ, k): ℓ(λ, k) ≥ max ℓ - log(1/δ)}
//
// which holds the truth with probability at least 1 - δ (the cut-off is
// Wilks' for two parameters, χ²₂/2 having exactly that tail, and more
// than the profile bound's InvKUpper uses for one). On that event the
// null's likelihood of the new periods is at most the supremum over C,
// and for each burst shape k the largest allowed mean is r0·λ_max(k)·n_t,
// λ_max(k) the top of C's section at k. So BurstyRate's e-value with a
// boundary of its own for each cell of burst shapes (the largest
// r0·λ_max of the cell's points; a cell outside C is no member of the
// null) is an e-process for the whole composite null, at α - δ. A small
// k stretches C's section far up (zero events in an hour are likely
// under a rare big burst), so an any-burst null needs steadiness after
// the deploy to be rejected, as for the absolute rules; a baseline whose
// events show their shape confines k and λ, and the test is then about
// as strong as the tempered one. A period entirely failed is judged by
// NB's exact upper tail (nbLogTail).

// NewBurstyRelative prepares the test of H0: the new version's rate is at
// most r0 times the known-good's, whose per-period events in the baseline
// are x of n, both in bursts of one shape of at least kMin (0: any), the
// pair (rate, shape) in the baseline's likelihood region at level
// 1 - delta. The alternatives are negative binomials of shape kAlt at
// rates geometric from r0 times the region's largest rate at the
// likeliest shape up (as NewBurstyRate's). It returns nil when the
// baseline has no trials, or when no shape of at least kMin is in its
// region (kMin then contradicts the baseline).
//
// kMin is a bound on the shape from elsewhere, e.g. a day of the same
// service's history (InvKUpperRuns): the null's cells then start there,
// and the small shapes under which an hour's silence allows rare clumps
// are no longer members. Its level adds to delta's.
func NewBurstyRelative(x, n []float64, r0, kMin, kAlt, delta float64, g *Grid) *BurstyRate {
	reg := newRateRegion(x, n, delta)
	if reg == nil {
		return nil
	}
	atHat := reg.upper(1 / reg.kHat) // the region's top at its likeliest shape
	// The alternatives start at the top at the likeliest shape the null
	// allows: where kMin rules out the baseline's own likeliest (a few
	// errors, one minute's clump among them, read as shape 1.3 where the
	// day shows 54), the top there, 2.4 times the null's largest
	// boundary, left the regressions in between without an alternative
	// (3x the known-good's rate after 11 minutes of it: log e -2.15 after
	// 68 errors in 2,332 against 9 in 1,748, TestBurstyRelativeAlternativesStartAtTheNull).
	start := atHat
	if kMin > reg.kHat {
		start = reg.upper(1 / kMin)
	}
	// And no higher than the baseline's own rate: the alternatives are
	// steady (shape kAlt), the null's members bursty, so a steady rate
	// below a small shape's boundary is still far from every member.
	// Starting at the top (0.325 for 1.5 % errors in bursts of shape
	// 0.1) left a steady 10 % without an alternative near it: log e
	// fell 6 nats a minute, and a 10x regression went undetected for
	// half an hour in half the simulated watches.
	if mean := reg.seg.sx / reg.seg.sn; mean > 0 {
		start = min(start, mean)
	}
	t := NewBurstyRate(min(r0*start, 0.5), kMin, kAlt, g)
	if len(t.p1) == 0 {
		return nil
	}
	boundary := func(l float64) float64 {
		if l < 0 {
			return -1
		}
		return min(r0*l, 1)
	}
	pts := make([]float64, len(t.ks))
	for j, k := range t.ks {
		pts[j] = boundary(reg.upper(1 / k))
	}
	t.cellP0 = make([]float64, burstCells)
	for j := range burstCells - 1 {
		t.cellP0[j] = max(pts[2*j], pts[2*j+1], pts[2*j+2])
		if a, b := t.ks[2*j], t.ks[2*j+2]; reg.kHat >= a && reg.kHat <= b {
			t.cellP0[j] = max(t.cellP0[j], boundary(atHat))
		}
	}
	last := burstCells - 1
	t.cellP0[last] = max(pts[2*last], boundary(reg.upper(0)))
	if math.IsInf(reg.kHat, 1) || reg.kHat >= t.ks[2*last] {
		t.cellP0[last] = max(t.cellP0[last], boundary(atHat))
	}
	for j, p := range t.cellP0 {
		if p >= 0 {
			t.kLo = t.ks[2*j]
			return t
		}
	}
	return nil // no shape from kMin up is in the region
}

// LikeliestShape is the burst shape at which per-period events x of n
// trials are likeliest, their rate maximised out (+Inf: Poisson, also
// for a baseline without trials).
func LikeliestShape(x, n []float64) float64 {
	if reg := newRateRegion(x, n, 1); reg != nil {
		return reg.kHat
	}
	return math.Inf(1)
}

// KLo is the smallest burst shape the test's null allows (the region's
// lowest cell; 0 when it reaches the grid's smallest shape).
func (t *BurstyRate) KLo() float64 {
	if t.kLo <= burstKMin {
		return 0
	}
	return t.kLo
}

// addRelative is AddPeriod's null for a test with a boundary per cell
// (NewBurstyRelative): x events in n trials, lc = log C(n, x), lx1 =
// log Γ(x+1). A cell's points all take its boundary; the last cell is
// the grid's largest shape and the binomial.
func (t *BurstyRate) addRelative(den []float64, x, n, g, lc, lx1 float64) {
	full := x >= n
	last := burstCells - 1
	for j, p0 := range t.cellP0 {
		switch {
		case p0 < 0:
			den[j] = math.Inf(-1) // outside the baseline's region
			continue
		case x <= 0:
			continue // certain under μ = 0
		}
		p0 = min(p0*g, 1)
		// No shortcut at or below the boundary (AddPeriod's): a cell of
		// small shapes may allow rates up to 1, where a period entirely
		// failed is still unlikely (NB's tail), not certain.
		mu := min(x, p0*n)
		logMu := math.Log(mu)
		v := t.nullAt(x, n, mu, logMu, 2*j, lx1, full)
		if j < last {
			v = max(v, t.nullAt(x, n, mu, logMu, 2*j+1, lx1, full), t.nullAt(x, n, mu, logMu, 2*j+2, lx1, full))
		} else {
			v = max(v, lc+binLL(x, n, mu/n))
		}
		den[j] += v
	}
}

// rateRegion is the baseline's likelihood region of (rate, burst shape):
// rateRegion.upper gives the top of its section at a shape.
type rateRegion struct {
	seg  nbSegment
	cut  float64 // max ℓ - log(1/δ)
	kHat float64 // the shape of the maximum (+Inf: Poisson)
}

// newRateRegion finds the baseline's maximum likelihood over rate and
// shape (on InvKUpper's grid of 1/k and Poisson); nil without trials.
func newRateRegion(x, n []float64, delta float64) *rateRegion {
	r := &rateRegion{seg: newNBSegment(x, n)}
	if r.seg.sn <= 0 {
		return nil
	}
	ls, best := profileScan(r.seg.profile)
	r.kHat = 1 / thetaGrid[best] // θ = 0: +Inf
	r.cut = ls[best] - math.Log(1/delta)
	return r
}

// upper is the largest rate per trial in the region at shape 1/theta
// (theta 0: Poisson), -1 when the region has no rate at that shape.
func (r *rateRegion) upper(theta float64) float64 {
	s := &r.seg
	c := s.nbConst(theta)
	lp := math.Inf(-1)
	if s.sx > 0 {
		lp = s.fit(theta)
	}
	if s.ll(lp, theta, c) < r.cut {
		return -1
	}
	if s.ll(0, theta, c) >= r.cut {
		return 1
	}
	a := lp
	if math.IsInf(a, -1) {
		a = math.Log(1e-12 / max(1, s.sn))
	}
	b := min(0, a+1)
	for s.ll(b, theta, c) >= r.cut {
		a, b = b, min(0, b+2)
	}
	for range 40 {
		m := (a + b) / 2
		if s.ll(m, theta, c) >= r.cut {
			a = m
		} else {
			b = m
		}
	}
	return math.Exp(b) // the bracket's outer end: the region's top, rounded up
}
