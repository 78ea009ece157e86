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

// ShareGrid is the grid of compare_latency's test: 14 rate ratios from
// e^0.1 to e^4.6 (100 times the known-good's share of invocations slower
// than its p99: all of them). A slow share of about 1% cannot grow more
// than 100-fold, so DefaultGrid's larger effects would only cost weight:
// log 14 = 2.6 nats instead of log 20 = 3.0, and adjacent effects closer.
var ShareGrid = GeometricGrid(0.1, 4.6, 14)

// HardFailureGrid is DefaultGrid with a quarter of the weight on its
// largest effect (e^12 times the null odds: everything failing) and three
// quarters spread over the rest. The one-sample tests use it: a hard
// failure at trickle traffic or a health endpoint that is down gives one
// trial at a time, so the weight on that alternative is what decides how
// many failures it takes (four or five probes instead of six), while a
// moderate effect loses only log(20/19·4/3) = 0.34 nats.
var HardFailureGrid = DefaultGrid.WithTopWeight(0.25)

// WithTopWeight returns g with weight w on its largest effect and 1 - w
// spread evenly over the others.
func (g Grid) WithTopWeight(w float64) Grid {
	n := len(g.s)
	out := Grid{s: append([]float64(nil), g.s...), logW: make([]float64, n)}
	for i := range out.logW {
		out.logW[i] = math.Log((1 - w) / float64(n-1))
	}
	out.logW[n-1] = math.Log(w)
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
