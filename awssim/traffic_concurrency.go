package awssim

import "math"

// Concurrency of synthetic traffic. A minute's concurrency is modelled from
// the invocations served and their mean duration:
//
//	peak = ceil(peakFactor * Σ invocations_i * meanDurationMs_i / 60000)
//
// over the generators (LambdaTraffic calls: versions, aliases) of a
// function running in the minute — the mean number of executions in flight
// times 1.2 for the peaks above the mean — at least 1 when anything was
// served. A function with reserved concurrency R serves only what fits
// under R: when the peak would exceed R, each generator serves the fraction
// R / peak (unrounded) of its invocations, rounded down, and throttles the
// rest (Throttles), so its ConcurrentExecutions is at most R. The account's
// values are the sums of its functions' (UnreservedConcurrentExecutions:
// of those without a reservation in the minute).

// peakFactor is how far a minute's peak concurrency exceeds its mean.
const peakFactor = 1.2

// fnTraffic is every LambdaTraffic generator of one function, in write
// order: they run together, share the function's concurrency and are
// capped together by its reserved concurrency.
type fnTraffic struct {
	gens        []*trafficGen
	from, to    int64 // union of the generators' ranges
	anyReserved bool  // some generator was written under a reservation
}

// acctTraffic is every function with traffic: the account-level metrics.
type acctTraffic struct {
	fns      []*fnTraffic // in order of first traffic
	from, to int64
}

// extendSpan widens [from, to) to cover [f, t).
func extendSpan(from, to *int64, f, t int64) {
	if f >= t {
		return
	}
	if *from >= *to {
		*from, *to = f, t
		return
	}
	*from, *to = min(*from, f), max(*to, t)
}

func (ft *fnTraffic) add(g *trafficGen) {
	g.fn = ft
	ft.gens = append(ft.gens, g)
	extendSpan(&ft.from, &ft.to, g.from, g.to)
	if g.reserved >= 0 {
		ft.anyReserved = true
	}
}

func (ft *fnTraffic) span() (int64, int64) { return ft.from, ft.to }

func (a *acctTraffic) span() (int64, int64) { return a.from, a.to }

// limitAt is the reserved concurrency in force in minute m: that of the
// latest LambdaTraffic call covering m, -1 when it had none.
func (ft *fnTraffic) limitAt(m int64) int {
	for i := len(ft.gens) - 1; i >= 0; i-- {
		if g := ft.gens[i]; m >= g.from && m < g.to {
			return g.reserved
		}
	}
	return -1
}

// demand is the mean concurrency the raw traffic of minute m asks for.
func (ft *fnTraffic) demand(m int64) float64 {
	var d float64
	for _, g := range ft.gens {
		if m < g.from || m >= g.to {
			continue
		}
		mi := g.raw(m, true)
		d += mi.inv * mi.meanDuration() / 60000
	}
	return d
}

// servedFraction is the fraction of invocations a limit lets through
// given the mean concurrency demanded.
func servedFraction(demand float64, limit int) float64 {
	if limit < 0 || peakFactor*demand <= float64(limit) {
		return 1
	}
	return float64(limit) / (peakFactor * demand)
}

// fraction is the fraction of minute m's invocations that limit serves.
func (ft *fnTraffic) fraction(m int64, limit int) float64 {
	return servedFraction(ft.demand(m), limit)
}

// concurrency is the function's peak concurrency in minute m, whether a
// reservation was in force, and whether anything was served.
func (ft *fnTraffic) concurrency(m int64) (peak float64, reserved, ok bool) {
	limit := -1
	if ft.anyReserved {
		limit = ft.limitAt(m)
	}
	type part struct{ inv, mean float64 }
	var buf [4]part
	parts := buf[:0]
	var demand float64
	for _, g := range ft.gens {
		if m < g.from || m >= g.to {
			continue
		}
		mi := g.raw(m, true)
		if mi.inv == 0 {
			continue
		}
		p := part{mi.inv, mi.meanDuration()}
		parts = append(parts, p)
		demand += p.inv * p.mean / 60000
	}
	f := servedFraction(demand, limit)
	var served, conc float64
	for _, p := range parts {
		n := p.inv
		if f < 1 {
			n = math.Floor(p.inv * f)
		}
		served += n
		conc += n * p.mean / 60000
	}
	if served == 0 {
		return 0, limit >= 0, false
	}
	peak = max(1, math.Ceil(peakFactor*conc))
	if limit >= 0 {
		peak = min(peak, float64(limit))
	}
	return peak, limit >= 0, true
}

// appendBuckets appends the function's ConcurrentExecutions for the
// minutes in [ps, pe).
func (ft *fnTraffic) appendBuckets(bs []cwBucket, _ int, ps, pe int64) []cwBucket {
	for m := firstMinute(ps, ft.from); m < pe && m < ft.to; m += 60 {
		if peak, _, ok := ft.concurrency(m); ok {
			bs = append(bs, gaugeBucket(m, peak))
		}
	}
	return bs
}

// appendBuckets appends the account's ConcurrentExecutions (mConcurrent)
// or UnreservedConcurrentExecutions (mUnreserved) for the minutes in
// [ps, pe): the sum over its functions, none when no function counted ran.
func (a *acctTraffic) appendBuckets(bs []cwBucket, metric int, ps, pe int64) []cwBucket {
	for m := firstMinute(ps, a.from); m < pe && m < a.to; m += 60 {
		var total float64
		counted := false
		for _, ft := range a.fns {
			if m < ft.from || m >= ft.to {
				continue
			}
			peak, reserved, ok := ft.concurrency(m)
			if !ok || (metric == mUnreserved && reserved) {
				continue
			}
			total += peak
			counted = true
		}
		if counted {
			bs = append(bs, gaugeBucket(m, total))
		}
	}
	return bs
}

// gaugeBucket is one value for a minute (read with Maximum).
func gaugeBucket(t int64, v float64) cwBucket {
	return cwBucket{t: t, sum: v, count: 1, min: v, max: v, vals: []float64{v}}
}

// fnTrafficLocked returns fn's generators (creating them and registering
// the concurrency series: the function's, and the account's on the first
// function); s.cw.mu must be held.
func (st *cwStore) fnTrafficLocked(fn string) *fnTraffic {
	ft := st.traffic[fn]
	if ft != nil {
		return ft
	}
	ft = &fnTraffic{}
	st.traffic[fn] = ft
	sr := st.seriesLocked(metricKey("AWS/Lambda", "ConcurrentExecutions", map[string]string{"FunctionName": fn}))
	sr.gens = append(sr.gens, genRef{gen: ft, metric: mConcurrent})
	if len(st.acct.fns) == 0 {
		for _, r := range []struct {
			name   string
			metric int
		}{{"ConcurrentExecutions", mConcurrent}, {"UnreservedConcurrentExecutions", mUnreserved}} {
			sr := st.seriesLocked(metricKey("AWS/Lambda", r.name, nil))
			sr.gens = append(sr.gens, genRef{gen: st.acct, metric: r.metric})
		}
	}
	st.acct.fns = append(st.acct.fns, ft)
	return ft
}
