package seqtest

import (
	"math"
	"slices"
)

// Bounded tests H0: E[z_t] ≤ 0 for standardised observations clipped to
// [-c, c] whose variance is at most v (the latency fallback: a period's log
// percentile minus the null value, divided by its scale). For each
// alternative δ in (0, 3/c) the factor exp(δ z - v (e^{δc} - 1 - δc)/c²)
// has expectation at most 1 under H0 by Bennett's inequality, which needs
// only z ≤ c, E[z] ≤ 0 and Var z ≤ v: no Gaussian tails are assumed, so a
// heavy-tailed percentile cannot fake evidence. The price is that one
// period is worth at most about 2 nats of evidence (δc - ψ at z = c), so
// the fallback needs several periods where the count tests need one. The
// e-value depends on the sum of z and the number of periods only.
type Bounded struct {
	c, v   float64
	grid   *Grid
	deltas []float64
	psi    []float64 // per alternative: v (e^{δc} - 1 - δc)/c²
}

// BoundedClip is where the fallback clips standardised observations.
const BoundedClip = 4

// BoundedGrid are the alternatives δ of the bounded test with c =
// BoundedClip: 12 values from 0.01 to 0.72 (< 3/c).
var BoundedGrid = GeometricGrid(0.01, 0.72, 12)

// NewBounded prepares the test for observations clipped at c with
// variance at most v; g's effect sizes are the alternatives δ (those at
// or above 3/c are pulled just below it).
func NewBounded(c, v float64, g *Grid) *Bounded {
	t := &Bounded{c: c, v: v, grid: g, deltas: make([]float64, g.Len()), psi: make([]float64, g.Len())}
	for i := range t.deltas {
		d := min(g.Effect(i), 2.99/c)
		t.deltas[i] = d
		t.psi[i] = v * (math.Expm1(d*c) - d*c) / (c * c)
	}
	return t
}

// Clip bounds a standardised observation to [-c, c].
func (t *Bounded) Clip(z float64) float64 { return max(-t.c, min(t.c, z)) }

// LogE is the log e-value of the clipped observations summing to z over
// n periods.
func (t *Bounded) LogE(z, n float64) float64 {
	var buf [MaxAlternatives]float64
	terms := buf[:len(t.deltas)]
	for i, d := range t.deltas {
		terms[i] = d*z - n*t.psi[i]
	}
	return t.grid.LogMix(terms)
}

// RobustCenterScale summarises baseline observations for the bounded
// test: a robust scale (1.4826 × the median absolute deviation, or the
// standard deviation when that is 0), the Huber location with clip c on
// that scale (the value whose clipped standardised deviations average 0),
// and v, the variance of the clipped standardised deviations raised by
// DispersionSlack standard errors (≈ √(2/(T-1)) relative). It returns ok
// false with fewer than 5 observations.
func RobustCenterScale(xs []float64, c float64) (center, scale, v float64, ok bool) {
	n := len(xs)
	if n < 5 {
		return 0, 0, 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := quantileSorted(s, 0.5)
	dev := make([]float64, n)
	for i, x := range s {
		dev[i] = math.Abs(x - med)
	}
	slices.Sort(dev)
	scale = 1.4826 * quantileSorted(dev, 0.5)
	if scale <= 0 {
		var m2 float64
		for _, x := range s {
			m2 += (x - med) * (x - med)
		}
		scale = math.Sqrt(m2 / float64(n))
	}
	if scale <= 0 {
		scale = 1e-3 // a constant baseline: any change is a full deviation
	}
	center = med
	for range 30 {
		var sum float64
		for _, x := range s {
			sum += max(-c, min(c, (x-center)/scale))
		}
		center += scale * sum / float64(n)
	}
	for _, x := range s {
		z := max(-c, min(c, (x-center)/scale))
		v += z * z
	}
	v /= float64(n - 1)
	v *= 1 + DispersionSlack*math.Sqrt(2/float64(n-1))
	return center, scale, max(v, 0.05), true
}

// quantileSorted is the q-quantile of sorted values (linear interpolation).
func quantileSorted(s []float64, q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	f := pos - float64(i)
	return s[i]*(1-f) + s[i+1]*f
}
