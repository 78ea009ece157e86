package policy

import (
	"math"
	"slices"
	"strings"
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

// hasShapeHistory reports whether the target reads a shape history: the
// split of a rule's δ depends on the configuration alone, never on what
// a watch's history holds.
func (p *Policy) hasShapeHistory() bool { return p.shapeWindow > p.baselineWindow }

// The version before. The alias-level baseline measures whatever served
// the alias in the baseline_window, and a window reaching back past the
// previous deploy measures two versions: a known-good that fixed an
// incident 8 minutes ago would be judged by the hour's errors, mostly its
// predecessor's, and a deploy three times worse than it would pass. So
// when the watch knows since when the version before the deploy served
// alone (Input.BaselineSince), and the window's error or throttle rate,
// or a Duration percentile, before then differs from that since
// (countsDiffer: the version before was not like it), the baseline
// starts at its first whole period, and the window's minutes before it
// are dropped. They are not even shape history: a rolled-back
// regression's few minutes of failures among the known-good's read as
// bursts, and the test then allowed bursts that hid the next deploy's 3x
// errors (daemon's TestFixThatDidNotFixRollsBack). The shape history
// before the window, if the target reads one, stays, a run of rates of
// its own (hourRuns), and informs compare_errors' prior only when its
// rate agrees with the known-good's (prepareTwoSample).
// A version seen alone for less than a whole period is not measured at
// all; its predecessor's window stands in for it, as without the time.
// Likewise its probe results from before then are dropped when they fail
// at another rate (a known-good that fixed a failing health check is not
// failing it). When the rates agree (a good deploy replaced by another:
// most), the window is left whole: a third of an hour's reference instead
// of an hour cost a third of the 3x regressions caught after a predecessor
// like the known-good (quality's bad/after-fix with such a predecessor,
// tuning seeds 1-300: 65 % with the whole window, 44 % cut). All of it
// is decided from the baseline, before the new version's counts.

// splitHistory separates the baseline's metric samples older than the
// baseline_window (before the newest period's end) from the rest: those
// are the shape history, read for count rules' burst shapes alone. With
// since (the version before the deploy served alone from then on; zero:
// not known), the window's samples before its first whole period at or
// after since are dropped when they show another version ("The version
// before"), and so are probe results before since. cut is the baseline's
// first period (unix ns) when since cut the window, else 0.
func (p *Policy) splitHistory(baseline []sample.Sample, since time.Time) (recent, old []sample.Sample, cut int64) {
	end := int64(math.MinInt64)
	for i := range baseline {
		if s := &baseline[i]; s.Kind == sample.KindMetric {
			end = max(end, s.Time.UnixNano()+int64(p.periodOf(s)))
		}
	}
	from := end - int64(p.baselineWindow)
	window := from
	if !since.IsZero() && end != math.MinInt64 {
		per := int64(p.period)
		c := since.UnixNano()
		if r := ((c % per) + per) % per; r != 0 {
			c += per - r // the first whole period at or after since
		}
		if c > from && c <= end-per && countsDiffer(baseline, from, c, end) {
			from, cut = c, c
		}
	}
	// The version before's probe results (before since), when they
	// differ from the known-good's own, are not its health.
	dropProbes := !since.IsZero() && probesDiffer(baseline, since)
	before := func(s *sample.Sample) bool {
		return dropProbes && s.Kind == sample.KindProbe && s.Time.Before(since)
	}
	if !p.hasShapeHistory() && cut == 0 && !dropProbes {
		return baseline, nil, 0
	}
	for i := range baseline {
		s := &baseline[i]
		switch {
		case before(s):
		case s.Kind != sample.KindMetric || s.Time.UnixNano() >= from:
			recent = append(recent, *s)
		case cut != 0 && s.Time.UnixNano() >= window:
			// The version before's minutes in the window: not even
			// shape history, since another version's failures (a
			// rolled-back regression's few minutes) read as bursts.
		default:
			old = append(old, *s)
		}
	}
	return recent, old, cut
}

// sameVersionZ is how many standard errors apart the rates before and
// after baseline_since may be for the window to count as one version's.
const sameVersionZ = 3

// countsDiffer reports whether the alias's error or throttle rate in the
// window's periods [from, cut) differs from that in [cut, end): the
// version before was not like the known-good. The sides are compared at
// the overdispersion the known-good's periods show around their own rate
// (Pearson's X², ratesDiffer), so neither the step between the sides nor
// a burst of another version's failures before it hides itself. When they agree the whole window is the known-good's
// evidence (most deploys are good: a predecessor like the known-good
// makes the baseline longer, not wrong).
func countsDiffer(baseline []sample.Sample, from, cut, end int64) bool {
	type counts struct{ inv, err, thr float64 }
	per := map[int64]*counts{}
	seen := map[int64]int{}
	for i := range baseline {
		s := &baseline[i]
		t := s.Time.UnixNano()
		if s.Kind != sample.KindMetric || s.Version != "" || s.Outcome != sample.OutcomeOK || t < from || t >= end || !isCount(s.Metric) {
			continue
		}
		c := per[t]
		if c == nil {
			c = &counts{}
			per[t] = c
		}
		switch s.Metric {
		case "Invocations":
			c.inv, seen[t] = s.Value, seen[t]|1
		case "Errors":
			c.err, seen[t] = s.Value, seen[t]|2
		case "Throttles":
			c.thr, seen[t] = s.Value, seen[t]|4
		}
	}
	var ex, en, tx, tn [2][]float64
	for t, c := range per {
		side := 0
		if t >= cut {
			side = 1
		}
		if seen[t]&3 == 3 {
			ex[side], en[side] = append(ex[side], c.err), append(en[side], c.inv)
		}
		if seen[t]&5 == 5 {
			tx[side], tn[side] = append(tx[side], c.thr), append(tn[side], c.inv+c.thr)
		}
	}
	return ratesDiffer(ex, en) || ratesDiffer(tx, tn) || percentilesDiffer(baseline, from, cut, end)
}

// samePercentile is the ratio of a Duration percentile's means (log
// scale) before and after baseline_since below which the two count as
// one version's whatever their standard errors: the per-period values
// drift together (load, the time of day), so their spread understates
// the uncertainty of a mean: with z alone a version before like the
// known-good was cut off in 6 of 300 tuning scenarios (bad/after-fix with
// such a predecessor: 65 -> 63 % caught), with a ratio of 1.25 in 4, with
// 1.5 in none.
const samePercentile = 1.5

// percentilesDiffer reports whether a Duration percentile's per-period
// values (log scale) before cut and since differ by more than
// sameVersionZ standard errors of the difference of their means, each
// side's spread its own, and by more than samePercentile (a version
// before that was slower, or faster).
func percentilesDiffer(baseline []sample.Sample, from, cut, end int64) bool {
	type sides [2][]float64
	by := map[string]*sides{}
	for i := range baseline {
		s := &baseline[i]
		t := s.Time.UnixNano()
		if s.Kind != sample.KindMetric || s.Version != "" || s.Outcome != sample.OutcomeOK || t < from || t >= end ||
			!strings.HasPrefix(s.Metric, "Duration.p") || s.Value <= 0 {
			continue
		}
		v := by[s.Metric]
		if v == nil {
			v = &sides{}
			by[s.Metric] = v
		}
		k := 0
		if t >= cut {
			k = 1
		}
		v[k] = append(v[k], math.Log(s.Value))
	}
	for _, v := range by {
		if len(v[0]) < 3 || len(v[1]) < 3 {
			continue
		}
		var mean, vr [2]float64
		for k := range 2 {
			for _, y := range v[k] {
				mean[k] += y
			}
			mean[k] /= float64(len(v[k]))
			for _, y := range v[k] {
				vr[k] += (y - mean[k]) * (y - mean[k])
			}
			vr[k] /= float64(len(v[k]) - 1)
		}
		se := math.Sqrt(vr[0]/float64(len(v[0])) + vr[1]/float64(len(v[1])))
		if d := math.Abs(mean[0] - mean[1]); d > math.Log(samePercentile) && d > sameVersionZ*se {
			return true
		}
	}
	return false
}

// ratesDiffer reports whether two sides' periods (x events in n trials
// each) have rates more than sameVersionZ standard errors apart on the log
// scale, each count with half an event added, the variance scaled by the
// dispersion side 1 (the known-good's) shows around its rate, or both
// sides' pooled within-side one when it has fewer than 3 periods (at
// least 1).
func ratesDiffer(x, n [2][]float64) bool {
	var sx, sn [2]float64
	for k := range 2 {
		for i := range x[k] {
			sx[k], sn[k] = sx[k]+x[k][i], sn[k]+n[k][i]
		}
		if sn[k] <= 0 {
			return false
		}
	}
	var chi2 [2]float64
	for k := range 2 {
		p := sx[k] / sn[k]
		for i := range x[k] {
			if mu := p * n[k][i]; mu > 0 {
				chi2[k] += (x[k][i] - mu) * (x[k][i] - mu) / mu
			}
		}
	}
	// The dispersion is the known-good's own (side 1) when it has periods
	// enough: side 0 may hold another version's burst of failures (a
	// rolled-back regression's few minutes), which would widen the
	// comparison until it hid itself.
	d, df := 1.0, len(x[1])-1
	if df < 2 {
		chi2[1], df = chi2[0]+chi2[1], max(0, len(x[0])-1)+max(0, len(x[1])-1)
	}
	if df > 0 {
		d = max(1, chi2[1]/float64(df))
	}
	a, b := sx[0]+0.5, sx[1]+0.5
	return math.Abs(math.Log(a/sn[0])-math.Log(b/sn[1])) > sameVersionZ*math.Sqrt(d*(1/a+1/b))
}

// probesDiffer reports whether the probe results before since fail at a
// rate other than those since (or none came since): the version before's
// health, not the known-good's.
func probesDiffer(baseline []sample.Sample, since time.Time) bool {
	var fail, all [2]float64
	for i := range baseline {
		s := &baseline[i]
		if s.Kind != sample.KindProbe || s.Outcome == sample.OutcomeSourceError {
			continue
		}
		k := 1
		if s.Time.Before(since) {
			k = 0
		}
		all[k]++
		if s.Outcome == sample.OutcomeFail {
			fail[k]++
		}
	}
	switch {
	case all[0] == 0:
		return false // nothing to drop
	case all[1] == 0:
		return true
	}
	// Two proportions (a health check fails a large share, or none):
	// their difference against its pooled standard error.
	p0, p1, p := fail[0]/all[0], fail[1]/all[1], (fail[0]+fail[1])/(all[0]+all[1])
	se := math.Sqrt(p * (1 - p) * (1/all[0] + 1/all[1]))
	return se > 0 && math.Abs(p0-p1) > sameVersionZ*se
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

// hasHistory reports whether the shape history holds periods of a count
// rule's events (compare_latency's slow counts are there only when the
// watcher read the baseline's trimmed counts over the shape_window too).
func (b *PreparedBaseline) hasHistory(r *rule, rb *ruleBase) bool {
	if b.hist == nil {
		return false
	}
	ts, _, _ := b.histBlocks(r, rb)
	return len(ts) > 0
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

// dayFitDelta is how much less likely than its best fit the hour's
// periods must make the day's 1/k for the hour's own, larger, estimate to
// replace it (historyDispersion): a likelihood ratio of 4. Measured on
// services burstier since the hour before the deploy than over the day
// (sim_test.go, "from the baseline on"): at 1/20 (a ratio of 20) such a
// service tripped in up to 6.0% of watches at α = 5%, at 1/4 in up to
// 4.4% (4.2% with the hour's estimate always); 1/4 keeps two thirds of
// what 1/20 gained on the quality tuning seeds.
const dayFitDelta = 0.25

// historyDispersion lets a count rule's shape history stand in for the
// slack of its tempering's 1/k (the baseline's periods ts, x, n). The
// hour's estimate is raised by a standard error of its few periods
// (seqtest.DispersionSlack), so that chance cannot make a bursty service
// look steady; a day of periods in runs of an hour measures 1/k to within
// a few percent, and the rule then tempers at the day's 1/k. The hour's
// plain estimate rules instead where it is larger and the hour's periods
// rule the day's 1/k out (seqtest.InvKFits at dayFitDelta): a service
// burstier within the hour than over the day keeps what the hour shows,
// while a few high periods that the day's bursts explain no longer temper
// the whole watch at the hour's reading (tuning seed bad/after-deploy 8:
// the hour read shape 1.4 where the day shows 5.6, and a regression
// tripped after 23 minutes instead of 9). Where the day shows bursts the
// hour's few periods missed, the day's 1/k is above the hour's raised one
// and rules.
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
	if hour > day && seqtest.InvKFits(x, n, hourEnds, day, dayFitDelta) {
		hour = day
	}
	rb.invK = max(day, min(rb.invK, hour))
	if sh.ts != nil {
		// The tail's dispersion follows the rule's (kgShift.tail).
		sh.tail(sh.from, rb.invK)
	}
}
