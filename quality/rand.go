package quality

import (
	"hash/fnv"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mathext"
)

// rng is a seeded PCG source with the samplers the scenario model needs.
// Every scenario draws from its own streams (parameters, traffic,
// delivery, probes), so that a change to one part of the model does not
// shift the random numbers of the others.
type rng struct{ *rand.Rand }

// newRNG returns the stream named stream of scenario (kind, seed).
func newRNG(kind Kind, seed uint64, stream string) *rng {
	h := fnv.New64a()
	h.Write([]byte(string(kind) + "|" + stream))
	return &rng{rand.New(rand.NewPCG(seed, h.Sum64()))}
}

// uniform draws from [a, b).
func (r *rng) uniform(a, b float64) float64 { return a + (b-a)*r.Float64() }

// logUniform draws from [a, b) with a uniform logarithm.
func (r *rng) logUniform(a, b float64) float64 {
	return math.Exp(r.uniform(math.Log(a), math.Log(b)))
}

func (r *rng) bernoulli(p float64) bool { return r.Float64() < p }

// lognormal draws exp(mu + sigma*N(0,1)).
func (r *rng) lognormal(mu, sigma float64) float64 { return math.Exp(mu + sigma*r.NormFloat64()) }

// poisson draws a Poisson count: multiplication for small means, Hörmann's
// transformed rejection (PTRS, 1993) otherwise.
func (r *rng) poisson(lambda float64) int {
	switch {
	case lambda <= 0:
		return 0
	case lambda < 10:
		l, k, p := math.Exp(-lambda), 0, 1.0
		for {
			p *= r.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	slam, loglam := math.Sqrt(lambda), math.Log(lambda)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invAlpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lambda + 0.43)
		if us >= 0.07 && v <= vr {
			return int(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invAlpha)-math.Log(a/(us*us)+b) <= -lambda+k*loglam-lg {
			return int(k)
		}
	}
}

// binomial draws Binomial(n, p) by counting trials; it is used only to
// thin the few late periods, where n is a period's count.
func (r *rng) binomial(n int, p float64) int {
	k := 0
	for range n {
		if r.Float64() < p {
			k++
		}
	}
	return k
}

// hypergeometric draws how many of draws items taken without replacement
// from total, of which marked are marked, are marked (sequentially, one
// draw at a time; used only for the few late periods).
func (r *rng) hypergeometric(total, marked, draws int) int {
	k := 0
	for i := range min(draws, total) {
		if r.Float64()*float64(total-i) < float64(marked-k) {
			k++
		}
	}
	return k
}

// betaRate is the per-minute probability of an overdispersed rate: a Beta
// variable with mean p whose variance is p²/kappa for small p (a gamma
// multiplier of shape kappa, mean 1), read at quantile u so that several
// versions can share one minute's burst. kappa <= 0 means no dispersion.
func betaRate(p, kappa, u float64) float64 {
	a, b, ok := betaParams(p, kappa)
	if !ok {
		return p
	}
	return mathext.InvRegIncBeta(a, b, u)
}

// betaParams are the Beta(a, b) parameters of an overdispersed rate (see
// betaRate); ok is false when the rate is not random.
func betaParams(p, kappa float64) (a, b float64, ok bool) {
	if kappa <= 0 || p <= 0 || p >= 1 {
		return 0, 0, false
	}
	phi := max(kappa*(1-p)/p-1, 0.5)
	return p * phi, (1 - p) * phi, true
}
