package policy

import (
	"math"
	"time"

	"github.com/canaryd/canaryd/policy/seqtest"
)

// Epochs. A watch lasts a bake and a rollback window of hours, and a
// regression can appear hours in: a sum since the deploy would dilute it.
// So each rule runs several e-processes, started at fixed times after the
// deploy — the deploy itself (epoch 0), then the end of the bake time and
// every √2-fold of it (epoch k ≥ 1 starts at bake·2^((k-1)/2)) — and mixes
// them with weights 3/4 (epoch 0: the bake, where detection speed matters
// most) and 1/(4k(k+1)) (epoch k), which sum to 1. Each is a nonnegative
// supermartingale that is 1 until it starts, so the mixture is one too and
// Ville's inequality still bounds the probability that it ever reaches
// 1/α by α. A regression appearing at time t ≥ bake is judged by an epoch
// that started at most t/√2 before it, so its rate is diluted by at most
// √2 (about 1.4 times), at a cost of log(4k(k+1)) in evidence: 4.4 nats
// (a factor 84) two hours into a watch with a 10-minute bake. The schedule
// depends only on the watch's start and bake time, never on when the
// daemon promoted, so a replay reaches the same verdicts.

// maxEpochs bounds the epochs of a rule (the last one starts at
// bake·2^7.5, 30 hours with a 10-minute bake); evidence memory per watch
// is therefore bounded whatever its age.
const maxEpochs = 17

// maxColdPeriods bounds the periods compare_latency's joint cold-start
// test holds one by one (the last holds the sum of the rest): eight
// minutes at a 40 s warmup, past which the cold starts are under 0.001%.
const maxColdPeriods = 8

// epochStart is when epoch k starts (Unix ns); epoch 0 takes every period
// of the watch, the one containing the deploy included.
func (p *Policy) epochStart(start int64, k int) int64 {
	if k == 0 {
		return math.MinInt64
	}
	return start + p.epochOff[k]
}

// epochOffsets are the epochs' starts after the deploy (Compile).
func epochOffsets(bake time.Duration) (off [maxEpochs]int64) {
	for k := 1; k < maxEpochs; k++ {
		off[k] = int64(float64(bake) * math.Pow(2, float64(k-1)/2))
	}
	return off
}

// epochsAt is the number of epochs a period starting at t belongs to.
func (p *Policy) epochsAt(start, t int64) int {
	k := 1
	for k < maxEpochs && start+p.epochOff[k] <= t {
		k++
	}
	return k
}

// logEpochWeights are the logs of the epochs' weights.
var logEpochWeights = func() (w [maxEpochs]float64) {
	w[0] = math.Log(0.75)
	for k := 1; k < maxEpochs; k++ {
		w[k] = -math.Log(4 * float64(k) * float64(k+1))
	}
	return w
}()

// logEpochWeight is log of epoch k's weight.
func logEpochWeight(k int) float64 { return logEpochWeights[k] }

// epochAcc is one epoch's accumulated evidence for one rule.
type epochAcc struct {
	start int64
	x, n  float64 // tempered new-side counts
	off   float64 // compare_latency: their tempered cold-start allowance (expected events)
	// compare_latency with a warmup: the first periods one by one, the
	// last entry the sum of the rest (seqtest.TwoSample.LogECold).
	cold  [maxColdPeriods]seqtest.ColdPeriod
	nCold int
	z, m  float64 // fallback sums
	// Two-sample rules: the split periods' log likelihood ratios before
	// the first period judged against the baseline (pre), and after it
	// (split), which multiply the test against the baseline.
	pre, split []float64
	joined     bool
	stage      []float64     // compare_errors, epoch 0: against the baseline's minutes in turn (staged.go; nil: none)
	stageKG    bool          // stage has split periods' (the known-good's concurrent counts with the minutes)
	drift      float64       // the split periods' stagedDrift, summed
	driftTop   float64       // the highest drift has been (it sets the staged test aside for good)
	vec        []float64     // latency rules: against each period's own boundary (HardFailureGrid); bursty rate tests: the alternatives' log probabilities
	den        []float64     // bursty rate tests: the null's log probabilities per cell of burst shapes
	hedge      seqtest.Hedge // error_rate: the periods' failed shares bet against the threshold
	rawX, rawN float64
	disp       rateDiffs // the new side's period-to-period variation (incident.go)
	rawKX      float64
	rawKN      float64
	logY, wY   float64
	periods    int
	first      int64 // start of the first period added (0: none)
	last       int64 // end of the newest period added
}

func (a *epochAcc) add(inc *increment) {
	a.x += inc.x
	a.n += inc.n
	a.off += inc.off
	if inc.cold.N > 0 && a.start == math.MinInt64 { // epoch 0: the later ones start long after the cold starts
		if a.nCold < len(a.cold) {
			a.cold[a.nCold] = inc.cold
			a.nCold++
		} else {
			a.cold[len(a.cold)-1].Add(inc.cold)
		}
	}
	a.z += inc.z
	a.m += inc.m
	if inc.n > 0 && a.pre != nil {
		a.joined = true
	}
	if inc.split != nil {
		dst := a.pre
		if a.joined {
			dst = a.split
		}
		for i, v := range inc.split {
			dst[i] += v
		}
	}
	if inc.stage != nil && a.stage != nil {
		for i, v := range inc.stage {
			a.stage[i] += v
		}
		a.stageKG = a.stageKG || inc.split != nil
		a.drift += inc.drift
		a.driftTop = max(a.driftTop, a.drift)
	}
	for i, v := range inc.vec {
		a.vec[i] += v
	}
	for i, v := range inc.den {
		a.den[i] += v
	}
	a.hedge.Merge(&inc.hedge) // zero unless error_rate
	a.rawX += inc.rawX
	a.rawN += inc.rawN
	a.disp.add(inc.rawX, inc.rawN)
	a.rawKX += inc.rawKX
	a.rawKN += inc.rawKN
	a.logY += inc.logY
	a.wY += inc.wY
	a.periods++
	if a.first == 0 {
		a.first = inc.start
	}
	a.last = max(a.last, inc.end)
}

// Evidence is what a History has folded: per rule and epoch, the
// sufficient statistics of the periods it no longer needs to hold. It is
// immutable; a History replaces it when it folds more.
type Evidence struct {
	through      int64 // metric periods starting before this are folded
	probeThrough int64 // probe results before this are folded
	rules        [][]epochAcc
	lastEnd      []int64 // per rule: end of the newest folded period with data
	carries      []carry // per rule: what the folded periods pass on to the next
}

// carry is what a rule's evidence carries from one period to the next: the
// latency rules' cold-start scale bound (coldBound) and the invocations of
// their latest periods (scale-out cold starts, scaleout.go).
type carry struct {
	cold   float64               // 0: none yet (1)
	recent [scaleOutKeep]float64 // the latest periods' invocations, newest last
	seen   int                   // watch periods in recent (at most scaleOutKeep)
	rises  int                   // periods not judged for a rise in traffic (scaleout.go)
	busy   int                   // periods not judged against the baseline for their traffic (load.go)
	pools  int                   // periods not judged, the account's unreserved concurrency exhausted (capacity.go)
}

// carryOf is what rule i's folded periods pass on.
func (e *Evidence) carryOf(i int) carry {
	c := carry{}
	if e != nil && i < len(e.carries) {
		c = e.carries[i]
	}
	if c.cold == 0 {
		c.cold = 1
	}
	return c
}

// epochs returns rule i's folded epochs (nil when none).
func (e *Evidence) epochs(i int) []epochAcc {
	if e == nil || i >= len(e.rules) {
		return nil
	}
	return e.rules[i]
}

// ensureEpochs extends accs to n epochs, new ones empty.
func (p *Policy) ensureEpochs(accs []epochAcc, n int, r *rule, rb *ruleBase, start int64, splitBuf func() []float64) []epochAcc {
	for k := len(accs); k < n; k++ {
		a := epochAcc{start: p.epochStart(start, k)}
		if r.test == testTwoSample {
			a.pre, a.split = splitBuf(), splitBuf()
		}
		if k == 0 && rb.stage != nil {
			a.stage = splitBuf()
		}
		if r.isLatency() || rb.bursty != nil {
			a.vec = splitBuf()
		}
		if rb.bursty != nil {
			a.den = splitBuf()
		}
		accs = append(accs, a)
	}
	return accs
}

// ruleE is a rule's evidence at one instant: the log e-value of its test
// (for probe rules, of its absolute and its relative test) and the epoch
// that weighs most, whose numbers the finding shows.
type ruleE struct {
	logE, logRel float64
	best         int
	// compare_errors with the staged test (staged.go): its log e-value
	// and that of the test against the whole baseline, each before the
	// union bound's half (both -Inf without it).
	logStage, logWhole float64
	stageKG            bool // the known-good's concurrent counts were in it (split periods)
	// logDrift: the highest the known-good alongside's evidence against
	// the paired minutes has been (stagedDrift); once it reached
	// logStagedDriftE the staged test is set aside.
	logDrift float64
}

// evidenceOf mixes the epochs' e-values. The epoch findings show is the
// whole watch (epoch 0) unless a later one carries more weighted evidence
// against the new version.
func (p *Policy) evidenceOf(r *rule, rb *ruleBase, accs []epochAcc) ruleE {
	e := ruleE{logE: math.Inf(-1), logRel: math.Inf(-1), logStage: math.Inf(-1), logWhole: math.Inf(-1)}
	bestW := math.Inf(-1)
	for k := range accs {
		abs, rel := rb.epochLogE(r, &accs[k])
		lw := logEpochWeight(k)
		e.logE = seqtest.LogAddExp(e.logE, lw+abs)
		e.logRel = seqtest.LogAddExp(e.logRel, lw+rel)
		if w := lw + max(abs, rel); k == 0 || (w > bestW && max(abs, rel) > 0) {
			bestW = max(bestW, w)
			if k == 0 || w >= bestW {
				e.best = k
			}
		}
	}
	if rb.stage != nil {
		// Against the baseline's minutes in turn (staged.go): either
		// test at 2/α trips the rule, so each counts half.
		stage := math.Inf(-1)
		if len(accs) > 0 && accs[0].stage != nil {
			stage = rb.two.LogMix(accs[0].stage)
			e.stageKG, e.logDrift = accs[0].stageKG, accs[0].driftTop
			if e.logDrift >= logStagedDriftE {
				// The known-good alongside has left its baseline
				// rate: the minutes in turn no longer stand for it.
				stage = math.Inf(-1)
			}
		}
		e.logStage, e.logWhole = stage, e.logE
		e.logE = max(e.logE, stage) + logStagedHalf
	}
	return e
}

// epochLogE is one epoch's log e-value (abs) and, for probe rules, that of
// the test against the known-good's failure rate (rel; -Inf otherwise).
func (rb *ruleBase) epochLogE(r *rule, a *epochAcc) (abs, rel float64) {
	rel = math.Inf(-1)
	fb := 0.0
	if a.m > 0 && rb.fb.ok {
		fb = rb.fb.test.LogE(a.z, a.m)
	}
	if r.isLatency() {
		return rb.latencyLogE(r, a) + fb, rel
	}
	if rb.bursty != nil && a.vec != nil && r.test != testTwoSample {
		// error_rate, throttles: against every burst shape left open;
		// error_rate averages it with the periods' failed shares against
		// the threshold whatever the bursts (seqtest.Hedge).
		abs = rb.bursty.LogE(a.vec, a.den)
		if rb.hedge > 0 {
			abs = seqtest.LogAddExp(abs+logBurstyWeight, a.hedge.LogE()+logHedgeWeight)
		}
		return abs, rel
	}
	switch r.test {
	case testRate:
		if a.n > 0 {
			abs = rb.one.LogE(a.x, a.n)
		}
		return abs + fb, rel
	case testPerPeriod:
		if a.n > 0 {
			abs = rb.pois.LogE(a.x, rb.mu0*a.n)
		}
		return abs, rel
	case testProbe:
		if a.n > 0 {
			abs = rb.one.LogE(a.x, a.n)
			if rb.hasRef {
				rel = rb.probe2.LogE(rb.ref, seqtest.Block{X: a.x, N: a.n})
			}
		}
		return abs, rel
	}
	return rb.twoSampleLogE(a) + fb, rel
}

// latencyLogE is a latency rule's epoch log e-value without the
// percentile fallback's: latency against each period's own boundary;
// compare_latency the new side's counts against the baseline's, allowing
// the periods' cold starts (seqtest.TwoSample.LogEOffset), times the split
// periods' allocation. (The fallback's periods are others: its factor
// multiplies this one.)
func (rb *ruleBase) latencyLogE(r *rule, a *epochAcc) float64 {
	abs := 0.0
	switch {
	case r.test != testTwoSample && rb.bursty != nil:
		abs = rb.bursty.LogE(a.vec, a.den)
	case r.test != testTwoSample:
		abs = seqtest.HardFailureGrid.LogMix(a.vec)
	case a.nCold > 0 && rb.hasRef:
		// Epoch 0 with a warmup: every period, the cold starts judged
		// jointly.
		abs = rb.coldLogE(a)
	case a.n > 0 && rb.hasRef:
		abs = rb.two.LogEOffset(rb.ref, seqtest.Block{X: a.x, N: a.n}, a.off, nil)
	}
	if a.pre != nil {
		var both [seqtest.MaxAlternatives]float64
		for i := range a.pre {
			both[i] = a.pre[i] + a.split[i]
		}
		abs += rb.two.LogMix(both[:len(a.pre)])
	}
	return abs
}

// twoSampleLogE is compare_errors' epoch log e-value without the
// fallback's: while the watch only splits, the split periods alone (no
// nuisance to pay for); from the first period judged against the baseline
// on, times the test against the baseline, which goes on taking the split
// periods. The two parts concern different periods and the baseline is
// independent of the split periods before it, so the product is an
// e-process.
func (rb *ruleBase) twoSampleLogE(a *epochAcc) float64 {
	pre := 0.0
	if a.pre != nil {
		pre = rb.two.LogMix(a.pre)
	}
	switch {
	case a.joined && rb.hasRef && rb.bursty != nil:
		// Against the baseline's region of rates and burst shapes
		// (seqtest.NewBurstyRelative), times the split periods after it:
		// different periods, each factor of mean at most 1.
		return pre + rb.bursty.LogE(a.vec, a.den) + rb.two.LogMix(a.split)
	case a.joined && rb.hasRef:
		return pre + rb.two.LogEOffset(rb.ref, seqtest.Block{X: a.x, N: a.n}, a.off, a.split)
	}
	return pre
}

func cloneEpochs(accs []epochAcc) []epochAcc {
	out := make([]epochAcc, len(accs))
	copy(out, accs)
	for i := range out {
		if out[i].split != nil {
			out[i].pre = append([]float64(nil), out[i].pre...)
			out[i].split = append([]float64(nil), out[i].split...)
		}
		if out[i].stage != nil {
			out[i].stage = append([]float64(nil), out[i].stage...)
		}
		if out[i].vec != nil {
			out[i].vec = append([]float64(nil), out[i].vec...)
		}
		if out[i].den != nil {
			out[i].den = append([]float64(nil), out[i].den...)
		}
	}
	return out
}

// span is the time the epoch's evidence covers.
func (a *epochAcc) span() time.Duration {
	if a.first == 0 || a.last <= a.first {
		return 0
	}
	return time.Duration(a.last - a.first)
}

// error_rate's e-value is the average of two, each valid on its own:
// BurstyRate's, against the burst shapes the baseline leaves open, and
// Hedge's, against any bursts at all, at these weights. Hedge decides
// where a period's share is all there is (a few invocations a minute, a
// baseline that shows no bursts); its weight costs BurstyRate log 2 =
// 0.69 nats where BurstyRate decides.
var (
	logBurstyWeight = math.Log(0.5)
	logHedgeWeight  = math.Log(0.5)
)
