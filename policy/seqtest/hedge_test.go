package seqtest

import (
	"math"
	"testing"
)

// TestHedgeValidity: versions whose periods' shares have mean p0, in
// bursts of every kind (all or nothing, a gamma multiplier of shape 0.05,
// binomial), never trip Hedge at more than α over a watch of 240 periods;
// the all-or-nothing null, which no burst shape of BurstyRate's models,
// is the one Hedge exists for.
func TestHedgeValidity(t *testing.T) {
	const alpha = 0.05
	cases := []struct {
		name string
		p0   float64
		draw func(r sim, p0 float64) (x, n float64)
	}{
		{"all or nothing at 5%, 5 a minute", 0.05, func(r sim, p0 float64) (float64, float64) {
			if r.Float64() < p0 {
				return 5, 5
			}
			return 0, 5
		}},
		{"gamma k=0.05 at 5%, 30 a minute", 0.05, func(r sim, p0 float64) (float64, float64) {
			return float64(r.events(30, p0, 0.05)), 30
		}},
		{"binomial at 1%, 1000 a minute", 0.01, func(r sim, p0 float64) (float64, float64) {
			return float64(r.binomial(1000, p0)), 1000
		}},
		{"varying traffic, all or nothing at 20%", 0.2, func(r sim, p0 float64) (float64, float64) {
			n := float64(1 + r.IntN(50))
			if r.Float64() < p0 {
				return n, n
			}
			return 0, n
		}},
	}
	level := math.Log(1 / alpha)
	for i, c := range cases {
		r := newSim(uint64(700 + i))
		n := reps(t, 4000)
		alarms := 0
		for range n {
			var h Hedge
			for range 240 {
				x, tr := c.draw(r, c.p0)
				h.Add(x/tr, c.p0)
				if h.LogE() >= level {
					alarms++
					break
				}
			}
		}
		checkRate(t, c.name, alarms, n, alpha)
	}
}

// TestHedgePower: a version failing every request at a 5% threshold
// reaches 1/α = 1.14e4 (error_rate's, at half the weight) in its fourth
// period whatever the traffic, where each period's share is all Hedge
// sees; one period at 60% between them costs less than it earns (the
// mixture over burst shapes lost 11x on it); clean periods lower the
// e-value.
func TestHedgePower(t *testing.T) {
	level := math.Log(2 * 1.143e4)
	var h Hedge
	periods := 0
	for h.LogE() < level {
		h.Add(1, 0.05)
		periods++
		if periods > 10 {
			t.Fatal("ten periods failing entirely did not reach 1/α")
		}
	}
	if periods != 4 {
		t.Errorf("failing entirely reached 2/α after %d periods, want 4", periods)
	}
	var a, b Hedge
	a.Add(1, 0.05)
	a.Add(1, 0.05)
	b = a
	b.Add(0.6, 0.05)
	if b.LogE() <= a.LogE() {
		t.Errorf("a period at 60%% against 5%% lowered the e-value: %.3g -> %.3g", math.Exp(a.LogE()), math.Exp(b.LogE()))
	}
	var clean Hedge
	for range 5 {
		clean.Add(0, 0.05)
	}
	if clean.LogE() >= 0 {
		t.Errorf("five clean periods: e = %.3g, want < 1", math.Exp(clean.LogE()))
	}
	var m Hedge
	m.Merge(&a)
	m.Merge(&a)
	var four Hedge
	for range 4 {
		four.Add(1, 0.05)
	}
	if math.Abs(m.LogE()-four.LogE()) > 1e-12 {
		t.Errorf("merging two periods twice: log e %.6f, four periods %.6f", m.LogE(), four.LogE())
	}
}
