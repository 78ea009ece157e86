package seqtest

import "math"

// ColdPeriod is one period of compare_latency's new side: X slow
// invocations out of N, and S its cold-start mass, the cold invocations
// the period would have if every invocation were cold at the rule's bound
// e^(-t/τ) (the period's mean of that bound times N). O is expected
// events the null may add to the period whatever the other periods do
// (cold starts of environments started for a rise in traffic). Tempered
// counts (quasi-likelihood) are allowed; S and O are tempered with N.
type ColdPeriod struct{ X, N, S, O float64 }

// Add sums o into p (a block of periods judged as one).
func (p *ColdPeriod) Add(o ColdPeriod) {
	p.X, p.N, p.S, p.O = p.X+o.X, p.N+o.N, p.S+o.S, p.O+o.O
}

// LogECold is the log e-value of the new side's slow counts against the
// pre-deploy reference block when the first periods after the deploy may
// hold cold starts, judged jointly over the periods.
//
// H0: period j's slow count is Poisson with mean w_j + h_j·S_j, where the
// warm part w_j ≤ r0·λ·N_j + O_j (the new version's warm invocations no
// slower than the known-good's share λ, which the reference block
// measures, plus the period's own allowance O_j, set before its count) and
// h_j·S_j is the expected number of cold invocations that are slow:
// 0 ≤ h_j ≤ 1, and h non-increasing in j. That is the cold-start model of
// the rule: the cold share at t after the deploy is c·e^(-t/τ*), c ≤ 1,
// τ* ≤ τ (the rule's warmup), so that relative to e^(-t/τ) it can only
// fall, and so can each period's mean of it (an average of a falling
// function over later intervals). A regression is a share that does not
// fall: period 1 can blame its excess on cold starts only with an h_1
// that then also bounds the later periods', so a constant excess soon has
// no null to hide in, while decaying slowness (cold starts) has one.
//
// The numerator is a probability distribution of the reference block and
// the periods: the reference block's marginal under the test's prior on λ
// (as in LogE), times, given it, the mixture over the test's rate ratios
// r_g and over cold scales c of Π_j Pois(X_j; r_g·λ̃·N_j + c·S_j), λ̃ the
// reference block's posterior mean (a function of the reference block,
// so a valid conditional law). The denominator is the likelihood maximised
// over H0: over λ (its profile is concave), and for each λ over
// non-increasing h by pool-adjacent-violators (each period's log
// likelihood, maximised over its warm part, is concave in h_j). Under H0
// the maximised likelihood is at least the true one, so the e-value is at
// most the mixture's likelihood ratio against the truth, of mean 1.
//
// ps are in time order; a last element that sums the periods after the
// first few (the cold starts long over) keeps the cost bounded: its mean
// under H0 lies in the same range with h the sum's own average.
func (t *TwoSample) LogECold(ref Block, ps []ColdPeriod) float64 {
	if ref.N <= 0 || len(ps) == 0 {
		return 0
	}
	return t.logColdMixture(ref, ps) - logSupNullCold(ref, ps, t.r0)
}

// coldScales are the numerator's cold scales c and their weights: half on
// no cold starts that reach the slow threshold, the rest spread over
// scales a decade apart (a bad version with strong cold starts too).
var (
	coldScales = [...]float64{0, 0.01, 0.03, 0.1, 0.3, 1}
	coldLogW   = [...]float64{math.Log(0.5), math.Log(0.1), math.Log(0.1), math.Log(0.1), math.Log(0.1), math.Log(0.1)}
)

// logColdMixture is the log of LogECold's numerator without the
// constants its denominator shares (log X! of every count, the reference
// block's log N_ref^X_ref is kept in both).
func (t *TwoSample) logColdMixture(ref Block, ps []ColdPeriod) float64 {
	marg := math.Inf(-1)
	for _, p := range t.priors {
		lg, _ := math.Lgamma(p.a + ref.X)
		marg = LogAddExp(marg, p.c+lg-(p.a+ref.X)*math.Log(p.b+ref.N))
	}
	if ref.X > 0 {
		marg += ref.X * math.Log(ref.N)
	}
	p0 := t.priors[0]
	lam := (p0.a + ref.X) / (p0.b + ref.N)
	out := math.Inf(-1)
	var buf [MaxAlternatives]float64
	terms := buf[:len(t.r)]
	for ci, c := range coldScales {
		for i, r := range t.r {
			s := 0.0
			for _, q := range ps {
				s += poisLL(q.X, r*lam*q.N+c*q.S)
			}
			terms[i] = s
		}
		out = LogAddExp(out, coldLogW[ci]+t.grid.LogMix(terms))
	}
	return marg + out
}

// poisLL is x·log m - m, the Poisson log likelihood without log x!.
func poisLL(x, m float64) float64 {
	switch {
	case x <= 0:
		return -m
	case m <= 0:
		return math.Inf(-1)
	}
	return x*math.Log(m) - m
}

// logSupNullCold is the log of the likelihood of the reference block and
// the periods maximised over H0 (LogECold), without the numerator's
// shared constants.
func logSupNullCold(ref Block, ps []ColdPeriod, r0 float64) float64 {
	var xs, ns float64
	for _, q := range ps {
		xs, ns = xs+q.X, ns+q.N
	}
	// The profile in λ is concave; its slope (by the envelope theorem,
	// the partial derivative at the maximising h) is at most
	// (X_ref + Σx)/λ - N_ref and at least X_ref/λ - N_ref - r0·Σn, which
	// brackets its maximum.
	lo := ref.X / (ref.N + r0*ns)
	hi := (ref.X + xs) / ref.N
	f := func(lam float64) float64 {
		v := -lam * ref.N
		if ref.X > 0 {
			v += ref.X * math.Log(lam*ref.N)
		}
		return v + supColdPeriods(ps, r0*lam, nil)
	}
	if hi <= lo || hi <= 0 {
		return f(max(hi, 0))
	}
	var hs [16]float64
	slope := func(lam float64) float64 {
		if lam <= 0 {
			return math.Inf(1)
		}
		h := hs[:0]
		if len(ps) > len(hs) {
			h = make([]float64, 0, len(ps))
		}
		supColdPeriods(ps, r0*lam, &h)
		d := ref.X/lam - ref.N
		for j, q := range ps {
			top := h[j]*q.S + r0*lam*q.N + q.O
			if top < q.X {
				d += r0 * q.N * (q.X/top - 1)
			}
		}
		return d
	}
	lam := rootDecreasing(slope, lo, hi)
	return max(f(lam), f(lo), f(hi))
}

// rootDecreasing finds where g, non-increasing on [a, b], changes sign
// (a or b when it does not): the Illinois variant of regula falsi, which
// keeps a bracket and converges superlinearly on smooth pieces.
func rootDecreasing(g func(float64) float64, a, b float64) float64 {
	ga, gb := g(a), g(b)
	switch {
	case ga <= 0:
		return a
	case gb >= 0:
		return b
	}
	side := 0
	for range 100 {
		if b-a <= 1e-13*max(math.Abs(a), math.Abs(b)) {
			break
		}
		c := (a*gb - b*ga) / (gb - ga)
		if math.IsInf(ga, 1) || !(c > a && c < b) {
			c = (a + b) / 2
		}
		gc := g(c)
		switch {
		case gc == 0:
			return c
		case gc > 0:
			a, ga = c, gc
			if side == 1 {
				gb /= 2
			}
			side = 1
		default:
			b, gb = c, gc
			if side == -1 {
				ga /= 2
			}
			side = -1
		}
	}
	return (a + b) / 2
}

// supColdPeriods maximises Σ_j ℓ_j(h_j) over 1 ≥ h_1 ≥ h_2 ≥ ... ≥ 0,
// ℓ_j(h) the log likelihood of period j maximised over its warm part
// (mean between h·S_j and h·S_j + lamr·N_j + O_j), by pool-adjacent-violators:
// each ℓ_j is concave, so merging adjacent blocks whose optima violate the
// order and maximising the block's sum gives the constrained maximum.
//
// With hs non-nil, the maximising h of every period (0 where S is 0) is
// appended to *hs.
func supColdPeriods(ps []ColdPeriod, lamr float64, hs *[]float64) float64 {
	type block struct {
		from, to int
		h        float64
	}
	var stackBuf [16]block
	stack := stackBuf[:0]
	total := 0.0
	for j, q := range ps {
		if q.S <= 0 {
			total += coldLL(q, lamr, 0) // no cold mass: h does not matter
			continue
		}
		stack = append(stack, block{j, j + 1, coldArgmax(q, lamr)})
		for len(stack) > 1 && stack[len(stack)-2].h < stack[len(stack)-1].h {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			b := &stack[len(stack)-1]
			b.to = top.to
			b.h = blockArgmax(ps, b.from, b.to, lamr)
		}
	}
	if hs != nil {
		*hs = (*hs)[:0]
		for range ps {
			*hs = append(*hs, 0)
		}
	}
	for _, b := range stack {
		for j := b.from; j < b.to; j++ {
			if ps[j].S > 0 {
				total += coldLL(ps[j], lamr, b.h)
				if hs != nil {
					(*hs)[j] = b.h
				}
			}
		}
	}
	return total
}

// coldLL is period q's log likelihood maximised over its mean in
// [h·S, h·S + lamr·N + O] (without log X!).
func coldLL(q ColdPeriod, lamr, h float64) float64 {
	lo := h * q.S
	m := min(max(q.X, lo), lo+lamr*q.N+q.O)
	return poisLL(q.X, m)
}

// coldSlope is coldLL's derivative in h.
func coldSlope(q ColdPeriod, lamr, h float64) float64 {
	lo := h * q.S
	switch hi := lo + lamr*q.N + q.O; {
	case hi < q.X:
		return q.S * (q.X/hi - 1)
	case lo > q.X:
		return q.S * (q.X/lo - 1)
	}
	return 0
}

// coldArgmax is a maximiser of one period's coldLL in [0, 1]: the middle
// of the h whose range [h·S, h·S + lamr·N + O] holds X.
func coldArgmax(q ColdPeriod, lamr float64) float64 {
	lo := min(1, max(0, (q.X-lamr*q.N-q.O)/q.S))
	hi := min(1, max(0, q.X/q.S))
	return (lo + hi) / 2
}

// blockArgmax is a maximiser in [0, 1] of Σ coldLL over periods [from,
// to) with one h: the slope sum is non-increasing, so bisection finds
// where it changes sign.
func blockArgmax(ps []ColdPeriod, from, to int, lamr float64) float64 {
	slope := func(h float64) float64 {
		s := 0.0
		for j := from; j < to; j++ {
			if ps[j].S > 0 {
				s += coldSlope(ps[j], lamr, h)
			}
		}
		return s
	}
	return min(1, max(0, rootDecreasing(slope, 0, 1)))
}
