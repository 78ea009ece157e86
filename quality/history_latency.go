package quality

import (
	"math"
	"slices"
)

// The shape history's slow counts. compare_latency counts the known-good's
// invocations slower than its own percentile (TC(X:), X from the
// baseline) and tempers those counts at the shape of their bursts, which
// a day shows far better than an hour (policy/shape.go). The daemon reads
// the trimmed counts the watch's baseline asked for over the shape_window
// too, so the history carries them: for each period drawn by history(),
// the number of its invocations in each trimmed-count range, drawn given
// the period's invocations from the known-good's latency model.
//
//   - Per-minute noise: a scale and a slow-share node, equally likely, as
//     the simulated minutes draw them (Latency.scaleNodes, tailNodes).
//   - Drift (LatDrift, good/latency-drift): like the error rate's, a daily
//     cycle with the drift's value and slope at the join, a peak/trough
//     ratio of 1.5-3 (log-uniform) or what the slope needs.
//   - Load (LatLoad): the history's traffic level over the scenario's
//     base rate, spikes included, to the power LatLoad.
//   - Scale-out (ScaleOut): the known-good's environments followed through
//     the history, oldest first (scaleCold), and the share of cold first
//     invocations that gives, slower by the version's cold-start factor.
//
// They come from a stream of their own ("history-latency"): the counts
// drawn by history() do not change with them.

// latHist is the known-good's latency model before the simulated hour.
type latHist struct {
	level0, amp, phase float64 // LatDrift's daily cycle: value at the join, log-amplitude, phase
}

// slowCounts draws, for each period of hist (oldest first, drawn by
// history() with model h), its invocations' counts above each of the
// absolute thresholds xs (ms, ascending): out[i][j] is period i's count
// above xs[j].
func slowCounts(sc *Scenario, h *histModel, hist []histPeriod, xs []float64) [][]int {
	if len(xs) == 0 || len(hist) == 0 {
		return nil
	}
	r := newRNG(sc.Kind, sc.Seed, "history-latency")
	lh := latHist{level0: 1}
	if sc.LatDrift != 0 {
		lh.level0, lh.amp, lh.phase = driftCycle(r, sc.LatDrift, h.t0.Hours())
	}
	old := &sc.Old
	scales, tails := old.Latency.scaleNodes(), old.Latency.tailNodes()
	var envs []envMinute
	keep, mean := 1, old.Latency.mean()
	if so := sc.ScaleOut; so != nil {
		keep = max(1, int(so.KeepAlive/period))
	}
	out := make([][]int, len(hist))
	for i := range hist {
		p := &hist[i]
		mid := p.Start.Sub(sc.Deploy) + period/2
		s := scales[r.IntN(len(scales))] * lh.level0 * cycle(lh.amp, lh.phase, mid-h.t0)
		if sc.LatLoad != 0 {
			s *= math.Pow(p.Level/sc.Traffic.PerMinute, sc.LatLoad)
		}
		tail := tails[r.IntN(len(tails))]
		cold := 0.0
		if sc.ScaleOut != nil {
			cold = scaleCold(&envs, p.Served, mean, keep)
		}
		mix := old.Latency.mix(s, tail, cold, old.Cold)
		out[i] = make([]int, len(xs))
		above, prev := p.Inv, 1.0
		for j, x := range xs {
			sf := 0.0 // every duration is capped at the timeout
			if x < timeoutMs {
				sf = mix.sf(x)
			}
			if above > 0 && prev > 0 {
				above = r.binomialApprox(above, min(1, sf/prev))
			}
			out[i][j], prev = above, sf
		}
	}
	return out
}

// binomialApprox draws Binomial(n, p): by inversion when n·p or n·(1-p)
// is small, else the normal approximation (mean and variance exact),
// rounded and clamped: the history has a day of periods with up to
// thousands of invocations, too many to count one by one.
func (r *rng) binomialApprox(n int, p float64) int {
	switch {
	case p <= 0 || n <= 0:
		return 0
	case p >= 1:
		return n
	}
	if q := 1 - p; float64(n)*min(p, q) < 30 {
		if p > 0.5 {
			return n - r.binomialApprox(n, q)
		}
		// Inversion: walk the pmf from 0.
		u := r.Float64()
		pk := math.Pow(q, float64(n))
		for k := 0; k < n; k++ {
			if u < pk {
				return k
			}
			u -= pk
			pk *= float64(n-k) / float64(k+1) * p / q
		}
		return n
	}
	m, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	return min(n, max(0, int(math.Round(m+sd*r.NormFloat64()))))
}

// trimmedThresholds are the absolute bounds (ms) of the trimmed-count
// statistics among stats (TC(a:b)), ascending and distinct: what
// slowCounts draws the history's counts above.
func trimmedThresholds(stats []stat) []float64 {
	var xs []float64
	for _, st := range stats {
		if !st.isTrimmedCount() {
			continue
		}
		for _, b := range []bound{st.lo, st.hi} {
			if b.set && !b.pct {
				xs = append(xs, b.v)
			}
		}
	}
	slices.Sort(xs)
	return slices.Compact(xs)
}

// trimmedCount is a trimmed count with absolute bounds (isTrimmedCount)
// from a period's counts above the thresholds xs (slowCounts), and its
// invocations n.
func (st stat) trimmedCount(xs []float64, above []int, n int) float64 {
	count := func(b bound, open int) int {
		if !b.set {
			return open
		}
		i, _ := slices.BinarySearch(xs, b.v)
		return above[i]
	}
	return float64(count(st.lo, n) - count(st.hi, 0))
}

// isTrimmedCount reports whether st is a trimmed count with absolute
// bounds (TC(412:)): what the shape history carries besides the counts.
func (st stat) isTrimmedCount() bool {
	return st.fn == "TC" && !(st.lo.set && st.lo.pct) && !(st.hi.set && st.hi.pct)
}
