package seqtest

import (
	"math"
	"testing"
)

// The samplers the simulations rest on must have the right mean and
// variance.
func TestSamplers(t *testing.T) {
	r := newSim(1)
	cases := []struct {
		name     string
		draw     func() float64
		mean, sd float64
	}{
		{"binomial gaps", func() float64 { return float64(r.binomial(1000, 0.01)) }, 10, math.Sqrt(9.9)},
		{"binomial mode", func() float64 { return float64(r.binomial(900, 0.3)) }, 270, math.Sqrt(189)},
		{"binomial high p", func() float64 { return float64(r.binomial(50, 0.9)) }, 45, math.Sqrt(4.5)},
		{"poisson", func() float64 { return float64(r.poisson(7)) }, 7, math.Sqrt(7)},
		{"poisson mode", func() float64 { return float64(r.poisson(900)) }, 900, 30},
		{"negative binomial k=2", func() float64 { return float64(r.events(1000, 0.01, 2)) }, 10, math.Sqrt(10 + 50)},
	}
	for _, c := range cases {
		const n = 20000
		var s, s2 float64
		for range n {
			v := c.draw()
			s += v
			s2 += v * v
		}
		mean := s / n
		sd := math.Sqrt(s2/n - mean*mean)
		if math.Abs(mean-c.mean) > 4*c.sd/math.Sqrt(n) || math.Abs(sd-c.sd) > 0.05*c.sd {
			t.Errorf("%s: mean %.3f sd %.3f, want %.3f and %.3f", c.name, mean, sd, c.mean, c.sd)
		}
	}
}
