package seqtest

import (
	"math"
	"math/rand/v2"
)

// Samplers for the simulations (math/rand/v2 has no binomial, Poisson or
// gamma). Exact, and fast enough for the rates simulated here.

type sim struct{ *rand.Rand }

func newSim(seed uint64) sim { return sim{rand.New(rand.NewPCG(seed, 0x5eed))} }

// binomial draws Bin(n, p) by geometric gaps between successes: O(n·min(p, 1-p)).
func (r sim) binomial(n int, p float64) int {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - r.binomial(n, 1-p)
	case float64(n)*p > 30:
		return r.binomialMode(n, p)
	}
	lq := math.Log1p(-p)
	x, pos := 0, 0
	for {
		// The gap in floating point: at a tiny p it exceeds every int
		// (converted, it wrapped to a negative position and drew
		// events from nothing).
		gap := math.Floor(math.Log(1-r.Float64())/lq) + 1
		if gap > float64(n-pos) {
			return x
		}
		pos += int(gap)
		if pos > n {
			return x
		}
		x++
	}
}

// binomialMode draws Bin(n, p) by inversion searching outwards from the
// mode (exact; O(standard deviation) steps).
func (r sim) binomialMode(n int, p float64) int {
	m := int(float64(n+1) * p)
	if m > n {
		m = n
	}
	lg := func(k int) float64 { v, _ := math.Lgamma(float64(k) + 1); return v }
	pm := math.Exp(lg(n) - lg(m) - lg(n-m) + float64(m)*math.Log(p) + float64(n-m)*math.Log1p(-p))
	odds := p / (1 - p)
	u := r.Float64() - pm
	up, pu := m, pm
	dn, pd := m-1, 0.0
	if dn >= 0 {
		pd = pm * float64(m) / float64(n-m+1) / odds
	}
	for u > 0 {
		if up < n {
			pu *= float64(n-up) / float64(up+1) * odds
			up++
			if u -= pu; u <= 0 {
				return up
			}
		}
		if dn >= 0 {
			if u -= pd; u <= 0 {
				return dn
			}
			pd *= float64(dn) / float64(n-dn+1) / odds
			dn--
		}
		if up >= n && dn < 0 {
			return m // rounding left a sliver of probability unassigned
		}
	}
	return m
}

// poisson draws Poisson(mu): exponential gaps for small mu, inversion
// from the mode otherwise (both exact).
func (r sim) poisson(mu float64) int {
	if mu <= 0 {
		return 0
	}
	if mu > 30 {
		return r.poissonMode(mu)
	}
	x := 0
	t := r.ExpFloat64()
	for t < mu {
		x++
		t += r.ExpFloat64()
	}
	return x
}

func (r sim) poissonMode(mu float64) int {
	m := int(mu)
	lg, _ := math.Lgamma(float64(m) + 1)
	pm := math.Exp(float64(m)*math.Log(mu) - mu - lg)
	u := r.Float64() - pm
	up, pu := m, pm
	dn, pd := m-1, pm*float64(m)/mu
	for u > 0 {
		pu *= mu / float64(up+1)
		up++
		if u -= pu; u <= 0 {
			return up
		}
		if dn >= 0 {
			if u -= pd; u <= 0 {
				return dn
			}
			pd *= float64(dn) / mu
			dn--
		}
		if pu < 1e-300 && dn < 0 {
			return m
		}
	}
	return m
}

// gamma draws Gamma(shape k, scale 1) (Marsaglia and Tsang 2000).
func (r sim) gamma(k float64) float64 {
	if k < 1 {
		return r.gamma(k+1) * math.Pow(r.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// multiplier is a period's rate multiplier with mean 1: Gamma(k, 1/k), or
// 1 when k is infinite (no overdispersion).
func (r sim) multiplier(k float64) float64 {
	if math.IsInf(k, 1) {
		return 1
	}
	return r.gamma(k) / k
}

// events draws a period's events out of n trials at rate p, with the
// rate multiplied by a Gamma(k, 1/k) factor (capped at 1).
func (r sim) events(n int, p, k float64) int {
	return r.binomial(n, min(1, p*r.multiplier(k)))
}
