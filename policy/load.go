package policy

import (
	"math"
	"slices"

	"github.com/canaryd/canaryd/policy/seqtest"
)

// Errors that rise with traffic. A dependency that saturates under load
// (a database's connections, a downstream's throttling) fails more of
// every version's requests while traffic is high: a spike of 3-10 times
// the usual traffic can double or triple the error rate of the version
// that runs, whichever it is. compare_errors against the pre-deploy
// baseline would read that as the new version's regression (quality kind
// good/load-errors: 15 of tuning seeds 1-100 and 30 of 101-300 rolled
// back without what follows), and no allowance bounded from the baseline
// can cover a load it never saw.
//
// A period whose invocations are at least loadJump times the baseline's
// median period (setLoadRef), and beyond its Poisson noise (busyAt), is
// therefore not judged against the baseline, unless the history shows
// that this service's errors do not rise with its load (loadSafe): its
// errors say as much about the load as about the version. The choices
// depend on the invocations and the baseline only, never on the watch's
// error counts, so the test stays valid. The busy periods of the baseline
// and its history are left out of the rate and burstiness the others are
// judged against (quiet, histBlocks). What
// skipping costs: a spike's minutes, which hold many of the watch's
// invocations (bad deploys with the kind's spikes, no history: 673 -> 631
// of 800 caught in time, a 2x error rate 64 -> 59 %, tuning seeds 1-200),
// and, while traffic stays that high, the comparison with the baseline
// altogether (the absolute rules and split periods, judged against the
// known-good's concurrent traffic, still judge them). A finding counts
// the periods left out.
//
// Latency that rises with traffic. Queueing at a saturating dependency
// slows every version's requests while traffic is high (durations times
// the load to the power 0.1-0.3: a 3-10x spike makes the p99 1.1-2 times
// as slow), and compare_latency rolled back good deploys there (quality
// kind good/load-latency: 28 of tuning seeds 1-100) as compare_errors did.
// Its busy periods are left out alike (after the first period of a rise,
// whose cold starts scaleout.go allows for), and its baseline's busy
// periods are left out of the slow share, dispersion, steps and trend the
// watch is judged against. Its slow counts have no shape history, so only
// the baseline's own busy periods can clear such loads (at p99 and 1,000
// invocations a minute, two minutes at 5x are expected to hold the 20 slow
// invocations that takes; the cold starts of a spike's first minute count
// against it).
//
// The clearance (loadSafe): over the baseline and its shape history, the
// periods at loadJump times the median of the hour around them or more
// (spikes, and the peaks of the day's cycle) had X errors where the rest
// of their hour's rate predicts E. When E is at least loadMinExpected and
// X + 2√X is at most loadTolerance·E (errors rise less than a quarter at
// such loads, at about two standard errors), busy periods are judged like
// the others: with a day's history those bad deploys are caught as before
// (693 of 800 either way). Without a history the baseline's hour rarely
// holds enough busy periods, and they are skipped. Where errors do rise
// with load (the load to the power 0.5), the bad deploys' spikes held
// evidence the good deploys' spikes show too: 652 -> 578 of 800.

// loadJump is the ratio of a period's invocations to the baseline's
// (setLoadRef) at which compare_errors and compare_latency do not judge
// it against the baseline.
const loadJump = 1.5

// setLoadRef records the invocations a busy period is measured against
// (the trials series, sorted by time): the median of the baseline's usable
// periods, or of its last loadRecent when more, so that traffic rising
// through the hour (the morning's: a third more an hour) is not read as a
// spike.
func (rb *ruleBase) setLoadRef(trials []pt) {
	var v []float64
	for _, q := range trials {
		if q.out == outOK {
			v = append(v, q.v)
		}
	}
	if len(v) == 0 {
		return
	}
	recent := medianOf(slices.Clone(v[max(0, len(v)-loadRecent):]))
	rb.loadRef = max(medianOf(v), recent)
}

// loadRecent is how many of the baseline's last periods give the level
// of traffic a rising hour ends at.
const loadRecent = 10

// medianOf is the median of v (sorted in place; the upper one of an even
// count).
func medianOf(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// busy reports whether period q, judged against the baseline, is busy
// for the baseline's traffic (busyAt loadRef) and the history does not
// clear such loads.
func (rb *ruleBase) busy(q *period) bool {
	return !q.split && rb.busyLoad(q.load)
}

// busyLoad reports whether n invocations a period are busy for the
// baseline's traffic, the history not clearing such loads.
func (rb *ruleBase) busyLoad(n float64) bool {
	return !rb.loadSafe && rb.loadRef > 0 && busyAt(n, rb.loadRef)
}

// busyAt reports whether n invocations are a busy period's where the
// median is ref: loadJump times it, and beyond its Poisson noise (three
// standard deviations: at 30 a minute, 61 and more).
func busyAt(n, ref float64) bool { return n >= loadJump*ref+3*math.Sqrt(ref) }

// quiet are the baseline's periods (starts, errors, invocations) that
// would not be busy in the watch: all of them when the history clears
// busy periods, else those not busyAt loadRef. The busy ones would put the
// errors of a load the watch does not judge into the rate and the
// burstiness it is judged against. The slices are compacted in place.
func (rb *ruleBase) quiet(ts []int64, x, n []float64) ([]int64, []float64, []float64) {
	if rb.loadSafe || rb.loadRef <= 0 {
		return ts, x, n
	}
	return dropBusy(ts, x, n, func(int) float64 { return rb.loadRef })
}

// dropBusy compacts the periods (starts, events, trials) in place to
// those not busyAt ref(i), the median period period i is measured
// against.
func dropBusy(ts []int64, x, n []float64, ref func(i int) float64) ([]int64, []float64, []float64) {
	k := 0
	for i := range n {
		if !busyAt(n[i], ref(i)) {
			ts[k], x[k], n[k] = ts[i], x[i], n[i]
			k++
		}
	}
	return ts[:k], x[:k], n[:k]
}

// localMedians are the median invocations of the loadWindow periods
// either side of each of n's (in time order).
func localMedians(n []float64) []float64 {
	k := len(n)
	med := make([]float64, k)
	// The window's values, kept sorted as it slides: one value leaves and
	// one enters per period (a day of history is 1,440 periods, read by
	// every count rule).
	win := slices.Clone(n[:min(k, loadWindow)])
	slices.Sort(win)
	for i := range n {
		if out := i - loadWindow - 1; out >= 0 {
			j, _ := slices.BinarySearch(win, n[out])
			win = slices.Delete(win, j, j+1)
		}
		if in := i + loadWindow; in < k {
			j, _ := slices.BinarySearch(win, n[in])
			win = slices.Insert(win, j, n[in])
		}
		med[i] = win[len(win)/2]
	}
	return med
}

// histBlocks are a count rule's shape history periods (blockSeriesOf),
// without the busy ones (loadJump times the median of the hour around
// them or more) when they are not judged in the watch either (quiet): the
// errors of a load the watch does not judge would read as bursts and a
// higher rate.
func (b *PreparedBaseline) histBlocks(r *rule, rb *ruleBase) (ts []int64, x, n []float64) {
	ts, x, n = blockSeriesOf(b.hist, r, rb.eventsKg)
	if r.test != testTwoSample || rb.loadSafe || rb.loadRef <= 0 || len(n) == 0 {
		return ts, x, n
	}
	med := localMedians(n)
	return dropBusy(ts, x, n, func(i int) float64 { return med[i] })
}

// loadMinExpected is the fewest errors the busy periods of the history
// must be expected to have for their count to clear busy periods.
const loadMinExpected = 20

// loadTolerance is the most the busy periods' errors may exceed their
// hours' rate, with two standard errors, for the history to clear them.
const loadTolerance = 1.25

// loadWindow is the half-width, in periods, of the hour around a history
// period whose median invocations and rate it is compared with.
const loadWindow = 30

// setLoadSafe decides whether the periods (x: errors, or slow
// invocations; n: invocations; in time order) of the shape history and
// the baseline show a compare_errors or compare_latency rule's events not
// rising with load (loadSafe).
func (rb *ruleBase) setLoadSafe(x, n []float64) {
	busy, expected := loadExcess(x, n)
	rb.loadSafe = expected >= loadMinExpected && busy+2*math.Sqrt(busy) <= loadTolerance*expected
}

// loadExcess compares the periods (errors x, invocations n, in time
// order) with at least loadJump times the median invocations of the
// loadWindow periods either side: their errors, and those the other
// periods of that window predict at their invocations.
func loadExcess(x, n []float64) (busy, expected float64) {
	k := len(n)
	med := localMedians(n)
	// Prefix sums of the periods that are not busy.
	sx, sn := make([]float64, k+1), make([]float64, k+1)
	for i := range n {
		sx[i+1], sn[i+1] = sx[i], sn[i]
		if !busyAt(n[i], med[i]) {
			sx[i+1], sn[i+1] = sx[i]+x[i], sn[i]+n[i]
		}
	}
	for i := range n {
		if !busyAt(n[i], med[i]) {
			continue
		}
		lo, hi := max(0, i-loadWindow), min(k, i+loadWindow+1)
		if qn := sn[hi] - sn[lo]; qn > 0 {
			busy += x[i]
			expected += n[i] * (sx[hi] - sx[lo]) / qn
		}
	}
	return busy, expected
}

// Rates that rise with a load the baseline shows. Below loadJump a period
// is judged, and a sustained rise in traffic (a morning's ramp, a launch:
// 2-4x an hour) spends many periods there: where the known-good's errors
// or slow share rise with its load (a dependency saturating), they rise
// with the ramp whichever version runs, and compare_errors and
// compare_latency rolled such good deploys back (quality kind
// good/ramp-load). So the rule fits the known-good's events to a power of
// its load: x ~ Poisson(n·c·n^κ) over the periods of the baseline (its
// busy ones included: they say the most about load) and, for counts it
// has (errors), the shape history's day, whose daily cycle spans a
// two- to fourfold load (seqtest.RateTrend on log n, overdispersion
// widening the standard error). The exponent's lower bound, the estimate
// less trendZ standard errors, is allowed: a period with n invocations is
// judged as if it had (n/n0)^κ times them when n is above n0, the
// reference block's invocation-weighted geometric mean period. A steady
// service's bound is 0 (no allowance), and so is one whose baseline and
// history span too little load to show it. Chosen from data before the
// deploy and from the watch's invocations, never its events, the
// allowance keeps the test an e-process; the busy periods beyond loadJump
// are still left out (the bound is fitted where the load was, and a spike
// goes past it).
type loadTrend struct {
	k  float64 // the exponent's lower bound (0: none)
	n0 float64 // the reference block's invocation-weighted geometric mean invocations a period
}

// loadKMax caps the allowed exponent. A slow share rises far faster than
// the durations: above a lognormal body's p99 (sigma 0.47), durations
// that follow the load to the power 0.3 make the share follow it to about
// 1.7; the cap leaves room for steeper tails and bounds a spurious fit.
const loadKMax = 4

// loadExponent is the lower bound of the exponent κ of the events' rate in
// the load, fitted over the periods (x events, n trials) of the history
// and the baseline (0: none shown). RateTrend skips periods without
// trials, whose log is then never read.
func loadExponent(x, n []float64) float64 {
	t := make([]float64, len(n))
	for i, v := range n {
		if v > 0 {
			t[i] = math.Log(v)
		}
	}
	beta, se, ok := seqtest.RateTrend(t, x, n)
	if lo := beta - trendZ*se; ok && lo > 0 {
		return min(lo, loadKMax)
	}
	return 0
}

// setN0 sets the reference block's invocation-weighted geometric mean
// period (invocations n of its periods).
func (lt *loadTrend) setN0(n []float64) {
	var s, sl float64
	for _, v := range n {
		if v > 0 {
			s += v
			sl += v * math.Log(v)
		}
	}
	if s > 0 {
		lt.n0 = math.Exp(sl / s)
	}
}

// exposures are the periods' invocations n weighted by the load's effect
// on their events' rate, (n/m)^k times n (m their largest), in both
// directions: how the baseline's periods differ in expected events once
// the load the baseline shows is allowed for, so that a bound on their
// bursts (seqtest.InvKUpperRuns, which takes one rate for all) does not
// take the load's swing for bursts. n itself when the baseline shows no
// effect of the load.
func (lt loadTrend) exposures(n []float64) []float64 {
	if lt.k <= 0 || len(n) == 0 {
		return n
	}
	m := slices.Max(n)
	out := make([]float64, len(n))
	for i, v := range n {
		if v > 0 {
			out[i] = v * math.Pow(v/m, lt.k)
		}
	}
	return out
}

// at is the factor a period of n invocations is scaled by.
func (lt loadTrend) at(n float64) float64 {
	if lt.k <= 0 || lt.n0 <= 0 || n <= lt.n0 {
		return 1
	}
	return math.Pow(n/lt.n0, lt.k)
}
