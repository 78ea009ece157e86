package seqtest

import "math"

// Grid is the mixing distribution of a test's alternatives: effect sizes
// s_1 < ... < s_G, all > 0, each with a weight; the weights sum to 1. A
// mixture of likelihood ratios over a fixed grid is itself an e-process,
// and the grid costs at most log(1/w_g) against the best alternative on it.
type Grid struct {
	s    []float64
	logW []float64
}

// MaxAlternatives bounds a grid's size (the tests keep their work on the
// stack).
const MaxAlternatives = 32

// GeometricGrid spaces n effect sizes geometrically from lo to hi (lo > 0)
// with equal weights.
func GeometricGrid(lo, hi float64, n int) Grid {
	n = max(1, min(n, MaxAlternatives))
	g := Grid{s: make([]float64, n), logW: make([]float64, n)}
	for i := range n {
		f := 0.0
		if n > 1 {
			f = float64(i) / float64(n-1)
		}
		g.s[i] = lo * math.Pow(hi/lo, f)
		g.logW[i] = -math.Log(float64(n))
	}
	return g
}

// DefaultGrid is the grid the count tests use: 20 effect sizes from 0.1
// to 12 on the log-odds or log-ratio scale (10% worse than the null
// boundary to e^12 times worse), adjacent ones 1.29 times apart, each with
// weight 1/20 (a cost of log 20 = 3.0 nats, a factor 20 of evidence,
// against knowing the effect; smaller effects cannot be told in a watch).
var DefaultGrid = GeometricGrid(0.1, 12, 20)

// CompareGrid is the grid of the tests of a new version's error rate
// against the known-good's (compare_errors; error_rate and throttles with
// baseline = "ratio"): DefaultGrid with four fifths of its weight
// concentrated log-normally on effects from e^0.44 to e^1.46 (one
// standard deviation; 1.6x to 4.5x the known-good's rate at
// min_effect 0.05), the regressions a rollback is for and the ones whose
// evidence is slowest to gather; the rest stays uniform. A 2x regression
// then costs about 2 nats of evidence instead of 3.0 (at 0.5% of 1,000
// invocations a minute it trips 0.6 of a minute sooner on average, never
// later: TestCompareGridPower); a 1.2x one or a hard failure
// costs at most log 5 = 1.6 nats more than under DefaultGrid
// (TestCompareGridCosts).
// (Centre and spread chosen on the quality benchmark's tuning seeds:
// policy/README.md, "The grid's weights".)
var CompareGrid = DefaultGrid.Concentrated(compareCentre, compareSpread, compareFloor)

// CompareHardGrid is CompareGrid with a quarter of its weight on its
// largest effect, as HardFailureGrid is DefaultGrid: the test against a
// bursty known-good (NewBurstyRelative) judges a hard failure at a few
// invocations a minute too.
var CompareHardGrid = CompareGrid.WithTopWeight(0.25)

const (
	compareCentre = 0.8 // log rate ratio over the null boundary: 2.2x
	compareSpread = 0.6 // in log(log ratio)
	compareFloor  = 0.2 // the share left uniform
)

// ShareGrid is the grid of compare_latency's test: 14 rate ratios from
// e^0.1 to e^4.6 (100 times the known-good's share of invocations slower
// than its p99: all of them). A slow share of about 1% cannot grow more
// than 100-fold, so DefaultGrid's larger effects would only cost weight:
// log 14 = 2.6 nats instead of log 20 = 3.0, and adjacent effects closer.
// As CompareGrid, four fifths of the weight are concentrated
// log-normally, here around e^1.6 (5x the known-good's slow share, what
// a 1.5x-2x p99 does to the share above 1.1x the old p99), spread 0.6 in
// log s (2.4x-19x within one spread); a fifth stays uniform, so no
// effect costs more than log 5 = 1.6 nats beyond equal weights
// (TestShareGridCosts). Chosen on the quality benchmark's tuning seeds
// 1-300 (policy/README.md, "The grid's weights").
var ShareGrid = GeometricGrid(0.1, 4.6, 14).Concentrated(shareCentre, shareSpread, shareFloor)

const (
	shareCentre = 1.6 // log slow-share ratio: 5x the known-good's
	shareSpread = 0.6 // in log(log ratio)
	shareFloor  = 0.2 // the share left uniform
)

// HardFailureGrid is DefaultGrid with a quarter of the weight on its
// largest effect (e^12 times the null odds: everything failing) and three
// quarters spread over the rest. The one-sample tests use it: a hard
// failure at trickle traffic or a health endpoint that is down gives one
// trial at a time, so the weight on that alternative is what decides how
// many failures it takes (four or five probes instead of six), while a
// moderate effect loses only log(20/19·4/3) = 0.34 nats.
var HardFailureGrid = DefaultGrid.WithTopWeight(0.25)

// ThrottleGrid is HardFailureGrid for the throttles rule's share test:
// the quarter on everything throttled stays, and of the other three
// quarters four fifths are concentrated log-normally around log-odds 3
// over the threshold's (20x its odds: 4% throttled at the shipped 0.2%),
// spread 0.6 in log s (1%-33% within one spread), the rest uniform.
// Throttling that matters (a concurrency limit the new version reaches,
// a reserved concurrency set too low) throttles percents of the
// requests, not a fraction more than the threshold. Chosen on the quality
// benchmark's tuning seeds 1-300 (policy/README.md, "The grid's
// weights").
var ThrottleGrid = DefaultGrid.Concentrated(throttleCentre, throttleSpread, throttleFloor).WithTopWeight(0.25)

const (
	throttleCentre = 3.0 // log-odds over the threshold's: 20x
	throttleSpread = 0.6 // in log(log-odds)
	throttleFloor  = 0.2 // the share left uniform
)

// WithTopWeight returns g with weight w on its largest effect and 1 - w
// over the others, in the proportions g gives them (evenly for a
// geometric grid).
func (g Grid) WithTopWeight(w float64) Grid {
	n := len(g.s)
	out := Grid{s: append([]float64(nil), g.s...), logW: make([]float64, n)}
	rest := math.Inf(-1)
	for i := range n - 1 {
		rest = LogAddExp(rest, g.logW[i])
	}
	for i := range n - 1 {
		out.logW[i] = math.Log(1-w) + g.logW[i] - rest
	}
	out.logW[n-1] = math.Log(w)
	return out
}

// Concentrated returns g with a share 1 - floor of its weight moved onto
// the effects near c: the new weight of effect s_i is
// (1 - floor)·w_i·f_i/Σ_j w_j·f_j + floor·w_i, where f is a log-normal
// kernel, f_i = exp(-(log s_i - log c)²/(2·sd²)). Effects near c then
// cost less than under g, and none costs more than log(1/floor) nats
// beyond what it costs under g. A fixed mixture is an e-process whatever
// its weights, so the test stays valid; the weights only decide which
// effects it detects soonest.
func (g Grid) Concentrated(c, sd, floor float64) Grid {
	n := len(g.s)
	out := Grid{s: append([]float64(nil), g.s...), logW: make([]float64, n)}
	lf := make([]float64, n)
	norm := math.Inf(-1)
	for i := range n {
		d := math.Log(g.s[i]) - math.Log(c)
		lf[i] = g.logW[i] - d*d/(2*sd*sd)
		norm = LogAddExp(norm, lf[i])
	}
	for i := range n {
		out.logW[i] = LogAddExp(math.Log(1-floor)+lf[i]-norm, math.Log(floor)+g.logW[i])
	}
	return out
}

// Len is the number of alternatives.
func (g *Grid) Len() int { return len(g.s) }

// Effect is the i-th effect size.
func (g *Grid) Effect(i int) float64 { return g.s[i] }

// LogMix returns log Σ_g w_g exp(terms[g]), computed without overflow.
// terms has one entry per alternative.
func (g *Grid) LogMix(terms []float64) float64 {
	m := math.Inf(-1)
	for i, t := range terms {
		if v := t + g.logW[i]; v > m {
			m = v
		}
	}
	if math.IsInf(m, 0) {
		return m
	}
	sum := 0.0
	for i, t := range terms {
		// Terms below e^-40 of the largest do not change the sum's
		// float64 value.
		if d := t + g.logW[i] - m; d > -40 {
			sum += math.Exp(d)
		}
	}
	return m + math.Log(sum)
}

// LogAddExp returns log(e^a + e^b).
func LogAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(a, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}
