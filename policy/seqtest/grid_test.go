package seqtest

import (
	"fmt"
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

// gridCosts checks a concentrated grid g against the grid ref it re-weights:
// its weights sum to 1; of its first n effects none costs more than
// maxCost nats beyond ref, and those whose meaning (the rate ratio, the
// share, …: what effect s stands for, and its label) is within [lo, hi]
// save at least minGain.
func gridCosts(t *testing.T, name string, g, ref *Grid, n int, maxCost float64, meaning func(s float64) (float64, string), lo, hi, minGain float64) {
	t.Helper()
	gw, rw := weights(g), weights(ref)
	if math.Abs(sum(gw)-1) > 1e-12 {
		t.Fatalf("%s's weights sum to %g", name, sum(gw))
	}
	for i := range n {
		gain := math.Log(gw[i] / rw[i]) // nats of evidence saved on effect i
		v, label := meaning(g.Effect(i))
		if -gain > maxCost+1e-12 {
			t.Errorf("%s effect %.3g (%s): costs %.2f nats more, bound %.2f", name, g.Effect(i), label, -gain, maxCost)
		}
		if v >= lo && v <= hi && gain < minGain {
			t.Errorf("%s effect %.3g (%s): saves %.2f nats, want at least %.2g", name, g.Effect(i), label, gain, minGain)
		}
		t.Logf("effect %6.3g (%10s): weight %.4f, %+.2f nats", g.Effect(i), label, gw[i], gain)
	}
}

// ratioMeaning reads an effect as the rate ratio r0·e^s.
func ratioMeaning(r0 float64) func(s float64) (float64, string) {
	return func(s float64) (float64, string) {
		r := r0 * math.Exp(s)
		return r, fmt.Sprintf("%.3gx", r)
	}
}

// CompareGrid costs less than DefaultGrid on the regressions it is
// concentrated on (1.6x to 4.5x at min_effect 0.05), never more than
// log(1/compareFloor) beyond it anywhere, and its weights sum to 1.
func TestCompareGridCosts(t *testing.T) {
	gridCosts(t, "CompareGrid", &CompareGrid, &DefaultGrid, CompareGrid.Len(), -math.Log(compareFloor), ratioMeaning(1.05), 1.6, 4.5, 0.6)
}

// ShareGrid, like CompareGrid, costs no effect more than log(1/floor)
// nats beyond equal weights, and saves at least half a nat on 3x-10x the
// known-good's slow share (a 1.5x-2x p99).
func TestShareGridCosts(t *testing.T) {
	uniform := GeometricGrid(0.1, 4.6, 14)
	gridCosts(t, "ShareGrid", &ShareGrid, &uniform, ShareGrid.Len(), -math.Log(shareFloor), ratioMeaning(1), 3, 10, 0.5)
}

// ThrottleGrid keeps HardFailureGrid's quarter on everything throttled,
// costs no other effect more than log(1/floor) nats beyond it (and
// log(20/19): the floor is a fifth of DefaultGrid's twenty, the
// others' weights HardFailureGrid's nineteen), and saves
// at least half a nat on 2%-20% throttled at a 0.2% threshold.
func TestThrottleGridCosts(t *testing.T) {
	top := ThrottleGrid.Len() - 1
	if w := weights(&ThrottleGrid)[top]; math.Abs(w-0.25) > 1e-12 {
		t.Errorf("weight %.4g on everything throttled, want HardFailureGrid's 0.25", w)
	}
	const p0 = 0.002
	share := func(s float64) (float64, string) {
		odds := p0 / (1 - p0) * math.Exp(s)
		sh := odds / (1 + odds)
		return sh, fmt.Sprintf("%.3g%% throttled", 100*sh)
	}
	gridCosts(t, "ThrottleGrid", &ThrottleGrid, &HardFailureGrid, top, math.Log(1/throttleFloor)+math.Log(20.0/19), share, 0.02, 0.2, 0.5)
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
