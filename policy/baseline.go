package policy

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy/seqtest"
	"github.com/canaryd/canaryd/sample"
)

// PreparedBaseline is what one watch's rules take from its pre-deploy
// baseline, computed once (Input.Prepared): the known-good rates and
// counts, the overdispersion of each count, the per-watch latency
// thresholds X and the trimmed-count metrics TC(X:) that count them, and
// the tests built from them. It is immutable.
type PreparedBaseline struct {
	p       *Policy
	metrics []string // the policy's metrics, then this watch's TC(X:) statistics
	series  [][]pt   // alias-level baseline series per metric id (metric rules)
	hist    [][]pt   // ... and of the shape history before it (shape.go; nil: none)
	rules   []ruleBase
	cut     int64 // the baseline's first period (unix ns) when Input.BaselineSince cut its window (shape.go), else 0
}

// ruleBase is one rule's per-watch parameters.
type ruleBase struct {
	events, eventsKg int // metric ids of the counted events, new and known-good side (-1 none)
	note             string
	judge            bool // the rule can judge (a missing baseline can make it unable to)

	one      *seqtest.Binomial          // one-sample rate test
	bursty   *seqtest.BurstyRate        // absolute count rules: the test against a null composite over bursts (nil: none)
	kLo      float64                    // ... the burst shape it allows down to (0: any)
	kFrom    burstSource                // ... what bounded it, and what bounded invKCap (findings)
	hedge    float64                    // error_rate: the null mean share Hedge bets against (0: none; seqtest.Hedge)
	pois     *seqtest.Poisson           // per-period count test
	mu0      float64                    // per-period null mean
	two      *seqtest.TwoSample         // two-sample test
	stage    *stagedRef                 // compare_errors: the baseline's minutes in turn (staged.go; nil: none)
	probe2   *seqtest.BinomialTwoSample // probe rules: failures against the known-good's before the deploy
	ref      seqtest.Block              // the baseline block, tempered
	hasRef   bool
	invK     float64 // 1/k of the counts' overdispersion (0: none)
	invKCap  float64 // compare_errors, and compare_latency with a shape history of its slow counts: an upper bound on 1/k, the tempering against the baseline (temperInvK)
	dayShape bool    // compare_errors: tempered at the shape history's bound on 1/k, the baseline's errors too few to show it (dayShapeBound)
	nullRate float64 // events per trial at the null boundary, for tempering
	upper    float64 // latency: the slow share a period is tested against before its cold-start allowance
	kgUpper  float64 // compare_errors during an incident: the known-good's rate since it began, raised to its upper bound (incident.go)

	fb       fallback // latency without counts
	logLevel float64  // log(1/α) the e-value must reach (less where α is split)

	// What findings show.
	threshold float64 // the effective threshold: a rate, ms, a count per period
	base      float64 // the known-good value findings show (rate, ms (latency), per period)
	hasBase   bool
	baseInv   float64 // latency: the invocations of the baseline periods base rests on (-1: unknown)
	rate      float64 // the known-good's events per trial in the baseline
	hasRate   bool
	baseRaw   seqtest.Block // the baseline's untempered counts
	kgBad     bool          // the known-good value breaches this absolute rule
	kgDoubt   bool          // ... may, during an incident another rule shows (incident.go, doubtKnownGood)
	capacity  float64       // throttles (a share): the demand a period the known-good could serve, beyond which throttles are not judged (0: none; capacity.go)
	capFrom   capSource     // ... what showed it
	poolRead  bool          // throttles: the baseline had the account's pool's use, which the watch reads too (capacity.go)
	shift     kgShift       // the known-good got worse within the baseline (an incident began)
	slowX     float64       // latency: invocations slower than this count (ms)
	slowX0    float64       // compare_latency: the known-good side's X
	coldMemo  *coldMemo     // compare_latency with a warmup: the joint cold-start test's last answer
	trend     latencyTrend  // compare_latency: the known-good's own rise in slow share the baseline shows
	drift     float64       // compare_latency: the rise in slow share allowed per hour since the deploy (driftAt)
	scaleTail float64       // latency: the most invocations of the baseline's last periods (scaleout.go)
	loadRef   float64       // compare_errors, compare_latency: the baseline's median invocations a period (load.go)
	loadSafe  bool          // compare_errors, compare_latency: the history (or baseline) shows its events not rising with load (load.go)
	load      loadTrend     // compare_errors, compare_latency: the known-good's rise in rate with its load the baseline shows (load.go)
}

// PrepareBaseline derives the per-watch parameters from the baseline
// samples (alias-level metric datapoints and probe results from before the
// deploy; nil when there are none). The verdicts are the same as passing
// Input.Baseline, only cheaper.
func (p *Policy) PrepareBaseline(baseline []sample.Sample) *PreparedBaseline {
	return p.PrepareBaselineSince(baseline, time.Time{})
}

// PrepareBaselineSince is PrepareBaseline for a watch whose version before
// the deploy served the alias alone since since (Input.BaselineSince;
// zero: not known).
func (p *Policy) PrepareBaselineSince(baseline []sample.Sample, since time.Time) *PreparedBaseline {
	baseline, old, cut := p.splitHistory(baseline, since)
	b := &PreparedBaseline{p: p, metrics: append([]string(nil), p.metrics...), rules: make([]ruleBase, len(p.rules)),
		cut: cut}
	for i := range p.rules {
		r := &p.rules[i]
		rb := &b.rules[i]
		rb.events, rb.eventsKg = r.events, r.events
		if r.isLatency() {
			b.prepareLatency(r, rb, baseline)
		}
	}
	b.series = p.baselineSeries(make([][]pt, len(b.metrics)), baseline, b)
	for i := range p.rules {
		r := &p.rules[i]
		if r.trials < 0 {
			continue
		}
		if r.isLatency() {
			b.rules[i].setScaleOut(b.series[r.trials])
		}
		if r.test == testTwoSample { // compare_errors, compare_latency
			b.rules[i].setLoadRef(b.series[r.trials])
		}
	}
	if len(old) > 0 {
		b.hist = p.baselineSeries(make([][]pt, len(b.metrics)), old, b)
	}
	// Each count rule's per-period baseline counts; first what they say
	// about an incident (a step), shared between the rules, then the
	// tests, whose tempering depends on it.
	type counts struct {
		ts   []int64
		x, n []float64
	}
	series := make([]counts, len(p.rules))
	for i := range p.rules {
		r := &p.rules[i]
		rb := &b.rules[i]
		rb.judge = true
		if !r.isLatency() {
			rb.logLevel = r.logLevel()
		}
		switch r.test {
		case testRate, testPerPeriod, testTwoSample:
			ts, x, n := b.blockSeries(r, rb.eventsKg)
			if rb.loadRef > 0 { // compare_errors, compare_latency (setLoadRef)
				// The busy periods are left out of every statistic of
				// the baseline: its rate, dispersion, steps and trend.
				// What the load does to the events, over the shape
				// history and the baseline (older first), busy periods
				// included.
				lx, ln := x, n
				if b.hist != nil {
					_, hx, hn := blockSeriesOf(b.hist, r, rb.eventsKg)
					lx, ln = slices.Concat(hx, x), slices.Concat(hn, n)
				}
				rb.setLoadSafe(lx, ln)
				rb.load.k = loadExponent(lx, ln)
				ts, x, n = rb.quiet(ts, x, n)
			}
			b.setCapacity(r, rb, ts, x, n)
			rb.allowCapacity(x, n)
			series[i] = counts{ts, x, n}
			rb.setBaseCounts(r, x, n)
			b.shift(r, rb, ts, x, n, r.test == testPerPeriod, false)
		case testProbe:
			ts, x, n := b.probeBlocks(r, baseline)
			series[i] = counts{ts, x, n}
			rb.setBaseCounts(r, x, n)
			// Partial periods (the baseline window's edges: one probe
			// result in the minute of the deploy) would rank as extremes:
			// only whole ones say whether the known-good got worse.
			wts, wx, wn := wholePeriods(ts, x, n)
			b.shift(r, rb, wts, wx, wn, false, true)
		}
	}
	b.shareShift()
	for i := range p.rules {
		r := &p.rules[i]
		rb := &b.rules[i]
		switch r.test {
		case testRate, testPerPeriod, testTwoSample:
			if r.test != testPerPeriod {
				b.historyDispersion(r, rb, series[i].ts, series[i].x, series[i].n)
			}
			b.prepareCounts(r, rb, series[i].ts, series[i].x, series[i].n)
		case testProbe:
			b.prepareProbe(r, rb, series[i].x, series[i].n)
		}
		rb.shift.ts, rb.shift.x, rb.shift.n = nil, nil, nil
	}
	b.doubtKnownGood()
	return b
}

// metricID resolves a per-watch metric name, adding it when new.
func (b *PreparedBaseline) metricID(name string) int {
	for i, m := range b.metrics {
		if m == name {
			return i
		}
	}
	b.metrics = append(b.metrics, name)
	return len(b.metrics) - 1
}

// blockSeries are a baseline count's per-period events and trials, for
// the periods where both were delivered, with the periods' starts.
func (b *PreparedBaseline) blockSeries(r *rule, events int) (ts []int64, x, n []float64) {
	return blockSeriesOf(b.series, r, events)
}

// blockSeriesOf is blockSeries over the series given (the baseline's or
// its history's).
func blockSeriesOf(series [][]pt, r *rule, events int) (ts []int64, x, n []float64) {
	if events < 0 {
		return nil, nil, nil
	}
	if r.test == testPerPeriod {
		for _, q := range series[events] {
			if q.out == outOK {
				ts, x, n = append(ts, q.t), append(x, q.v), append(n, 1)
			}
		}
		return ts, x, n
	}
	for _, q := range series[r.trials] {
		if q.out != outOK {
			continue
		}
		ev, ok := pointAt(series[events], q.t)
		if !ok || ev.out == outSrcErr {
			continue
		}
		trials := q.v
		if r.extraTrials >= 0 {
			if v, ok := valueAt(series[r.extraTrials], q.t); ok {
				trials += v
			}
		}
		e := 0.0
		if ev.out == outOK {
			e = ev.v
		}
		if trials > 0 {
			ts, x, n = append(ts, q.t), append(x, min(max(e, 0), trials)), append(n, trials)
		}
	}
	return ts, x, n
}

// setBaseCounts sums a rule's baseline counts.
func (rb *ruleBase) setBaseCounts(r *rule, x, n []float64) {
	for i := range x {
		rb.baseRaw.X += x[i]
		rb.baseRaw.N += n[i]
	}
	if rb.baseRaw.N > 0 {
		rb.rate, rb.hasRate = rb.baseRaw.X/rb.baseRaw.N, true
		if !r.isLatency() {
			rb.base, rb.hasBase = rb.rate, true
		}
	}
}

// prepareCounts builds a count rule's tests from its baseline counts.
func (b *PreparedBaseline) prepareCounts(r *rule, rb *ruleBase, ts []int64, x, n []float64) {
	switch r.test {
	case testRate:
		b.prepareRate(r, rb)
		b.prepareBursty(r, rb, ts, x, n)
	case testPerPeriod:
		rb.mu0 = r.threshold
		if r.rel == relDelta {
			rb.mu0 = rb.rate + r.threshold
			rb.judge = rb.hasRate
		} else {
			rb.kgBad = rb.hasRate && rb.rate >= r.threshold
		}
		rb.threshold, rb.nullRate = rb.mu0, rb.mu0
		rb.pois = seqtest.NewPoisson(&seqtest.DefaultGrid)
		b.prepareBursty(r, rb, ts, x, n)
	case testTwoSample:
		b.prepareTwoSample(r, rb, ts, x, n)
	}
	if !rb.judge && rb.note == "" {
		rb.note = "no pre-deploy baseline to compare with"
	}
}

// priorShare is the share of a two-sample rule's baseline periods (the
// earliest) that only set the prior on the known-good rate.
const priorShare = 0.25

// informedWeight is the weight of the prior learnt from those periods
// (the rest stays on the vague prior, should the rate have moved since).
const informedWeight = 0.75

// historyPrior is a two-sample count rule's tempered events and trials
// over the newest baseline_window of its shape history, which ends where
// the baseline begins (for compare_latency, the known-good's counts slower
// than its threshold X0, when the watcher reads the trimmed counts over
// the shape_window too); false when the target reads none or that stretch
// holds no trials. They join the baseline's first quarter in setting the
// prior on the known-good rate: a prior five times as informed costs
// ½·log(1 + 0.75/1.25) instead of ½·log(1 + 3) nats of not knowing the
// rate. Being before the reference block, the stretch keeps the test
// valid whatever it showed; the rate of a version before the known-good
// (deployed within it), or a rate that moved since, costs the informed
// component's weight, as the quarter's own moved rate does. The
// reference block stays the baseline's last three quarters: a rate that
// drifts up with the time of day is then judged against a recent value
// (the whole hour as the reference, the history alone as the prior,
// rolled back 3 of 1,000 good deploys of the quality benchmark's diurnal
// drift; this, none).
func (b *PreparedBaseline) historyPrior(r *rule, rb *ruleBase) (seqtest.Block, bool) {
	if b.hist == nil {
		return seqtest.Block{}, false
	}
	ts, x, n := b.histBlocks(r, rb)
	if len(ts) == 0 {
		return seqtest.Block{}, false
	}
	from := ts[len(ts)-1] + int64(b.p.period) - int64(b.p.baselineWindow)
	i, _ := slices.BinarySearch(ts, from)
	blk := rb.tempered(x[i:], n[i:])
	return blk, blk.N > 0
}

// tempered sums a count rule's periods (x events in n trials each), each
// divided by its tempering divisor at the baseline's rate.
func (rb *ruleBase) tempered(x, n []float64) (blk seqtest.Block) {
	for i := range x {
		phi := rb.phi(rb.rate * n[i])
		blk.X += x[i] / phi
		blk.N += n[i] / phi
	}
	return blk
}

// sameRate reports whether two blocks' rates agree: their log ratio is
// within sameVersionZ standard errors (ratesDiffer, one period a side).
func sameRate(a, b seqtest.Block) bool {
	return a.N > 0 && b.N > 0 && !ratesDiffer([2][]float64{{a.X}, {b.X}}, [2][]float64{{a.N}, {b.N}})
}

// priorPeriods is how many of n baseline periods set the prior.
func priorPeriods(n int) int { return int(priorShare * float64(n)) }

// latencyPriorShape is the shape of compare_latency's Gamma prior on the
// known-good's slow share (its mean is 1 - NN/100).
const latencyPriorShape = 4.0

// prepareTwoSample sets up the test against the known-good: the
// baseline's counts tempered into the reference block.
func (b *PreparedBaseline) prepareTwoSample(r *rule, rb *ruleBase, ts []int64, x, n []float64) {
	r0 := twoSampleNull(r)
	rb.two = newTwoSample(r, r0)
	rb.hasRef = rb.hasRate
	if !rb.hasRef {
		rb.note = "no pre-deploy baseline to compare with: only periods split with the known-good version count"
	}
	switch {
	case !r.isLatency():
		b.dayShapeBound(r, rb, ts, x, n)
		rb.invKCap = b.invKCap(r, rb, ts, x, n, invKCapDelta)
	case b.hasHistory(r, rb):
		rb.invKCap = b.invKCap(r, rb, ts, x, n, invKCapDelta)
	default:
		// compare_latency without a day of its slow counts: the
		// baseline's 30 minutes bound 1/k loosely, so at a lower level
		// ("Tempering at a bound").
		rb.invKCap = b.invKCap(r, rb, ts, x, rb.load.exposures(n), latencyBaselineCapDelta)
	}
	cut := priorPeriods(len(x))
	early, rest := rb.tempered(x[:cut], n[:cut]), rb.tempered(x[cut:], n[cut:])
	all := seqtest.Block{X: early.X + rest.X, N: early.N + rest.N}
	rb.ref = all
	refN := n // the reference block's periods' invocations (loadTrend's n0)
	if hist, ok := b.historyPrior(r, rb); ok && rest.N > 0 && (early.N > 0 || b.cut != 0) {
		// The shape history's stretch just before the baseline informs
		// the prior too. With a cut (shape.go) that stretch is older
		// versions', and it does only when its rate agrees with the
		// known-good's own minutes: a version replaced for its
		// errors would centre the prior far from the known-good and
		// leave only the vague component. (The choice is made from the
		// baseline alone, before the new version's counts: the test
		// stays valid.)
		if b.cut == 0 || sameRate(hist, seqtest.Block{X: early.X + rest.X, N: early.N + rest.N}) {
			early.X, early.N = early.X+hist.X, early.N+hist.N
		}
	}
	if early.N > 0 && rest.N > 0 {
		// The baseline's first periods, and the shape history's just
		// before them, only inform the prior on the known-good rate; the
		// rest is the reference block the e-value is a likelihood ratio
		// of (seqtest.TwoSample.WithInformedPrior).
		rb.ref, refN = rest, n[cut:]
		rb.two = rb.two.WithInformedPrior(early.X, early.N, informedWeight)
	}
	rb.load.setN0(refN)
	rb.nullRate = r0 * rb.rate
	rb.threshold = r0 * rb.rate
	if !r.isLatency() && rb.hasRef && (!rb.shift.on || rb.shift.other) {
		// A step another rule found (shareShift) did not show in this
		// rule's counts, so its baseline is still one region of rates and
		// burst shapes: a service whose rare errors come in clumps keeps
		// the null that allows them. (Against the few quiet minutes since
		// that step, with no bursts allowed, a clump of 7 errors at 600
		// invocations a minute rolled back a good deploy:
		// good/clumpy-errors seed 41720.)
		b.prepareBurstyRelative(r, rb, r0, ts, x, n)
	}
	if !r.isLatency() && rb.hasRef && rb.bursty == nil && !rb.shift.on && rb.events >= 0 {
		rb.stage = newStagedRef(x, n)
	}
	if sh := &rb.shift; sh.on && !r.isLatency() && rb.hasRef && sh.recent.N > 0 && rb.bursty == nil {
		// The deploy's own period is then judged with the known-good's
		// part of it allowed at this bound (incident.go, deployPeriod);
		// the bound spends kgUpperDelta of α.
		rb.kgUpper = seqtest.UpperRate(sh.recent.X, sh.recent.N, kgUpperDelta*r.alpha)
		rb.logLevel = math.Log(1 / (r.alpha * (1 - kgUpperDelta)))
	}
	if r.isLatency() {
		prepareLatencyRef(r, rb, all)
	}
	if r.kind == config.RuleCompareLatency {
		rb.trend = trendOf(ts, x, n, cut)
		rb.drift = driftPerHour
		if b.hist != nil {
			hts, hx, hn := blockSeriesOf(b.hist, r, rb.eventsKg)
			if d, ok := dayDrift(hts, hx, hn); ok {
				rb.drift = min(rb.drift, d)
			}
		}
	}
}

// twoSampleNull is the null boundary of a two-sample test: the ratio of
// the new side's rate to the known-good's it may reach and still pass.
func twoSampleNull(r *rule) float64 {
	switch {
	case r.rel == relRatio:
		return r.threshold
	case r.isLatency():
		return 1 // min_effect is in the new side's threshold X1 = (1+min_effect)·X0
	}
	return 1 + r.minEffect
}

// newTwoSample is the two-sample test of a rule with null boundary r0.
func newTwoSample(r *rule, r0 float64) *seqtest.TwoSample {
	if nn, ok := percentileOf(r.stat); ok && r.isLatency() {
		// The known-good's share of invocations slower than its own pNN
		// is about 1 - NN/100 by construction: a prior centred there
		// (shape 4: ±50%) costs less evidence than the errors' wide one,
		// and a slow share cannot grow more than 1/(1 - NN/100)-fold, so
		// the grid stops at e^4.6 (100x) instead of e^12.
		return seqtest.NewTwoSamplePrior(r0, &seqtest.ShareGrid, latencyPriorShape, latencyPriorShape/(1-nn/100))
	}
	return seqtest.NewTwoSample(r0, &seqtest.CompareGrid)
}

// prepareLatencyRef sets a latency rule's known-good slow share, raised
// to its upper bound at α/8 (all: the whole tempered baseline): the
// absolute latency rule's periods are tested against it; for
// compare_latency it only sets the tempering (coldstart.go).
func prepareLatencyRef(r *rule, rb *ruleBase, all seqtest.Block) {
	if rb.hasRate {
		rb.upper = seqtest.UpperRate(all.X, all.N, r.alpha/8)
		rb.nullRate = rb.upper
	}
	rb.threshold = rb.slowX
	if !rb.hasBase && !rb.fb.ok {
		// Without a baseline there is no X to count above and no scale
		// for the log percentile: split periods cannot be judged either.
		rb.judge, rb.note = false, "no pre-deploy baseline: no known-good percentile to compare with"
	} else if rb.hasBase {
		rb.note = ""
	}
}

// slowerByCounts reports whether a latency rule's known-good was slower
// than its threshold X, by its own baseline counts (TC(X:)), at least as
// often as the rule's pNN allows: its pNN is above X too.
func (rb *ruleBase) slowerByCounts(r *rule) bool {
	return r.isLatency() && rb.hasRate && rb.rate >= rb.upper
}

// prepareRate sets up a one-sample rate test: the threshold rate, or the
// slow share a percentile allows (1 - NN/100).
func (b *PreparedBaseline) prepareRate(r *rule, rb *ruleBase) {
	p0 := r.threshold
	switch {
	case r.isLatency():
		nn, _ := percentileOf(r.stat)
		p0 = 1 - nn/100
		rb.upper = p0
		rb.threshold = rb.slowX
		// The known-good's own invocations, counted over the baseline
		// (TC(X:)), slower than X at least as often as the rule allows:
		// its pNN is above X too. The per-period percentile the
		// threshold and prepareFallback's check rest on is the slowest
		// invocation or so of a minute with a few dozen: a ratio rule's
		// 1.5 times it was below the known-good's own p99, and healthy
		// new versions at a few invocations a minute tripped it.
		if rb.slowerByCounts(r) {
			rb.kgBad = true
		}
		// A threshold relative to the known-good's pNN needs a pNN: with
		// fewer baseline invocations than 1/(1 - NN/100) it is the
		// slowest of a handful, about their median at a few an hour, and
		// a healthy version is slower than 1.5 times that every few
		// invocations.
		if r.rel != relAbsolute && rb.hasBase && rb.baseInv >= 0 && rb.baseInv < 1/p0 {
			rb.judge = false
			rb.note = fmt.Sprintf("the known-good's %s before the deploy rests on %g invocations, fewer than the %g a %s needs: no threshold relative to it",
				r.stat, rb.baseInv, math.Round(1/p0), r.stat)
		}
		if rb.events < 0 && !rb.fb.ok {
			rb.judge = false
		}
	case r.rel == relDelta:
		p0 = rb.rate + r.threshold
		rb.judge = rb.hasRate
		rb.threshold = p0
	default:
		rb.threshold = p0
		rb.kgBad = rb.hasRate && rb.rate >= p0
	}
	rb.nullRate = p0
	rb.one = seqtest.NewBinomial(p0, &seqtest.HardFailureGrid)
}

// burstDelta is the share of an absolute count rule's α its bound on the
// baseline's burstiness spends (seqtest.InvKUpper).
const burstDelta = 1.0 / 8

// burstKAlt is the burst shape of the alternatives of an absolute count
// rule whose baseline showed no bursts: a bad version's errors need not
// be as steady as a binomial's, and a binomial alternative on a grid of
// rates loses nats per period to the grid's spacing at high traffic.
const burstKAlt = 20.0

// prepareBursty sets up an absolute count rule's test (error_rate,
// throttles, latency with counts) against a null composite over bursts
// (seqtest.BurstyRate): the threshold's bursts are not seen where the
// baseline runs, often a hundred times below it, so the null allows any
// burst shape the baseline does not rule out at burstDelta·α (x, n: its
// events and trials per period), or that burst_cv does not.
func (b *PreparedBaseline) prepareBursty(r *rule, rb *ruleBase, ts []int64, x, n []float64) {
	count := r.test == testPerPeriod
	p0 := rb.mu0
	if !count {
		p0 = rb.one.P0()
	}
	if (r.isLatency() && rb.events < 0) || p0 <= 0 || (!count && p0 >= 1) {
		return
	}
	if up, from := b.invKUpper(r, rb, ts, x, n, burstDelta*r.alpha); !math.IsInf(up, 1) {
		rb.kLo, rb.kFrom = 1/up, from
	}
	if r.burstCV > 0 {
		// burst_cv: the rule's own assumption, a gamma multiplier of
		// coefficient of variation at most burst_cv, shape 1/cv².
		rb.kLo = max(rb.kLo, 1/(r.burstCV*r.burstCV))
	}
	kAlt := burstKAlt
	if rb.invK > 0 {
		kAlt = 1 / rb.invK
	}
	if count {
		rb.bursty = seqtest.NewBurstyCount(p0, rb.kLo, kAlt, &seqtest.DefaultGrid)
	} else {
		g := &seqtest.HardFailureGrid
		if r.kind == config.RuleThrottles {
			g = &seqtest.ThrottleGrid // the throttled shares that matter (grid.go)
		}
		rb.bursty = seqtest.NewBurstyRate(p0, rb.kLo, kAlt, g)
	}
	if r.kind == config.RuleErrorRate {
		// The minutes' failed shares too, whatever their bursts
		// (seqtest.Hedge; evidence.go's weights). Not throttles: a
		// minute throttled at 10x the threshold is worth less as a
		// share than against the burst shapes, and halving their weight
		// cost throttling's median 5 s for nothing caught.
		rb.hedge = p0
	}
	rb.spend(burstDelta * r.alpha) // the bound on the bursts
}

// relKSafe is the smallest burst shape for which compare_errors'
// tempered test holds its level: simulated at α = 5% over a two-hour
// watch, shape 0.3 at 0.03% and 0.5 at 0.3% gave 4.5% and 4.0% false
// alarms, shape 0.2 at 1% 7.5%, and shape 0.05 at 0.03% 8.7% (the
// shapes at 0.03% measured with a test sampler that, at rates below about
// 1e-19, drew events from nothing: 38% then; the 0.3 case not measured
// again).
const relKSafe = 0.5

// relMinEvents: a baseline with fewer errors than this cannot show the
// shape of their bursts (InvK's minDispersionEvents, below which it reads
// binomial: the assumption a clumpy service breaks), so compare_errors
// takes them as any shape.
const relMinEvents = 10

// prepareBurstyRelative chooses compare_errors' test against the
// baseline from the baseline alone. When the baseline's errors come in
// clumps (the likeliest burst shape is below relKSafe) or are too few to
// show their shape (relMinEvents), the test composite over every (rate,
// shape) pair in the baseline's likelihood region at burstDelta·α
// (seqtest.NewBurstyRelative), which spends that; else the tempered
// two-sample test. The composite test costs a sparse service its
// fastest detection: a hard failure at 3-20 invocations a minute after a
// nearly errorless hour takes two to four minutes, not one, because a
// null of rare clumps that the hour does not rule out gives a minute
// entirely failed a chance of about a tenth. Without it, 22 of 300 good
// deploys of a service with clumps of rare errors were rolled back
// (good/clumpy-errors, tuning seeds 1-300; 7 of 300 on 10001-10300).
func (b *PreparedBaseline) prepareBurstyRelative(r *rule, rb *ruleBase, r0 float64, ts []int64, x, n []float64) {
	if (rb.baseRaw.X >= relMinEvents || rb.dayShape) && seqtest.LikeliestShape(x, n) >= relKSafe && !b.clumpyDay(r, rb, ts, x, n) {
		return // the tempered test (the region is only built when used)
	}
	// Steady alternatives (burstKAlt), not the baseline's clumps: a
	// regression as clumpy as the known-good's errors is one the region's
	// small shapes explain anyway, and clumpy alternatives against a
	// clumpy null left a steady 10x undetected for two hours.
	delta := burstDelta * r.alpha
	var t *seqtest.BurstyRate
	if b.p.hasShapeHistory() {
		// The region at δ/2, the shapes the history rules out (at δ/2)
		// excluded; when the hour's region has none of the history's
		// shapes left (the service's bursts changed), the region alone,
		// still at δ/2: either way the null holds the truth but with
		// probability δ.
		delta /= 2
		if up := b.shapeUpper(r, rb, ts, x, n, delta); !math.IsInf(up, 1) {
			t = seqtest.NewBurstyRelative(x, n, r0, 1/up, burstKAlt, delta, &seqtest.CompareHardGrid)
		}
	}
	if t == nil {
		t = seqtest.NewBurstyRelative(x, n, r0, 0, burstKAlt, delta, &seqtest.CompareHardGrid)
	}
	if t == nil {
		return
	}
	rb.bursty, rb.kLo = t, t.KLo()
	rb.spend(burstDelta * r.alpha) // the region backs the test
}

// dayShapeBound lets compare_errors' shape history show the shape of the
// errors' bursts when the baseline's are too few to (relMinEvents): when
// the day rules out every shape below relKSafe (its upper bound on 1/k at
// burstDelta·α, which the rule spends), the rule tempers at that bound
// instead of taking the errors as any shape (prepareBurstyRelative). A
// known-good measured for only minutes (a deploy soon after it replaced a
// failing version: shape.go's cut) has few errors however steady they
// are; against every (rate, shape) pair those minutes leave open, a 3x
// regression after a known-good's 9 errors in 11 minutes never tripped
// (quality bad/after-fix seed 56: e 0.04 after 41 errors in 1,395), and
// tempered at the day's bound (shape 54) it does. The choice is made from
// the baseline and its history alone, before the new version's counts.
func (b *PreparedBaseline) dayShapeBound(r *rule, rb *ruleBase, ts []int64, x, n []float64) {
	if !b.p.hasShapeHistory() || !rb.hasRef || rb.baseRaw.X >= relMinEvents || (rb.shift.on && !rb.shift.other) ||
		seqtest.LikeliestShape(x, n) < relKSafe {
		return // the composite test, whatever the day shows (prepareBurstyRelative)
	}
	up := b.shapeUpper(r, rb, ts, x, n, burstDelta*r.alpha)
	if math.IsInf(up, 1) || up > 1/relKSafe {
		return
	}
	rb.invK, rb.dayShape, rb.kFrom = max(rb.invK, up), true, burstFromHistory
	rb.spend(burstDelta * r.alpha)
}

// clumpyDay reports whether a count rule's shape history shows clumps
// (its 1/k over the day and the baseline, in runs of an hour, above
// 1/relKSafe) that the baseline's few events could not: eleven errors in
// an hour can read as shape 1.2 where the day's 700 show shape 0.06.
func (b *PreparedBaseline) clumpyDay(r *rule, rb *ruleBase, ts []int64, x, n []float64) bool {
	if b.hist == nil {
		return false
	}
	hx, hn, ends, _ := b.withHistory(r, rb, ts, x, n)
	return len(hx) > len(x) && seqtest.InvKRuns(hx, hn, ends, 0) > 1/relKSafe
}

// spend lowers what the rule's e-value must reach for a bound on the
// baseline that holds with probability 1 - delta: the test then runs at
// the α it had left, less delta.
func (rb *ruleBase) spend(delta float64) {
	rb.logLevel = -math.Log(math.Exp(-rb.logLevel) - delta)
}

// probeBlocks are a probe rule's baseline results per period: the
// periods' starts, failures and results.
func (b *PreparedBaseline) probeBlocks(r *rule, baseline []sample.Sample) (ts []int64, x, n []float64) {
	name := b.p.probeNames[r.probeID]
	blocks := map[int64]*seqtest.Block{}
	for i := range baseline {
		s := &baseline[i]
		if s.Kind != sample.KindProbe || (name != "" && s.Source != name) {
			continue
		}
		if s.Outcome != sample.OutcomeOK && s.Outcome != sample.OutcomeFail {
			continue
		}
		k := s.Time.UnixNano() - s.Time.UnixNano()%int64(b.p.period)
		blk := blocks[k]
		if blk == nil {
			blk = &seqtest.Block{}
			blocks[k] = blk
			ts = append(ts, k)
		}
		blk.N++
		if s.Outcome == sample.OutcomeFail {
			blk.X++
		}
	}
	slices.Sort(ts)
	x, n = make([]float64, 0, len(ts)), make([]float64, 0, len(ts))
	for _, k := range ts {
		x, n = append(x, blocks[k].X), append(n, blocks[k].N)
	}
	return ts, x, n
}

// prepareProbe sets up the two probe tests: the failure rate against the
// tolerated rate, and against the known-good's pre-deploy failure rate
// (x, n: its failures and results per period).
func (b *PreparedBaseline) prepareProbe(r *rule, rb *ruleBase, x, n []float64) {
	rb.one = seqtest.NewBinomial(r.tolerance, &seqtest.HardFailureGrid)
	rb.threshold, rb.nullRate = r.tolerance, r.tolerance
	rb.probe2 = seqtest.NewBinomialTwoSample(1 + r.minEffect)
	if rb.baseRaw.N > 0 {
		rb.hasRef = true
		// A block of the baseline's typical size at the null rate: each
		// result is tempered as a share of it.
		perBlock := rb.baseRaw.N / float64(len(x))
		for i := range x {
			phi := seqtest.Phi(rb.base*perBlock, rb.invK)
			rb.ref.X += x[i] / phi
			rb.ref.N += n[i] / phi
		}
		rb.kgBad = rb.base >= r.tolerance && rb.baseRaw.N >= float64(r.minSamples)
		rb.mu0 = perBlock
	}
}

// wholePeriods drops the periods with fewer than half the median
// period's trials.
func wholePeriods(ts []int64, x, n []float64) ([]int64, []float64, []float64) {
	if len(n) == 0 {
		return ts, x, n
	}
	med := slices.Clone(n)
	slices.Sort(med)
	half := med[len(med)/2] / 2
	var wts []int64
	var wx, wn []float64
	for i := range n {
		if n[i] >= half {
			wts, wx, wn = append(wts, ts[i]), append(wx, x[i]), append(wn, n[i])
		}
	}
	return wts, wx, wn
}

// probePhi is the tempering divisor of one probe result.
func (rb *ruleBase) probePhi(nullRate float64) float64 {
	return seqtest.Phi(nullRate*rb.mu0, rb.invK)
}

// valueAt is the delivered value of a sorted series at period start t.
func valueAt(s []pt, t int64) (float64, bool) {
	i := lowerBound(s, t)
	if i < len(s) && s[i].t == t && s[i].out == outOK {
		return s[i].v, true
	}
	return 0, false
}

// Tempering at a bound. compare_errors tempers its counts (the baseline's
// and the new side's against it) at u, an upper confidence bound on 1/k
// at invKCapDelta from the baseline's periods and the shape history (the
// day's narrows it), not at the estimate: φ(μ) = 1 + μ·u. The estimate
// is as noisy as the baseline is short: thirty minutes of ten errors in
// bursts of shape 1 read shape 1.1 to 3.3 in the watches that then
// tripped, and a baseline that reads steadier by chance also reads a
// lower rate (a gamma-mixed count's spread grows with its level), so the
// test was sure of the wrong rate with too little tempering on the new
// side. At the shipped α = 5e-4 such a healthy service tripped 37 times
// in 10,000 watches tempered at the estimate (7.4 times α) and once at
// the bound (TestSimulatedFalseAlarms, -sim.alpha 5e-4). The estimate is
// also wrong where the baseline's few events each (five errors a minute)
// cannot tell steady errors from bursts of shape 10 and a spike minute
// has a hundred times the traffic: its extra variance μ²/k, then 55
// times the binomial's, is what the bound allows for. The price is
// evidence where the bound is loose: without a shape history, a 2x
// regression at five errors a minute against a 30-minute baseline is
// judged as if its errors might come in bursts of shape 10-20 (see
// TestSimulatedDetection); with a day of history the bound is within a
// few percent of the estimate. Split periods, judged against the
// known-good's concurrent counts, keep the estimate: their null holds
// whatever the bursts' level. compare_latency tempers its slow counts
// (coldPhi) at the bound too, at this level where the shape history holds
// them (the watcher reads the known-good's trimmed counts over the
// shape_window). At α = 5e-4 with a day of history, at the estimate ->
// at the bound: cold starts of scale 0.3 at 300 a minute with slow counts
// in bursts of shape 1, 12 -> 1 of 4,000 watches; heavy-tailed slow
// counts of shape 1 at 1,000 a minute, 10 -> 7 of 10,000. Without a day,
// at a lower level (latencyBaselineCapDelta).

// invKCapDelta is the level of that upper bound: it guards the tempering
// against the estimate's noise, so a plain one-sided 95% bound, not a
// share of the rule's α (that is what the simulations above measure).
const invKCapDelta = 0.05

// latencyBaselineCapDelta is the level of compare_latency's bound on 1/k
// when it has no shape history, only its baseline's periods: a one-sided
// 70% bound. The 30-minute baseline bounds 1/k loosely (0.34 and 0.86 for
// the two latency rules of bad/p99-2x seed 2, whose estimate reads 0).
// Simulated at α = 5e-4 without history (TestSimulatedFalseAlarms), at
// the estimate -> at this bound: heavy-tailed slow counts of shape 1,
// 14 -> 0 of 4,000 watches (17 -> 1 of 6,000); cold starts with slow
// counts in bursts of shape 1, 13 -> 2 of 6,000, of shape 5, 8 -> 0 of
// 4,000; of scale 0.3 at 300 a minute in bursts of shape 1, 14 -> 0 of
// 4,000, at 1,000 a minute in bursts of shape 5, 13 -> 0 of 6,000 (six
// other cases: 0 either way). At a 50% bound 7 of 6,000 remained in two
// of them (2.3 times α).
// The price, quality's tuning seeds without the history's trimmed counts:
// bad/p99-1.5x 77 -> 71 % caught in time, p99-2x 81 -> 73 % (at the 95%
// bound 63 and 70 %). With a day of history nothing changes.
const latencyBaselineCapDelta = 0.3

// invKCap is a count rule's upper confidence bound on 1/k at level
// 1 - delta (invKCapDelta, or latencyBaselineCapDelta) from its baseline
// periods (ts, x, n) and its shape history; 0 when the counts have no
// events (nothing to temper).
func (b *PreparedBaseline) invKCap(r *rule, rb *ruleBase, ts []int64, x, n []float64, delta float64) float64 {
	up, from := b.invKUpper(r, rb, ts, x, n, delta)
	if math.IsInf(up, 1) {
		return 0
	}
	if up > rb.invK {
		rb.kFrom = from
	}
	return max(up, rb.invK)
}

// burstSource is what bounded a count rule's bursts, for its findings:
// its baseline's periods alone, or its shape history too.
type burstSource uint8

const (
	burstFromBaseline burstSource = iota
	burstFromHistory
	burstHistoryRuledOut // the baseline's: its periods reject the shape history's tighter one
)

func (s burstSource) String() string {
	switch s {
	case burstFromHistory:
		return "the shape history's bound"
	case burstHistoryRuledOut:
		return "the baseline's bound: its minutes are burstier than the shape history allows"
	}
	return "the baseline's bound"
}

// invKUpper is an upper confidence bound at level 1 - delta on 1/k of a
// count rule's bursts from its baseline periods (ts, x, n; an incident's
// with their own rate) and, with a shape history beyond them, from the
// history too: half of delta goes to each (shape.go), so the tighter
// holds at delta. +Inf when they have no events. The history's holds
// only while the bursts kept the day's shape: when the baseline's own
// periods reject it (seqtest.InvKFits at historyGuardDelta), the
// baseline's bound does (a dependency that began to flap within the
// hour: a day at shape 50, then shape 2, tripped 27 of 4,000 healthy
// watches at α = 5e-4 with the day's bound, 13 times α). The source says
// which bound holds.
func (b *PreparedBaseline) invKUpper(r *rule, rb *ruleBase, ts []int64, x, n []float64, delta float64) (float64, burstSource) {
	c := 0
	if rb.shift.on {
		c = len(x) - rb.shift.periods // the incident's periods have their own rate
	}
	runs := []int{c, len(x)} // seqtest.InvKUpper's runs (an empty one counts for nothing)
	hx, hn, ends, ok := b.withHistory(r, rb, ts, x, n)
	if !ok || len(hx) == len(x) {
		return seqtest.InvKUpperRuns(x, n, runs, delta), burstFromBaseline // no periods beyond the baseline's
	}
	delta /= 2
	base, hist := seqtest.InvKUpperRuns(x, n, runs, delta), seqtest.InvKUpperRuns(hx, hn, ends, delta)
	switch {
	case hist >= base:
		return base, burstFromBaseline
	case seqtest.InvKFits(x, n, runs, hist, historyGuardDelta):
		return hist, burstFromHistory
	}
	return base, burstHistoryRuledOut
}

// historyGuardDelta is the level at which the baseline's periods reject
// the history's bound on 1/k: lenient, as switching to the baseline's own
// bound can only temper more.
const historyGuardDelta = 0.05

// phi is the tempering divisor of a period expecting mu events, against
// the baseline (see invKCap).
func (rb *ruleBase) phi(mu float64) float64 {
	return seqtest.Phi(mu, rb.temperInvK())
}

// temperInvK is the 1/k a count rule tempers its periods at against the
// baseline: the upper bound where the rule has one (invKCap), else the
// estimate.
func (rb *ruleBase) temperInvK() float64 { return max(rb.invK, rb.invKCap) }
