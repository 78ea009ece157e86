package policy

import (
	"math"
	"time"

	"github.com/canaryd/canaryd/policy/seqtest"
)

// Cold starts. The first invocations of a new version run in fresh
// execution environments and are slower: lazy clients, empty caches, JIT.
// A latency test that counted them would roll back every good deploy whose
// cold starts are strong, and a fixed warm-up long enough for the strongest
// would hide a real regression until its deadline has passed.
//
// The model: at time t after the deploy at most a share e^(-t/τ) of the
// new version's invocations is cold (all of them at the deploy), τ the
// rule's warmup (default 40 s: 5% after two minutes, 0.25% after four),
// and a cold invocation may be slow. So the null boundary of a period's
// slow share is the reference rate plus a, the mean of that bound over
// the period's new-version time. latency tests each period against its
// own boundary (seqtest.AddPeriod), which keeps the e-process a
// supermartingale under every null whose cold starts fit the model, at no
// cost in α; compare_latency sums the allowances into extra events its
// null allows beyond the known-good's slow share, which it integrates out
// (seqtest.TwoSample.LogEOffset). A period whose allowance is more than twice the reference
// rate (the first minutes) is skipped: it could only count against a
// regression that is there. The choice depends on time and traffic only,
// never on the period's counts. A regression stronger than the allowance
// shows as soon as it stands out: a 2x p99 (7% slow at the old p99) trips
// about three periods after the deploy even when cold starts are at their
// strongest. Split periods, whose known-good side has no cold starts,
// are judged once the allowance has fallen below 0.1%; the percentile
// fallback, which cannot tell cold starts apart, once it is below 1%.

// coldShare is the bound on the share of cold invocations among a
// period's counted invocations: the mean of e^(-t/τ) over the time the new
// version served in the period, scaled by that time's part of the period
// when the count is alias-level (its invocations before the deploy were
// the known-good's, all warm).
func coldShare(warmup time.Duration, deploy int64, q *period) float64 {
	if warmup <= 0 {
		return 0
	}
	tau := warmup.Seconds()
	t1 := math.Max(0, float64(q.start-deploy)/1e9)
	t2 := float64(q.end-deploy) / 1e9
	if t2 <= t1 {
		return 0
	}
	mass := tau * (math.Exp(-t1/tau) - math.Exp(-t2/tau))
	if q.split {
		return mass / (t2 - t1)
	}
	return mass / (float64(q.end-q.start) / 1e9)
}

// latencyIncrement is a latency period's evidence: its slow count
// against the reference rate plus its cold-start allowance, or the split
// allocation once cold starts are over, or the percentile fallback.
func (p *Policy) latencyIncrement(r *rule, rb *ruleBase, w *watchInfo, q *period, inc *increment, split, vec []float64) {
	a := coldShare(r.warmup, w.start, q)
	counts := q.counts && rb.events >= 0 && rb.upper > 0
	switch {
	case q.split && r.test == testTwoSample:
		switch {
		case a > 1e-3:
		case counts && q.kgCounts:
			clear(split)
			phi := seqtest.Phi(rb.upper*max(q.nn, q.nk), rb.invK)
			rb.two.AddSplitPeriod(split, q.xn, q.nn, q.xk, q.nk, 1/phi)
			inc.split = split
		default:
			if z, ok := rb.fb.zSplitOf(q.yn, q.nn, q.yk, q.nk); ok {
				inc.z, inc.m = z, 1
			}
		}
	case counts && r.test == testTwoSample:
		// compare_latency: the period's counts join the new side's sums,
		// judged against the baseline's counts with the allowance as
		// extra events the null permits (seqtest.TwoSample.LogEOffset).
		// Periods whose allowance exceeds twice the upper bound of the
		// known-good's slow share (as below) are skipped, a choice made
		// from the clock, the traffic and the baseline (all known before
		// the period's counts), so the test stays valid. The tempering
		// uses the same bound: conservative. Neither spends α: the test
		// does not rely on the bound.
		if a > 2*rb.upper {
			return
		}
		w := 1 / seqtest.Phi(math.Min(0.999, rb.upper+a)*q.nn, rb.invK)
		inc.x, inc.n, inc.off = w*q.xn, w*q.nn, w*a*q.nn
	case counts:
		if a > 2*rb.upper {
			return
		}
		p0 := math.Min(0.999, rb.upper+a)
		clear(vec)
		seqtest.AddPeriod(vec, &seqtest.HardFailureGrid, q.xn, q.nn, p0, 1/seqtest.Phi(p0*q.nn, rb.invK))
		inc.vec = vec
	case a <= 0.01:
		if z, ok := rb.fb.zOf(q.yn, q.nn); ok {
			inc.z, inc.m = z, 1
		}
	}
}
