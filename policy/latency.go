package policy

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy/seqtest"
	"github.com/canaryd/canaryd/sample"
)

// This file says which CloudWatch statistics of Lambda's Duration metric a
// watch needs. A percentile rule "pNN > X" is exactly "more than (100-NN)%
// of the invocations are slower than X", and CloudWatch's trimmed count
// TC(X:) is the number of invocations slower than X (lower bound
// exclusive). So each latency rule asks for the count of invocations above
// a threshold, and that threshold can depend on the pre-deploy baseline
// (baseline = "ratio" | "delta", compare_latency).

// DurationStats lists the statistics of the Duration metric the watcher
// must query for a watch whose pre-deploy baseline is baseline (alias-level
// samples; nil when there is none yet): each latency rule's own statistic
// (e.g. "p99") and, for percentile statistics, the trimmed counts
// "TC(X:)" its test needs, X rounded to a whole millisecond so that the
// name is stable. A sample of statistic s has Metric "Duration." + s, e.g.
// "Duration.TC(412:)". The result is deterministic (rule order, no
// duplicates) and is the same for the same baseline, so the watcher can
// key its query plan on it. Baseline-relative thresholds are left out when
// the baseline has no value for the rule's statistic.
func (p *Policy) DurationStats(baseline []sample.Sample) []string {
	return p.DurationStatsSince(baseline, time.Time{})
}

// DurationStatsSince is DurationStats for a watch whose version before the
// deploy served alone since since (Input.BaselineSince): the thresholds
// come from the baseline PrepareBaselineSince keeps.
func (p *Policy) DurationStatsSince(baseline []sample.Sample, since time.Time) []string {
	all, _ := p.durationStats(baseline, since)
	return all
}

// HistoryStatsSince lists the Duration statistics of DurationStatsSince
// that the shape history (shape_window) needs: each latency rule's
// trimmed count on the known-good side, TC(X:) at its first threshold
// (compare_latency's known-good percentile; the absolute or
// baseline-relative threshold of latency), whose bursts and response to
// load the day shows (shape.go, load.go). Not the percentiles, nor
// compare_latency's new-side count above (1 + min_effect)·X: nothing reads
// them before the baseline window.
func (p *Policy) HistoryStatsSince(baseline []sample.Sample, since time.Time) []string {
	_, hist := p.durationStats(baseline, since)
	return hist
}

// durationStats are DurationStatsSince's statistics (all) and
// HistoryStatsSince's (hist), in rule order without duplicates.
func (p *Policy) durationStats(baseline []sample.Sample, since time.Time) (all, hist []string) {
	baseline, _, _ = p.splitHistory(baseline, since)
	add := func(out []string, s string) []string {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
		return out
	}
	for i := range p.rules {
		r := &p.rules[i]
		if !r.isLatency() {
			continue
		}
		all = add(all, r.stat)
		xs := r.slowThresholds(baseline)
		for _, x := range xs {
			all = add(all, tcStat(x))
		}
		if len(xs) > 0 {
			hist = add(hist, tcStat(xs[0]))
		}
	}
	return all, hist
}

// isLatency reports whether r judges the Duration metric.
func (r *rule) isLatency() bool {
	return r.kind == config.RuleLatency || r.kind == config.RuleCompareLatency
}

// percentileOf returns NN for a statistic "pNN" (e.g. 99.9 for "p99.9").
func percentileOf(stat string) (float64, bool) {
	if !strings.HasPrefix(stat, "p") {
		return 0, false
	}
	v, err := strconv.ParseFloat(stat[1:], 64)
	if err != nil || v <= 0 || v >= 100 {
		return 0, false
	}
	return v, true
}

// slowThresholds are the thresholds X (ms, whole) whose trimmed counts
// TC(X:) rule r's test reads, for a percentile rule with an upper
// threshold: the absolute threshold; ratio × or delta + the baseline's
// percentile; for compare_latency the baseline's percentile (counted on the
// known-good side) and (1 + min_effect) × it (counted on the new side).
func (r *rule) slowThresholds(baseline []sample.Sample) []float64 {
	if _, ok := percentileOf(r.stat); !ok || (r.op != opGT && r.op != opGE) {
		return nil
	}
	if r.kind == config.RuleLatency && r.rel == relAbsolute {
		return wholeMs(r.threshold)
	}
	base, _, ok := baselinePercentile(baseline, r.stat)
	if !ok {
		return nil
	}
	switch {
	case r.kind == config.RuleCompareLatency:
		return append(wholeMs(base), wholeMs(base*(1+r.minEffect))...)
	case r.rel == relRatio:
		return wholeMs(base * r.threshold)
	default: // relDelta
		return wholeMs(base + r.threshold)
	}
}

// wholeMs rounds a threshold to a whole millisecond; thresholds below 1 ms
// are not queried.
func wholeMs(x float64) []float64 {
	x = math.Round(x)
	if x < 1 || math.IsInf(x, 0) || math.IsNaN(x) {
		return nil
	}
	return []float64{x}
}

// tcStat names the trimmed count of invocations slower than x ms.
func tcStat(x float64) string {
	return "TC(" + strconv.FormatInt(int64(x), 10) + ":)"
}

// baselinePercentile is the known-good value of a Duration statistic: the
// invocation-weighted median of the baseline's per-period values (alias
// level, delivered datapoints), so that a busy period counts for more than
// a quiet one whose percentile rests on a handful of invocations; inv is
// how many invocations those periods had (-1 when no period's is known).
func baselinePercentile(baseline []sample.Sample, stat string) (pct, inv float64, ok bool) {
	metric := "Duration." + stat
	invs := map[int64]float64{}
	for i := range baseline {
		s := &baseline[i]
		if s.Kind == sample.KindMetric && s.Version == "" && s.Metric == "Invocations" && s.Outcome == sample.OutcomeOK {
			invs[s.Time.UnixNano()] = s.Value
		}
	}
	type vw struct{ v, w float64 }
	var xs []vw
	var total float64
	inv = -1
	for i := range baseline {
		s := &baseline[i]
		if s.Kind != sample.KindMetric || s.Version != "" || s.Metric != metric || s.Outcome != sample.OutcomeOK {
			continue
		}
		w, known := invs[s.Time.UnixNano()]
		if !known {
			w = 1
		}
		if w <= 0 || math.IsNaN(s.Value) {
			continue
		}
		if known {
			inv = max(inv, 0) + w
		}
		xs = append(xs, vw{s.Value, w})
		total += w
	}
	if len(xs) == 0 {
		return 0, inv, false
	}
	slices.SortFunc(xs, func(a, b vw) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	cum := 0.0
	for _, x := range xs {
		cum += x.w
		if cum >= total/2 {
			return x.v, inv, true
		}
	}
	return xs[len(xs)-1].v, inv, true
}

// fallback is how a latency rule judges periods without trimmed counts
// (traces that carry only Duration.pNN, statistics such as Average): the
// log of the period's value, standardised by a scale that shrinks with the
// period's invocations (but never below a typical baseline period's), is
// tested with the bounded-increment e-process (seqtest.Bounded).
type fallback struct {
	ok    bool
	test  *seqtest.Bounded
	m0    float64 // the null value of the log statistic
	tau   float64 // scale × √nRef: a period with n invocations has scale tau/√min(n, nRef)
	nRef  float64 // a typical baseline period's invocations
	shift float64 // compare_latency, split periods: log(1 + min_effect)
}

// defaultLogScale is the per-period scale of a log percentile assumed
// when the baseline has none to measure (absolute thresholds only): 0.25,
// a period-to-period spread of about ±25%.
const defaultLogScale = 0.25

// minLogScale floors the measured scale: a baseline whose percentile
// hardly moved (a quiet hour, a synthetic trace) must not make a 5% change
// look like a four-sigma one.
const minLogScale = 0.05

// prepareLatency resolves a latency rule's per-watch thresholds, the
// trimmed-count metrics that count invocations above them, and its
// fallback. compare_latency spends α/8 on the known-good's estimate the
// fallback needs (its centre), and a rule with a warmup α/8 on the scale
// of its cold starts (coldBound): its e-value needs 1/(6α/8). (Its counts
// test integrates the known-good's slow share out and spends nothing on
// it: seqtest.TwoSample.LogEOffset.)
func (b *PreparedBaseline) prepareLatency(r *rule, rb *ruleBase, baseline []sample.Sample) {
	rb.events, rb.eventsKg = -1, -1
	spent := 0.0
	if r.kind == config.RuleCompareLatency {
		spent += 1.0 / 8 // the fallback's known-good centre (prepareFallback)
	}
	if r.warmup > 0 {
		spent += coldDelta // the scale of the cold starts (coldBound)
		if r.kind == config.RuleCompareLatency {
			rb.coldMemo = new(coldMemo)
		}
	}
	rb.logLevel = math.Log(1 / (r.alpha * (1 - spent)))
	if pct, inv, ok := baselinePercentile(baseline, r.stat); ok {
		rb.base, rb.hasBase, rb.baseInv = pct, true, inv
	}
	switch xs := r.slowThresholds(baseline); {
	case len(xs) == 0:
	case r.kind == config.RuleCompareLatency:
		rb.slowX0, rb.slowX = xs[0], xs[len(xs)-1]
		rb.eventsKg = b.metricID("Duration." + tcStat(rb.slowX0))
		rb.events = b.metricID("Duration." + tcStat(rb.slowX))
	default:
		rb.slowX = xs[0]
		rb.events = b.metricID("Duration." + tcStat(rb.slowX))
		rb.eventsKg = rb.events
	}
	b.prepareFallback(r, rb, baseline)
}

// prepareFallback measures the baseline's log percentile: its centre, its
// scale at a typical period's invocations, and the variance of its clipped
// standardised values.
func (b *PreparedBaseline) prepareFallback(r *rule, rb *ruleBase, baseline []sample.Sample) {
	ys, ns := baselineLogValues(baseline, "Duration."+r.stat)
	nRef := 1.0
	if len(ns) > 0 {
		s := slices.Clone(ns)
		slices.Sort(s)
		nRef = max(1, s[len(s)/2])
	}
	var busy []float64
	for i := range ys {
		if ns[i] >= nRef/4 {
			busy = append(busy, ys[i])
		}
	}
	center, scale, v, ok := seqtest.RobustCenterScale(busy, seqtest.BoundedClip)
	scale = max(scale, minLogScale)
	fb := fallback{ok: true, nRef: nRef, tau: scale * math.Sqrt(nRef)}
	if !ok {
		fb.nRef, fb.tau, v = 1, defaultLogScale, 1
	}
	switch {
	case r.kind == config.RuleCompareLatency:
		// The known-good centre is estimated from the baseline: a margin of
		// z(α/8) standard errors (another α/8 bounds its slow share).
		fb.shift = math.Log1p(r.minEffect)
		fb.m0 = center + fb.shift + normalQuantile(1-r.alpha/8)*scale*math.Sqrt(v/float64(max(1, len(busy))))
		fb.ok = ok
	case r.rel == relRatio:
		fb.m0, fb.ok = center+math.Log(r.threshold), ok
	case r.rel == relDelta:
		fb.m0, fb.ok = math.Log(math.Exp(center)+r.threshold), ok
	default:
		fb.m0 = math.Log(r.threshold)
		rb.kgBad = rb.hasBase && r.op.cmp(rb.base, r.threshold)
	}
	if fb.ok {
		fb.test = seqtest.NewBounded(seqtest.BoundedClip, v, &seqtest.BoundedGrid)
	}
	rb.fb = fb
}

// baselineLogValues are the baseline's positive values of a metric
// (alias level) as logs, with the invocations of the same period (1 when
// unknown).
func baselineLogValues(baseline []sample.Sample, metric string) (ys, ns []float64) {
	inv := map[int64]float64{}
	for i := range baseline {
		s := &baseline[i]
		if s.Kind == sample.KindMetric && s.Version == "" && s.Metric == "Invocations" && s.Outcome == sample.OutcomeOK {
			inv[s.Time.UnixNano()] = s.Value
		}
	}
	for i := range baseline {
		s := &baseline[i]
		if s.Kind != sample.KindMetric || s.Version != "" || s.Metric != metric || s.Outcome != sample.OutcomeOK || !(s.Value > 0) {
			continue
		}
		n, ok := inv[s.Time.UnixNano()]
		if !ok {
			n = 1
		}
		if n <= 0 {
			continue
		}
		ys, ns = append(ys, math.Log(s.Value)), append(ns, n)
	}
	return ys, ns
}

// zOf standardises one period's log value y at n invocations against the
// null value (clipped); ok is false when the period has no value or the
// rule no fallback.
func (fb *fallback) zOf(y, n float64) (float64, bool) {
	if !fb.ok || math.IsNaN(y) || n <= 0 {
		return 0, false
	}
	return fb.test.Clip((y - fb.m0) / fb.scale(n)), true
}

// zSplitOf standardises a split period: the new version's log value minus
// the known-good's, against log(1 + min_effect).
func (fb *fallback) zSplitOf(yNew, nNew, yKg, nKg float64) (float64, bool) {
	if !fb.ok || math.IsNaN(yNew) || math.IsNaN(yKg) || nNew <= 0 || nKg <= 0 {
		return 0, false
	}
	s := math.Hypot(fb.scale(nNew), fb.scale(nKg))
	return fb.test.Clip((yNew - yKg - fb.shift) / s), true
}

func (fb *fallback) scale(n float64) float64 { return fb.tau / math.Sqrt(min(n, fb.nRef)) }

// normalQuantile is the standard normal quantile.
func normalQuantile(p float64) float64 {
	if p <= 0 {
		return math.Inf(-1)
	}
	if p >= 1 {
		return math.Inf(1)
	}
	return -math.Sqrt2 * math.Erfcinv(2*p)
}

// latencyTrend is compare_latency's allowance for the known-good's own
// latency drifting between the baseline and the watch (load rising through
// the morning): a version that is no slower than the known-good would be
// now has a slow share that grew by the same factor since the baseline.
// The baseline's slow counts (TC(X0:) per period) are fitted with a
// log-linear trend (seqtest.RateTrend), and the slope's lower bound, the
// point estimate less trendZ standard errors, is allowed: a period at time
// t is judged as if it had e^(β·(t − t0)) times its invocations, t0 being
// the reference block's invocation-weighted centre. Using the lower bound
// allows only a rise the baseline shows beyond its noise (none on a steady
// service, nor at a few slow invocations an hour, where the slope is
// unknown); compare_latency's margin min_effect covers the rest. The
// allowance is fixed when the watch starts, from data before the deploy,
// so the test stays an e-process.
type latencyTrend struct {
	perHour float64 // the slope's lower bound in log slow share per hour (0: none)
	from    int64   // t0 (Unix ns)
}

// trendZ is how many standard errors the allowed slope stays below the
// baseline's estimate.
const trendZ = 2

// trendOf fits the baseline's periods (start times ts, slow counts x,
// invocations n); the reference block is the periods from cut on.
func trendOf(ts []int64, x, n []float64, cut int) latencyTrend {
	if len(ts) == 0 || cut >= len(ts) {
		return latencyTrend{}
	}
	hours := make([]float64, len(ts))
	for i, t := range ts {
		hours[i] = float64(t-ts[0]) / float64(time.Hour)
	}
	beta, se, ok := seqtest.RateTrend(hours, x, n)
	lo := beta - trendZ*se
	if !ok || lo <= 0 {
		return latencyTrend{}
	}
	var sn, snt float64
	for i := cut; i < len(ts); i++ {
		sn += n[i]
		snt += n[i] * hours[i]
	}
	if sn <= 0 {
		return latencyTrend{}
	}
	return latencyTrend{perHour: lo, from: ts[0] + int64(snt/sn*float64(time.Hour))}
}

// Drift the baseline cannot show. Below a few thousand slow invocations an
// hour the baseline's slope is lost in its noise (trendOf allows none), yet
// a known-good's latency rises with the morning's load by 5-15% an hour, and
// its share above a fixed threshold near its p99 rises faster: about 1.5x
// in half an hour at the fastest. A fixed margin large enough for that
// (min_effect 0.1) hides a 1.5x or 2x p99 in the first minutes, when the
// drift has had no time to happen; one small enough for the first minutes
// (0.05) rolled back 2 of 1,000 drifting good deploys 23-29 minutes in. So
// compare_latency's margin grows with the time since the deploy: a period
// ending t after it is judged as if the known-good's slow share had risen
// by a factor 1 + rate·t, rate driftPerHour (1.5 at 30 minutes, the default
// baseline_horizon, past which the rule alerts only) or, with a shape
// history, the day's bound when smaller (dayDrift). The factor depends on
// the clock and data before the deploy alone, fixed before the period's
// counts, so the test stays an e-process. Quality benchmark, tuning seeds
// 1-300, against min_effect 0.1 alone: 768 -> 789 of 900 p99 regressions
// caught in time (780 at driftPerHour throughout), none of 7,500 good
// deploys rolled back; seeds 301-1300 of good/latency-drift: none rolled
// back (quality/FINDINGS.md, stop 67).
const driftPerHour = 1.0

// driftAt is the factor for unseen drift, at rate per hour, of a period q
// of a watch that started at start (Unix ns).
func driftAt(rate float64, start int64, q *period) float64 {
	return 1 + rate*max(0, float64(q.end-start))/float64(time.Hour)
}

// The day's drift. driftPerHour is what the fastest drift on the quality
// benchmark needs; a service whose latency does not drift pays for it all
// the same, and a weak regression that no test catches in the first
// minutes is then inside the margin by the time the evidence would have
// sufficed (caught 15-29 minutes in with a fixed 0.1 margin, not within
// the half hour at driftPerHour: 11 of 900 on the tuning seeds). The
// shape history's day of slow counts (TC(X0:) over shape_window) shows
// how fast this service's slow share moves: in blocks of dayDriftBlock,
// each block's log share against the next's gives a rise per hour, with a
// standard error from the minutes' own scatter (overdispersion included,
// Poisson at least); the largest rise plus dayDriftZ standard errors
// bounds the day's fastest rise, with probability Φ(dayDriftZ) at least,
// whatever block it was in. Two-hour blocks: a morning's rise lasts hours,
// and per hour the standard error of a rise between two-hour blocks is a
// third of that between hours (a p99.9's 100 slow invocations an hour
// allowed 1.0 an hour between hours, 0.2-0.6 between two-hour blocks). The
// allowance is the smaller of that and driftPerHour, fixed before the
// watch from data before it: the test stays an e-process under the null
// that today's drift is no faster than the day's. Blocks with fewer than
// dayDriftMin slow invocations are left out (their shares say little);
// fewer than dayDriftPairs pairs of adjacent blocks leave driftPerHour.
// On the quality benchmark's steady services the p99 rule's allowance is
// 0.05-0.3 an hour, the p99.9 rule's 0.2-0.7; good/latency-drift's 0.4-1.4.
const (
	dayDriftZ     = 2
	dayDriftMin   = 30
	dayDriftPairs = 6
	dayDriftBlock = 2 * time.Hour
)

// dayDrift is the bound on the day's rise per hour in slow share (a rate
// for driftAt: e^b - 1 for a bound b on the rise in log share) from the
// history's periods (starts ts, slow counts x, invocations n), or false
// when the day cannot say.
func dayDrift(ts []int64, x, n []float64) (float64, bool) {
	if len(ts) == 0 {
		return 0, false
	}
	type block struct{ x, n, v float64 }
	first, last := slices.Min(ts), slices.Max(ts) // in any order
	blocks := make([]block, int((last-first)/int64(dayDriftBlock))+1)
	of := func(t int64) *block { return &blocks[len(blocks)-1-int((last-t)/int64(dayDriftBlock))] }
	for i, t := range ts {
		k := of(t)
		k.x += x[i]
		k.n += n[i]
	}
	for i, t := range ts {
		if k := of(t); k.n > 0 {
			d := x[i] - n[i]*k.x/k.n
			k.v += d * d
		}
	}
	bound, pairs := math.Inf(-1), 0
	for i := 1; i < len(blocks); i++ {
		a, b := blocks[i-1], blocks[i]
		if a.x < dayDriftMin || b.x < dayDriftMin {
			continue
		}
		va, vb := max(a.v, a.x), max(b.v, b.x) // at least Poisson
		rise := math.Log(b.x/b.n) - math.Log(a.x/a.n)
		se := math.Sqrt(va/(a.x*a.x) + vb/(b.x*b.x))
		bound = max(bound, (rise+dayDriftZ*se)/dayDriftBlock.Hours())
		pairs++
	}
	if pairs < dayDriftPairs {
		return 0, false
	}
	return math.Expm1(max(0, bound)), true
}

// at is the factor period q's invocations are scaled by: the allowed rise
// from t0 to the middle of the period.
func (lt latencyTrend) at(q *period) float64 {
	mid := q.start + (q.end-q.start)/2
	if lt.perHour <= 0 || mid <= lt.from {
		return 1
	}
	return math.Exp(lt.perHour * float64(mid-lt.from) / float64(time.Hour))
}
