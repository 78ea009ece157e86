package seqtest

import (
	"math"
	"testing"
)

// weights returns a grid's weights.
func weights(g *Grid) []float64 {
	w := make([]float64, g.Len())
	for i := range w {
		w[i] = math.Exp(g.logW[i])
	}
	return w
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// WithTopWeight keeps the proportions of the other effects: on a uniform
// grid (HardFailureGrid) they are even, as before; on a concentrated one
// they stay concentrated.
func TestWithTopWeight(t *testing.T) {
	hw := weights(&HardFailureGrid)
	if math.Abs(hw[len(hw)-1]-0.25) > 1e-12 {
		t.Errorf("HardFailureGrid's top weight %g, want 0.25", hw[len(hw)-1])
	}
	for i := range len(hw) - 1 {
		if want := 0.75 / float64(len(hw)-1); math.Abs(hw[i]-want) > 1e-12 {
			t.Errorf("HardFailureGrid weight %d = %g, want %g", i, hw[i], want)
		}
	}
	cw, chw := weights(&CompareGrid), weights(&CompareHardGrid)
	if math.Abs(chw[len(chw)-1]-0.25) > 1e-12 || math.Abs(sum(chw)-1) > 1e-12 {
		t.Errorf("CompareHardGrid: top %g, sum %g; want 0.25 and 1", chw[len(chw)-1], sum(chw))
	}
	for i := range len(cw) - 1 {
		if r := chw[i] / cw[i] * (1 - cw[len(cw)-1]) / 0.75; math.Abs(r-1) > 1e-9 {
			t.Errorf("CompareHardGrid weight %d not in CompareGrid's proportion (ratio %g)", i, r)
		}
	}
}

// CompareGrid costs less than DefaultGrid on the regressions it is
// concentrated on (1.6x to 4.5x at min_effect 0.05), never more than
// log(1/compareFloor) beyond it anywhere, and its weights sum to 1.
func TestCompareGridCosts(t *testing.T) {
	cw, dw := weights(&CompareGrid), weights(&DefaultGrid)
	if math.Abs(sum(cw)-1) > 1e-12 {
		t.Fatalf("CompareGrid's weights sum to %g", sum(cw))
	}
	ratio := func(i int) float64 { return 1.05 * math.Exp(CompareGrid.Effect(i)) }
	for i := range cw {
		gain := math.Log(cw[i] / dw[i]) // nats of evidence saved on effect i
		if gain < math.Log(compareFloor)-1e-12 {
			t.Errorf("effect %.3g (%.3gx): costs %.2f nats more than DefaultGrid, bound %.2f", CompareGrid.Effect(i), ratio(i), -gain, -math.Log(compareFloor))
		}
		if r := ratio(i); r >= 1.6 && r <= 4.5 && gain < 0.6 {
			t.Errorf("effect %.3g (%.3gx): saves %.2f nats, want at least 0.6", CompareGrid.Effect(i), r, gain)
		}
		t.Logf("effect %6.3g (%8.3gx): weight %.4f, %+.2f nats against DefaultGrid", CompareGrid.Effect(i), ratio(i), cw[i], gain)
	}
}

// ShareGrid, like CompareGrid, costs no effect more than log(1/floor)
// nats beyond equal weights, and saves at least half a nat on 3x-10x the
// known-good's slow share (a 1.5x-2x p99).
func TestShareGridCosts(t *testing.T) {
	uniform := GeometricGrid(0.1, 4.6, 14)
	sw, uw := weights(&ShareGrid), weights(&uniform)
	if math.Abs(sum(sw)-1) > 1e-12 {
		t.Fatalf("ShareGrid's weights sum to %g", sum(sw))
	}
	for i := range sw {
		gain := math.Log(sw[i] / uw[i])
		r := math.Exp(ShareGrid.Effect(i))
		if gain < math.Log(shareFloor)-1e-12 {
			t.Errorf("effect %.3gx: costs %.2f nats more than equal weights, bound %.2f", r, -gain, -math.Log(shareFloor))
		}
		if r >= 3 && r <= 10 && gain < 0.5 {
			t.Errorf("effect %.3gx: saves %.2f nats, want at least 0.5", r, gain)
		}
		t.Logf("effect %8.3gx: weight %.4f, %+.2f nats against equal weights", r, sw[i], gain)
	}
}

// ThrottleGrid keeps HardFailureGrid's quarter on everything throttled,
// costs no other effect more than log(1/floor) nats beyond it (and
// log(20/19): the floor is a fifth of DefaultGrid's twenty, the
// others' weights HardFailureGrid's nineteen), and saves
// at least half a nat on 2%-20% throttled at a 0.2% threshold.
func TestThrottleGridCosts(t *testing.T) {
	tw, hw := weights(&ThrottleGrid), weights(&HardFailureGrid)
	if math.Abs(sum(tw)-1) > 1e-12 {
		t.Fatalf("ThrottleGrid's weights sum to %g", sum(tw))
	}
	top := len(tw) - 1
	if math.Abs(tw[top]-0.25) > 1e-12 {
		t.Errorf("weight %.4g on everything throttled, want HardFailureGrid's 0.25", tw[top])
	}
	const p0 = 0.002
	for i := range top {
		gain := math.Log(tw[i] / hw[i])
		odds := p0 / (1 - p0) * math.Exp(ThrottleGrid.Effect(i))
		share := odds / (1 + odds)
		if bound := math.Log(1/throttleFloor) + math.Log(20.0/19); -gain > bound+1e-12 {
			t.Errorf("effect %.3g (%.3g%% throttled): costs %.2f nats more than HardFailureGrid, bound %.2f", ThrottleGrid.Effect(i), 100*share, -gain, bound)
		}
		if share >= 0.02 && share <= 0.2 && gain < 0.5 {
			t.Errorf("effect %.3g (%.3g%% throttled): saves %.2f nats, want at least 0.5", ThrottleGrid.Effect(i), 100*share, gain)
		}
		t.Logf("effect %6.3g (%7.3g%% throttled): weight %.4f, %+.2f nats against HardFailureGrid", ThrottleGrid.Effect(i), 100*share, tw[i], gain)
	}
}

// On a 2x regression the shipped grid trips no later than DefaultGrid in
// every draw, and over half a period sooner on average (periods are
// whole, so most draws trip in the same one); on a hard failure at most
// one period later.
func TestCompareGridPower(t *testing.T) {
	const alpha = 1e-3
	trip := func(g *Grid, seed uint64, rate, effect, n float64) int {
		test := NewTwoSample(1.05, g)
		r := newSim(seed)
		var ref, cur Block
		for range 60 {
			m := r.poisson(n)
			ref.X += float64(r.binomial(m, rate))
			ref.N += float64(m)
		}
		for i := range 120 {
			m := r.poisson(n)
			cur.X += float64(r.binomial(m, min(1, rate*effect)))
			cur.N += float64(m)
			if test.LogE(ref, cur, nil) >= math.Log(1/alpha) {
				return i + 1
			}
		}
		return 121
	}
	sooner, later := 0, 0
	var sumC, sumD int
	for seed := range uint64(200) {
		c, d := trip(&CompareGrid, seed, 0.005, 2, 1000), trip(&DefaultGrid, seed, 0.005, 2, 1000)
		sumC, sumD = sumC+c, sumD+d
		switch {
		case c < d:
			sooner++
		case c > d:
			later++
		}
	}
	t.Logf("2x at 0.5%% of 1000 a period: CompareGrid trips at period %.2f on average, DefaultGrid %.2f; sooner in %d of 200 draws, later in %d", float64(sumC)/200, float64(sumD)/200, sooner, later)
	if later > 0 || sumD-sumC < 100 {
		t.Errorf("2x regression: CompareGrid sooner in %d and later in %d of 200 draws, %d periods sooner in all; want later in none and at least 100 periods sooner", sooner, later, sumD-sumC)
	}
	for seed := range uint64(50) {
		c, d := trip(&CompareGrid, seed, 0.005, 200, 50), trip(&DefaultGrid, seed, 0.005, 200, 50)
		if c > d+1 {
			t.Errorf("hard failure at 50 a period, draw %d: CompareGrid trips at period %d, DefaultGrid at %d", seed, c, d)
		}
	}
}
