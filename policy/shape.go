package policy

import (
	"math"
	"slices"
	"time"

	"github.com/canaryd/canaryd/policy/seqtest"
	"github.com/canaryd/canaryd/sample"
)

// The shape history. A count's bursts have a shape (the negative
// binomial's k) that belongs to the service — a downstream dependency that
// blips, a retry storm — more than to the hour. An hour of rare errors
// cannot show it: three errors in an hour are as likely under steady
// errors as under rare big clumps, so the tests that must allow every
// shape the hour leaves open (compare_errors on a sparse or clumpy
// baseline, seqtest.NewBurstyRelative; the absolute count rules,
// seqtest.NewBurstyRate) give a minute entirely failed little weight. A
// target's shape_window reads the alias's count metrics further back,
// a day say, and those periods bound the shape alone: each hour has a
// rate of its own (seqtest.InvKUpperRuns), so the daily cycle of
// traffic and a drift of the error rate are not taken for bursts, and
// rates still come from the baseline_window. The bound spends half of
// what the rule's bound on the bursts spends (burstDelta·α); the hour's
// own bound the other half. Both hold together with probability
// 1 - burstDelta·α, so the tests stay valid as before: the history only
// narrows the shapes their nulls must allow.
//
// The assumption: the known-good's bursts had one shape over the whole
// shape_window. A service whose errors turned clumpy since (a new
// dependency) shows it in the hour, and compare_errors then falls back
// to the hour's region (NewBurstyRelative returns nil when the history's
// shapes and the hour's region do not meet); a change the hour cannot
// show either is what the shape_window's length is the user's choice for.

// shapeRun is how long a run of history periods with one rate is.
const shapeRun = int64(3600e9) // an hour, ns

// hasShapeHistory reports whether the target reads a shape history.
func (p *Policy) hasShapeHistory() bool { return p.shapeWindow > p.baselineWindow }

// The version before. The alias-level baseline measures whatever served
// the alias in the baseline_window, and a window reaching back past the
// previous deploy measures two versions: a known-good that fixed an
// incident 8 minutes ago would be judged by the hour's errors, mostly its
// predecessor's, and a deploy three times worse than it would pass. So
// when the watch knows since when the version before the deploy served
// alone (Input.BaselineSince), its probe results from before then are
// dropped (a known-good that fixed a failing health check is not failing
// it), and the baseline's rates come from its first whole period on, and the minutes before it join the shape history: they
// are another version's rates, but the service's bursts and capacity, and
// they still inform compare_errors' prior on the known-good's rate
// (historyPrior), which a different rate only costs the informed
// component's weight. They are a run of rates of their own (hourRuns).
// A version seen alone for less than a whole period is not measured at
// all; its predecessor's window stands in for it, as without the time.

// splitHistory separates the baseline's metric samples older than the
// baseline_window (before the newest period's end), or than the first
// whole period at or after since (the version before the deploy served
// alone from then on; zero: not known), from the rest: those are the
// shape history, read for count rules' burst shapes alone. cut is the
// baseline's first period (unix ns) when since cut the window, else 0.
func (p *Policy) splitHistory(baseline []sample.Sample, since time.Time) (recent, old []sample.Sample, cut int64) {
	end := int64(math.MinInt64)
	for i := range baseline {
		if s := &baseline[i]; s.Kind == sample.KindMetric {
			end = max(end, s.Time.UnixNano()+int64(p.periodOf(s)))
		}
	}
	from := end - int64(p.baselineWindow)
	if !since.IsZero() && end != math.MinInt64 {
		per := int64(p.period)
		c := since.UnixNano()
		if r := ((c % per) + per) % per; r != 0 {
			c += per - r // the first whole period at or after since
		}
		if c > from && c <= end-per {
			from, cut = c, c
		}
	}
	// The version before's probe results (before since) are not the
	// known-good's health.
	before := func(s *sample.Sample) bool {
		return s.Kind == sample.KindProbe && !since.IsZero() && s.Time.Before(since)
	}
	if !p.hasShapeHistory() && cut == 0 && !slices.ContainsFunc(baseline, func(s sample.Sample) bool { return before(&s) }) {
		return baseline, nil, 0
	}
	for i := range baseline {
		s := &baseline[i]
		switch {
		case before(s):
		case s.Kind != sample.KindMetric || s.Time.UnixNano() >= from:
			recent = append(recent, *s)
		case cut != 0 && !isCount(s.Metric):
			// The version before's latency and custom metrics: not
			// shape history, which is counts alone.
		default:
			old = append(old, *s)
		}
	}
	return recent, old, cut
}

// isCount reports whether metric is one of the alias's counts, which the
// shape history holds.
func isCount(metric string) bool {
	return metric == "Invocations" || metric == "Errors" || metric == "Throttles"
}

// shapeUpper is the upper confidence bound at level 1 - delta on 1/k of a
// count rule's bursts from its shape history and its baseline periods (ts,
// x, n) together, in runs of an hour (ending at the baseline's end) with
// a rate each; +Inf when they have no events.
func (b *PreparedBaseline) shapeUpper(r *rule, rb *ruleBase, ts []int64, x, n []float64, delta float64) float64 {
	hx, hn, ends, ok := b.withHistory(r, rb, ts, x, n)
	if !ok {
		return math.Inf(1)
	}
	return seqtest.InvKUpperRuns(hx, hn, ends, delta)
}

// withHistory is a count rule's shape history followed by its baseline
// periods (ts, x, n), and the ends of their runs of an hour; false when
// there are no periods at all.
func (b *PreparedBaseline) withHistory(r *rule, rb *ruleBase, ts []int64, x, n []float64) (hx, hn []float64, ends []int, ok bool) {
	var hts []int64
	if b.hist != nil {
		hts, hx, hn = b.histBlocks(r, rb)
		rb.allowCapacity(hx, hn)
	}
	hts, hx, hn = append(hts, ts...), append(hx, x...), append(hn, n...)
	if len(hts) == 0 {
		return nil, nil, nil, false
	}
	return hx, hn, b.hourRuns(hts), true
}

// hourRuns are the ends of the runs of an hour (ending at the last
// period's end) of periods starting at ts (ascending), as
// seqtest.InvKUpperRuns and seqtest.InvKRuns take them. The version
// before's periods (before the cut) end a run of their own.
func (b *PreparedBaseline) hourRuns(ts []int64) []int {
	end := ts[len(ts)-1] + int64(b.p.period)
	var ends []int
	for i := 1; i < len(ts); i++ {
		if (end-ts[i-1]-1)/shapeRun != (end-ts[i]-1)/shapeRun || (b.cut != 0 && ts[i-1] < b.cut && ts[i] >= b.cut) {
			ends = append(ends, i)
		}
	}
	return append(ends, len(ts))
}

// historyDispersion lets a count rule's shape history stand in for the
// slack of its tempering's 1/k (the baseline's periods ts, x, n). The
// hour's estimate is raised by a standard error of its few periods
// (seqtest.DispersionSlack), so that chance cannot make a bursty service
// look steady; a day of periods in runs of an hour measures 1/k to within
// a few percent, and the rule then tempers at the day's 1/k: no lower than
// the hour's plain estimate (a service burstier within the hour than over
// the day keeps what the hour shows), and above the hour's raised one
// when the day shows bursts the hour's few periods missed.
func (b *PreparedBaseline) historyDispersion(r *rule, rb *ruleBase, ts []int64, x, n []float64) {
	sh := &rb.shift
	if b.hist == nil || rb.invK <= 0 {
		return
	}
	hx, hn, ends, _ := b.withHistory(r, rb, ts, x, n)
	if len(hx) == len(x) {
		return // no history for this rule's counts
	}
	hourEnds := []int{len(x)}
	if c := sh.step; c > 0 && c < len(x) {
		// An incident began in the baseline: the periods after its
		// step have a rate of their own, as in seqtest.InvKSplit.
		hourEnds = []int{c, len(x)}
		at := len(hx) - len(x) + c
		if i, found := slices.BinarySearch(ends, at); !found {
			ends = slices.Insert(ends, i, at)
		}
	}
	day := seqtest.InvKRuns(hx, hn, ends, 1)
	hour := seqtest.InvKRuns(x, n, hourEnds, 0)
	rb.invK = max(day, min(rb.invK, hour))
	if sh.ts != nil {
		// The tail's dispersion follows the rule's (kgShift.tail).
		sh.tail(sh.from, rb.invK)
	}
}
