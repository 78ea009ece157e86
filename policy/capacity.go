package policy

import (
	"math"

	"github.com/canaryd/canaryd/config"
)

// Throttles beyond the function's capacity.
//
// Lambda throttles the requests that find the function's concurrency (its
// reserved concurrency, or the account's limit) taken, whichever version
// runs: a traffic spike beyond it throttles the known-good as much as the
// new version, and rolling back does not stop it. The throttles rule, as
// a share of requests, therefore judges only what the known-good's
// capacity does not explain. Where the known-good's own minutes (the
// baseline's and the shape history's) show capacity throttling (at least
// cappedMinEvents throttles and cappedShare of the requests), its
// capacity C is 1 - capacityMargin of the fewest it served in such a
// minute, since requests start finding no free environment before the
// average concurrency reaches the limit; where they do not, C is the most
// requests it had in a minute, all of which it could serve, or what the
// concurrency's use shows it could (setCapacity). In a period with demand
// D (the alias's invocations and throttles) above C, the share 1 - C/D of its requests is
// taken out of its counts, throttled ones first: what is left is judged
// against the threshold as before. The baseline's own periods are read
// the same way, so a baseline with spikes does not read as a known-good
// above the threshold or as bursts. A new version that throttles at a
// demand the known-good served (slower, so holding its environments
// longer; a lower reserved concurrency) is judged on all of it.
//
// CloudWatch may still add to its newest periods (metric_lag): read early,
// a period at the limit shows part of its demand with the limit's share
// throttled, which would read as throttling below capacity. Where the
// known-good has shown capacity throttling, such a period with throttles
// is read once final (unsettled). Not for split periods (the
// two arms share the function's capacity, and the known-good's arm is the
// reference) nor for a threshold of throttles per period (no demand to
// compare).

// capacityMargin is how far below the fewest invocations the known-good
// served in a minute it throttled demand may already be throttled for
// want of capacity.
const capacityMargin = 0.2

// cappedShare and cappedMinEvents: a minute of the known-good with at
// least this share of its requests and this many throttled shows its
// capacity (its own throttles are rare: a share a hundred times its rate).
const (
	cappedShare     = 0.05
	cappedMinEvents = 10
)

// openKeep is the least share of its requests a period CloudWatch may
// still add to is taken to hold, where capacity throttling is known.
const openKeep = 0.5

// concMargin is the share of the demand the known-good's concurrency
// could serve (its requests over the share of its concurrency limit they
// used, ConcurrencyUse) taken as its capacity: its invocations may take
// longer at a higher load, holding their environments longer.
const concMargin = 1 - capacityMargin

// setCapacity sets a throttles rule's capacity (rb.capacity, rb.capFrom)
// from its baseline periods (ts, x throttled of n requests) and the shape
// history.
//
// Where the known-good never throttled for want of capacity, the most it
// served in a minute is all its minutes show it could; its concurrency
// shows more. Lambda throttles a request that finds the concurrency the
// function draws on (its reserved concurrency or the account's unreserved
// pool) all taken, and a minute's peak concurrency grows with its
// requests: a minute in which the known-good served s requests at its
// busiest using the share u of that limit (ConcurrencyUse, the watcher's
// reading of ConcurrentExecutions) could have served s/u before a request
// found none free, and more where the peak grows less than the requests
// (a larger share of the minute busy) or other functions used part of the
// pool. So the capacity is concMargin of the largest s/u, when that is
// above the most it served: a deploy during a morning's rise whose demand
// soon passes the baseline's busiest minute is judged on the throttles the
// known-good's concurrency would not have had. (Without a reading, or
// with the version slower than the known-good, nothing changes: a slower
// version that throttles at a demand the known-good could serve is judged
// on all of it.)
func (b *PreparedBaseline) setCapacity(r *rule, rb *ruleBase, ts []int64, x, n []float64) {
	if r.kind != config.RuleThrottles || r.test != testRate || r.rel != relAbsolute {
		return
	}
	most, capped, byConc := 0.0, math.Inf(1), 0.0
	see := func(series [][]pt, ts []int64, x, n []float64) {
		for i := range x {
			most = max(most, n[i])
			if x[i] >= cappedMinEvents && x[i] >= cappedShare*n[i] {
				capped = min(capped, n[i]-x[i])
			}
			if u, ok := concUseAt(series, r, ts[i]); ok && u > 0 {
				byConc = max(byConc, (n[i]-x[i])/u)
			}
		}
	}
	see(b.series, ts, x, n)
	if b.hist != nil {
		hts, hx, hn := blockSeriesOf(b.hist, r, rb.eventsKg)
		see(b.hist, hts, hx, hn)
	}
	rb.poolRead = r.pool >= 0 && len(b.series[r.pool]) > 0
	rb.capacity, rb.capFrom = most, capMost
	switch {
	case !math.IsInf(capped, 1):
		rb.capacity, rb.capFrom = (1-capacityMargin)*capped, capThrottled
	case concMargin*byConc > most:
		rb.capacity, rb.capFrom = concMargin*byConc, capConcurrency
	}
}

// capSource is what showed a throttles rule's capacity.
type capSource uint8

const (
	capMost        capSource = iota // the most requests the known-good had in a period
	capThrottled                    // its own minutes' throttling at that demand
	capConcurrency                  // its concurrency's use: what it could have served at its limit
)

// concUseAt is the share of its concurrency limit the function used in
// the period starting at t: its reservation's (ConcurrencyUse) or the
// account's unreserved pool's (PoolUse), whichever was read.
func concUseAt(series [][]pt, r *rule, t int64) (float64, bool) {
	for _, m := range [...]int{r.conc, r.pool} {
		if m >= 0 {
			if u, ok := valueAt(series[m], t); ok {
				return u, true
			}
		}
	}
	return 0, false
}

// poolFull is the share of the account's unreserved concurrency in use
// from which a period's throttles are not judged: other functions' demand
// (a neighbour's spike) throttles every function drawing on the pool,
// whichever version runs, and rolling back does not stop it. A version
// whose own slowness fills the pool is then judged on its other periods
// and by the latency rules.
const poolFull = 0.9

// poolOf says whether period q's throttles are left to the account's
// pool: exhausted, the pool was at least poolFull in use (PoolUse; a
// function with its own reservation has none: its limit is its own), so
// the period is not judged; pending, q has throttles and its PoolUse has
// not come yet though the baseline had the pool's use (the watcher reads
// it in the watch too). The series are read together, but a datapoint of
// one may be delivered seconds before another's, and read without it a
// minute of a neighbour's spike would be judged: such a period, while
// CloudWatch may still add to it, waits; once final it is judged as it
// is.
func (rb *ruleBase) poolOf(c *evalCtx, r *rule, q *period) (exhausted, pending bool) {
	if r.pool < 0 || q.split || q.state != psUsable {
		return false, false
	}
	u, ok := valueAt(c.alias[r.pool], q.start)
	return ok && u >= poolFull, !ok && rb.poolRead && q.xn > 0
}

// beyondCapacity takes out of x throttled of n requests (the demand d of
// their period, at least n) the share of d beyond the rule's capacity, in
// whole requests.
func (rb *ruleBase) beyondCapacity(x, n, d float64) (float64, float64) {
	if rb.capacity <= 0 || d <= rb.capacity {
		return x, n
	}
	out := math.Round((1 - rb.capacity/d) * n)
	return max(0, x-out), n - out
}

// allowCapacity reads a baseline or history series beyond capacity.
func (rb *ruleBase) allowCapacity(x, n []float64) {
	for i := range x {
		x[i], n[i] = rb.beyondCapacity(x[i], n[i], n[i])
	}
}

// demandOf is the alias's demand in period q (its invocations and
// throttles; the new version's own counts in the deploy's period are part
// of it).
func demandOf(c *evalCtx, r *rule, q *period) float64 {
	_, _, d, _ := readCounts(c.alias, r, -1, q.start)
	return max(d, q.nn)
}

// unsettled reports whether period q, which CloudWatch may still add to,
// is left unread until it is final: the known-good has shown capacity
// throttling, and q has throttles and, were only openKeep of its demand d
// delivered yet, would be beyond capacity. Read early, such a period
// would show throttling below capacity; read with its demand scaled up,
// it would show requests served that were not.
func (rb *ruleBase) unsettled(q *period, d float64) bool {
	return rb.capFrom == capThrottled && q.xn > 0 && d/openKeep > rb.capacity
}

// openFrom is the start of the first period CloudWatch may still add to:
// the newest delivered (of any metric, as History counts deliveries) and
// the metric_lag - 1 before it, which History has not folded as final.
func (p *Policy) openFrom(c *evalCtx) int64 {
	return c.newestMetric - int64(max(p.lag-1, 0))*int64(p.period)
}
