package seqtest

import "math"

// Binomial tests H0: p ≤ p0 for events out of trials (errors out of
// invocations, slow invocations out of invocations, failed probes out of
// probe results) against the mixture of alternatives
// logit(p1) = logit(p0) + s_g. The e-value depends on the data only
// through the (tempered) sums of events and trials, so it can be folded.
type Binomial struct {
	grid *Grid
	p0   float64
	a, b []float64 // per alternative: log(p1/p0), log((1-p1)/(1-p0))
}

// NewBinomial prepares the test of H0: p ≤ p0. p0 must lie in (0, 1); a
// p0 of 1 or more can never be rejected.
func NewBinomial(p0 float64, g *Grid) *Binomial {
	t := &Binomial{grid: g, p0: p0, a: make([]float64, g.Len()), b: make([]float64, g.Len())}
	if p0 <= 0 || p0 >= 1 {
		return t
	}
	l0 := math.Log(p0) - math.Log1p(-p0)
	for i := range t.a {
		l1 := l0 + g.Effect(i)
		// log p1 and log(1-p1) from the log-odds without cancellation.
		logP1 := -softplus(-l1)
		log1mP1 := -softplus(l1)
		t.a[i] = logP1 - math.Log(p0)
		t.b[i] = log1mP1 - math.Log1p(-p0)
	}
	return t
}

// P0 is the null boundary.
func (t *Binomial) P0() float64 { return t.p0 }

// LogE is the log e-value of x events in n trials (sums over periods,
// possibly tempered: non-integer values are fine). Each period's factor
// (p1/p0)^x ((1-p1)/(1-p0))^(n-x) has expectation at most 1 under any
// p ≤ p0 (it is increasing in p and equals 1 in expectation at p0), so the
// product over periods is a supermartingale even when the rate varies from
// period to period below p0.
func (t *Binomial) LogE(x, n float64) float64 {
	if t.p0 >= 1 {
		return math.Inf(-1)
	}
	if t.p0 <= 0 {
		if x > 0 {
			return math.Inf(1)
		}
		return 0
	}
	var buf [MaxAlternatives]float64
	terms := buf[:len(t.a)]
	for i := range terms {
		terms[i] = x*t.a[i] + (n-x)*t.b[i]
	}
	return t.grid.LogMix(terms)
}

// Poisson tests H0: the mean count per period is at most mu0 (e.g.
// throttles per period) against means mu0·e^{s_g}. The caller passes the
// sum of counts and the sum of null means over the periods judged.
type Poisson struct{ grid *Grid }

// NewPoisson prepares the test.
func NewPoisson(g *Grid) *Poisson { return &Poisson{grid: g} }

// LogE is the log e-value of x counted events where the null boundary
// expects m (both possibly tempered). Each factor e^{s x - (e^s - 1) m}
// has expectation exp(m (e^s - 1)(rate/mu0 - 1)) ≤ 1 under any mean at or
// below the boundary.
func (t *Poisson) LogE(x, m float64) float64 {
	var buf [MaxAlternatives]float64
	terms := buf[:t.grid.Len()]
	for i := range terms {
		s := t.grid.Effect(i)
		terms[i] = x*s - math.Expm1(s)*m
	}
	return t.grid.LogMix(terms)
}

// softplus is log(1 + e^x) without overflow.
func softplus(x float64) float64 {
	if x > 30 {
		return x + math.Exp(-x)
	}
	return math.Log1p(math.Exp(x))
}

// AddPeriod adds w times one period's log likelihood ratios to dst (one
// per alternative) for x events in n trials against its own null
// boundary p0 (logit(p1) = logit(p0) + s_g): the form for periods whose
// boundary differs, e.g. latency periods right after a deploy, where cold
// starts may make a share of the invocations slow. Each factor has
// expectation at most 1 under any rate at or below that period's p0, so
// the product stays a supermartingale.
func AddPeriod(dst []float64, g *Grid, x, n, p0, w float64) {
	if n <= 0 || p0 <= 0 || p0 >= 1 {
		return
	}
	l0 := math.Log(p0) - math.Log1p(-p0)
	for i := range dst {
		l1 := l0 + g.Effect(i)
		a := -softplus(-l1) - math.Log(p0)
		b := -softplus(l1) - math.Log1p(-p0)
		dst[i] += w * (x*a + (n-x)*b)
	}
}

// UpperRate is an upper confidence bound for a rate from x events in n
// trials (counts treated as Poisson, which is conservative for binomial
// ones): the largest rate under which seeing x or fewer events has
// probability at least eps, by the Chernoff bound P(X ≤ x) ≤ e^(-μ h(x/μ)),
// h(u) = u log u - u + 1.
func UpperRate(x, n, eps float64) float64 {
	if n <= 0 {
		return math.Inf(1)
	}
	target := math.Log(1 / eps)
	h := func(mu float64) float64 {
		if x <= 0 {
			return mu
		}
		u := x / mu
		return mu * (u*math.Log(u) - u + 1)
	}
	lo, hi := math.Max(x, 1e-12), math.Max(2*x, 1)
	for h(hi) < target {
		hi *= 2
	}
	return solveUp(h, lo, hi, target, 80) / n
}

// BinomialUpper is UpperRate for binomial counts, tighter where the rate is
// not small: the u ≥ x/n with n·KL(x/n ‖ u) = level, so that a rate at or
// above u shows x/n or fewer events with probability at most e^-level
// (Chernoff; also for independent trials of unequal rates averaging u).
// 1 when no rate below 1 qualifies, or without trials.
func BinomialUpper(x, n, level float64) float64 {
	p := 0.0
	if n > 0 {
		p = min(max(x/n, 0), 1)
	}
	kl := func(u float64) float64 {
		d := (1 - p) * math.Log((1-p)/(1-u))
		if p > 0 {
			d += p * math.Log(p/u)
		}
		return n * d
	}
	if n <= 0 || p >= 1 || kl(1-1e-12) < level {
		return 1
	}
	return solveUp(kl, p, 1, level, 60)
}

// solveUp bisects for the smallest v in [lo, hi] with f(v) ≥ target, f
// increasing on it and f(hi) ≥ target.
func solveUp(f func(float64) float64, lo, hi, target float64, iters int) float64 {
	for range iters {
		mid := (lo + hi) / 2
		if f(mid) < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}
