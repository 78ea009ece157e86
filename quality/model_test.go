package quality

import (
	"math"
	"testing"
	"time"
)

func meanVar(xs []float64) (m, v float64) {
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, v / float64(len(xs)-1)
}

func TestSamplers(t *testing.T) {
	t.Parallel()
	r := newRNG(GoodSteady, 1, "test")
	const n = 8000
	draws := func(f func() float64) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = f()
		}
		return xs
	}
	tests := []struct {
		name             string
		f                func() float64
		wantMean, wantSd float64
	}{
		{"poisson 3", func() float64 { return float64(r.poisson(3)) }, 3, math.Sqrt(3)},
		{"poisson 40", func() float64 { return float64(r.poisson(40)) }, 40, math.Sqrt(40)},
		{"poisson 5000", func() float64 { return float64(r.poisson(5000)) }, 5000, math.Sqrt(5000)},
		// A Beta rate with mean 1% and gamma-equivalent shape 0.5: sd = p/sqrt(kappa) for small p.
		{"beta rate", func() float64 { return betaRate(0.01, 0.5, r.Float64()) }, 0.01, 0.01 / math.Sqrt(0.5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, v := meanVar(draws(tc.f))
			if math.Abs(m-tc.wantMean) > 4*tc.wantSd/math.Sqrt(n) {
				t.Errorf("mean %v, want %v", m, tc.wantMean)
			}
			if sd := math.Sqrt(v); math.Abs(sd-tc.wantSd) > 0.1*tc.wantSd {
				t.Errorf("sd %v, want %v", sd, tc.wantSd)
			}
		})
	}
}

func TestMixtureQuantile(t *testing.T) {
	l := Latency{Median: 100, Sigma: 0.5, SlowShare: 0.01, SlowFactor: 5, SlowSigma: 0.5}
	m := l.steady()
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		x := m.quantile(q)
		if got := 1 - m.sf(x); math.Abs(got-q) > 1e-9 {
			t.Errorf("cdf(quantile(%v)) = %v", q, got)
		}
	}
	if med := (Latency{Median: 100, Sigma: 0.5}).steady().quantile(0.5); math.Abs(med-100) > 1e-6 {
		t.Errorf("lognormal median %v, want 100", med)
	}
}

// Each way of regressing latency makes the steady p99 exactly ratio times
// the old one.
func TestRegress(t *testing.T) {
	l := Latency{Median: 80, Sigma: 0.4, SlowShare: 0.005, SlowFactor: 4, SlowSigma: 0.5, ScaleNoise: 0.03, TailKappa: 10}
	p99 := l.steady().quantile(0.99)
	for mode, name := range []string{"slower", "wider", "more slow requests"} {
		for _, ratio := range []float64{1.5, 2} {
			got := regress(l, ratio, mode).steady().quantile(0.99)
			if math.Abs(got/p99-ratio) > 1e-3 {
				t.Errorf("%s %gx: p99 %v -> %v (x%.4f)", name, ratio, p99, got, got/p99)
			}
		}
	}
}

func TestNoiseNodes(t *testing.T) {
	l := Latency{ScaleNoise: 0.1, TailKappa: 0.7}
	if n := l.tailNodes(); len(n) != noiseNodes {
		t.Fatalf("%d tail nodes", len(n))
	}
	m, _ := meanVar(l.tailNodes())
	if math.Abs(m-1) > 1e-12 {
		t.Errorf("tail nodes mean %v, want 1", m)
	}
	s := l.scaleNodes()
	if s[0] >= 1 || s[len(s)-1] <= 1 || math.Abs(s[0]*s[len(s)-1]-1) > 1e-12 {
		t.Errorf("scale nodes %v: want symmetric around 1 in log", s)
	}
	if n := (Latency{}).tailNodes(); len(n) != 1 || n[0] != 1 {
		t.Errorf("no noise: nodes %v", n)
	}
}

func TestColdMeanShare(t *testing.T) {
	c := ColdStart{Share: 0.6, Tau: 30 * time.Second}
	const steps = 60000
	sum := 0.0
	for i := range steps {
		sum += c.share(time.Duration((float64(i) + 0.5) / steps * float64(time.Minute)))
	}
	if got, want := c.meanShare(0, time.Minute), sum/steps; math.Abs(got-want) > 1e-6 {
		t.Errorf("meanShare %v, numerical %v", got, want)
	}
	if got := c.meanShare(-time.Minute, 0); got != 0 {
		t.Errorf("before the deploy: %v", got)
	}
}
