package policy

import (
	"math"
	"sync"
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
// cost in α. A period whose allowance is more than twice the reference
// rate (the first minutes) is skipped there: it could only count against
// a regression that is there. The choice depends on time and traffic
// only, never on the period's counts. compare_latency judges the periods
// after the deploy jointly instead (seqtest.TwoSample.LogECold): its null
// must explain every period's slow count with one cold-start curve that
// decays at least as fast as the rule's, so the first minutes' counts
// bound what the later ones may blame on cold starts, and a steady
// excess (a regression) soon has no curve to hide behind: a 2x p99 (7%
// slow at the old p99) at 200 invocations a minute trips in the third
// or fourth period. Split periods, whose known-good side has no cold starts,
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
	if q.own {
		return mass / (t2 - t1)
	}
	return mass / (float64(q.end-q.start) / 1e9)
}

// latencyIncrement is a latency period's evidence: its slow count
// against the reference rate plus its cold-start allowance, or the split
// allocation once cold starts are over, or the percentile fallback.
func (p *Policy) latencyIncrement(r *rule, rb *ruleBase, w *watchInfo, q *period, inc *increment, split, vec []float64, cr carry) {
	a := cr.cold * coldShare(r.warmup, w.start, q)
	so := rb.scaleOutShare(q, &cr) // scale-out cold starts (scaleout.go)
	if so > 0 && (rb.upper <= 0 || so >= rb.upper/4) {
		inc.rise = true // a rise in traffic whose cold starts could explain its slowness
		return
	}
	if r.test == testTwoSample && rb.busy(q) {
		inc.busy = true // latency that rises with traffic (load.go)
		return
	}
	counts := q.counts && rb.events >= 0 && rb.upper > 0
	switch {
	case q.split && r.test == testTwoSample:
		switch {
		case a > 1e-3:
		case counts && q.kgCounts:
			clear(split)
			rb.two.AddSplitPeriod(split, q.xn, q.nn, q.xk, q.nk, rb.upper, rb.invK)
			inc.split = split
		default:
			if z, ok := rb.fb.zSplitOf(q.yn, q.nn, q.yk, q.nk); ok {
				inc.z, inc.m = z, 1
			}
		}
	case counts && r.test == testTwoSample:
		// compare_latency. With a warmup, epoch 0 (the deploy's) judges
		// every period jointly (seqtest.TwoSample.LogECold): each period
		// with its cold-start mass at the rule's bound, the counts
		// deciding how much of it the null may use. Tempered as if it
		// used none (coldPhi's largest).
		// The known-good's own rise in slow share since the baseline, or
		// with its load, as far as the baseline shows either, scales the
		// period's exposure (latencyTrend, loadTrend), and so does the
		// drift the baseline cannot show, growing with the time since
		// the deploy (driftAt): the largest.
		g := max(rb.trend.at(q), rb.load.at(q.load), driftAt(rb.drift, w.start, q))
		if r.warmup > 0 && rb.hasRef {
			t := 1 / coldPhi(rb.rate*q.nn*g, 0, rb.temperInvK())
			inc.cold = seqtest.ColdPeriod{X: t * q.xn, N: t * q.nn * g, S: t * coldShare(r.warmup, w.start, q) * q.nn, O: t * so * q.nn}
		}
		// The later epochs (and a rule without a warmup): the periods'
		// counts join the new side's sums, judged against the
		// baseline's with the allowance as extra events the null
		// permits (seqtest.TwoSample.LogEOffset). A period whose
		// allowance exceeds twice the upper bound of the known-good's
		// slow share is skipped, a choice made from the clock, the
		// traffic and the baseline (all known before the period's
		// counts), so the test stays valid. (The later epochs start at
		// the end of the bake, when the allowance is nil.)
		if a > 2*rb.upper {
			return
		}
		w := 1 / coldPhi(rb.rate*q.nn*g, (a+so)*q.nn, rb.temperInvK())
		inc.x, inc.n, inc.off = w*q.xn, w*q.nn*g, w*(a+so)*q.nn
	case counts && rb.bursty != nil:
		// Against every burst shape the baseline leaves open, the cold
		// starts inside the null (seqtest.BurstyRate.AddPeriodCold).
		if a > 2*rb.upper {
			return
		}
		rb.burstyIncrement(inc, vec, split, q.xn, q.nn, a+so, 1)
	case counts:
		if a > 2*rb.upper {
			return
		}
		p0 := math.Min(0.999, rb.upper+a+so)
		clear(vec)
		seqtest.AddPeriod(vec, &seqtest.HardFailureGrid, q.xn, q.nn, p0, 1/coldPhi(rb.upper*q.nn, (a+so)*q.nn, rb.temperInvK()))
		inc.vec = vec
	case a+so <= 0.01:
		if z, ok := rb.fb.zOf(q.yn, q.nn); ok {
			inc.z, inc.m = z, 1
		}
	}
}

// coldPhi is the tempering divisor of a period whose null mean is warm
// expected slow invocations (the known-good's share of the period's
// invocations) plus at most cold cold ones: the bursts that make slow
// counts overdispersed (a slow dependency, a noisy neighbour) multiply the
// warm part, whose variance is warm·(1 + warm/k); a cold start is slow
// whatever the minute's burst, so the cold part adds its mean to the
// variance and nothing more. φ is the ratio of that variance to the
// Poisson one, warm + cold. Tempering the cold part as if it burst too
// (φ = 1 + (warm+cold)/k) divided the first periods after a deploy, where
// the allowance is largest, by up to six: a 2x p99 then hid for two more
// minutes.
func coldPhi(warm, cold, invK float64) float64 {
	if warm <= 0 || invK <= 0 {
		return 1
	}
	return 1 + warm*warm*invK/(warm+max(0, cold))
}

// The cold-start scale. The model bounds the cold share at time t by
// c·e^(-t/τ) with c ≤ 1 unknown; taking c = 1 (every first invocation slow)
// hides a regression for as long as the strongest cold starts could
// explain it. But a period's slow count bounds c: its cold-and-slow
// invocations are among its slow ones, so with u_j an upper confidence
// bound on period j's slow share, c ≤ u_j/s_j (s_j its coldShare at
// c = 1), and, τ ≤ warmup making the decay from j to a later period k no
// steeper than the rule's, the cold share of k is at most
// min(1, u_j/s_j)·s_k. The bound for period k uses only earlier periods
// (known before k's counts: the allowance stays predictable) and holds
// for all of them at once with probability 1 - δ, the u_j taken at
// δ/2^(j+1) each; the rule's e-process runs at α - δ, δ = α/8
// (coldDelta), so its false rollbacks stay within α. u_j is not tempered
// for the known-good's bursts: a period's cold invocations are each cold
// by the clock (binomial at its cold share), and the warm slow ones,
// however bursty, only add to the count the bound is taken from, so they
// can widen it but never narrow it wrongly. (Tempered, a bursty
// known-good widened the first minutes' bound, and a p99 regression
// waited a minute longer: TestColdBoundIgnoresWarmBursts.) Early periods whose
// slowness does not decay (a regression, not cold starts) thus narrow
// the allowance of the next ones: a 2x p99 no longer hides behind cold
// starts that the first minutes show were not there.

// coldDelta is the share of a latency rule's α spent on the cold-start
// scale bound.
const coldDelta = 1.0 / 8

// coldBound returns the cold-start scale bound after period q: cold
// (the bound from the periods before q; 1 at first) narrowed by q's slow
// count. Periods without counts, or past the cold starts, change nothing.
func (p *Policy) coldBound(r *rule, rb *ruleBase, w *watchInfo, q *period, cold float64) float64 {
	if r.warmup <= 0 || q.state != psUsable || !q.counts || q.nn <= 0 || rb.events < 0 {
		return cold
	}
	s := coldShare(r.warmup, w.start, q)
	if s < 1e-6 {
		return cold
	}
	j := periodIndex(w.start, q) - 1
	delta := coldDelta * r.alpha / math.Pow(2, float64(min(j, 60)+1))
	u := seqtest.BinomialUpper(q.xn, q.nn, math.Log(1/delta))
	return math.Min(cold, u/s)
}

// coldMemo holds the joint cold-start test's last answer: a watch's
// epoch 0 keeps the same periods between deliveries, and a replay or a
// daemon evaluates it at every record or poll in between.
type coldMemo struct {
	mu sync.Mutex
	ps [maxColdPeriods]seqtest.ColdPeriod
	n  int // periods in ps (0: none yet)
	v  float64
}

// coldLogE is the joint cold-start test's log e-value of a's periods
// (seqtest.TwoSample.LogECold).
func (rb *ruleBase) coldLogE(a *epochAcc) float64 {
	m := rb.coldMemo
	if m == nil {
		return rb.two.LogECold(rb.ref, a.cold[:a.nCold])
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n != a.nCold || m.ps != a.cold {
		m.ps, m.n = a.cold, a.nCold
		m.v = rb.two.LogECold(rb.ref, a.cold[:a.nCold])
	}
	return m.v
}
