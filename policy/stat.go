package policy

import (
	"math"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy/seqtest"
)

// This file judges a statistical rule at one instant: the folded evidence
// plus the periods still open, mixed over epochs into one e-value.

// ruleResult is one rule's evaluation before it becomes a Finding.
type ruleResult struct {
	breached bool
	kgBad    bool  // the known-good breaches this absolute rule too: rolling back would not help
	worse    bool  // the known-good was failing too, but the new version is significantly worse (incident.go): rolling back helps
	relative bool  // the breach is against the pre-deploy baseline (not a threshold, not a concurrent split)
	vouch    bool  // the rule has judged enough evidence and found nothing
	pending  bool  // evidence against the new version is at least halfway (on the log scale) to tripping
	blocked  bool  // the rule cannot see now (its newest period is a source error, or nothing delivered)
	dataEnd  int64 // end of the newest delivered period (probes: result) with data
}

// statEval is a statistical rule's state after accumulating its epochs.
type statEval struct {
	accs       []epochAcc
	e          ruleE
	newest     int64 // end of the newest period seen (any state)
	newestSt   periodState
	dataEnd    int64
	sawPeriods bool
	rises      int // periods not judged for a rise in traffic (scaleout.go)
	busy       int // periods not judged against the baseline for their traffic (load.go)
	pools      int // periods not judged, the account's unreserved concurrency exhausted (capacity.go)
}

func (p *Policy) evalStat(c *evalCtx, r *rule, rb *ruleBase, w *watchInfo, in *Input) (ruleResult, Finding) {
	s := p.accumulate(c, r, rb, w, in.Evidence)
	var rr ruleResult
	rr.dataEnd = s.dataEnd
	level := rb.logLevel
	breachedRel := false
	if r.isProbe() && rb.hasRef {
		level = math.Log(2 / r.alpha) // α split between the absolute and the relative test
		breachedRel = s.e.logRel >= level
	}
	rr.breached = s.e.logE >= level || breachedRel
	best := &epochAcc{}
	if len(s.accs) > 0 {
		best = &s.accs[s.e.best]
	}
	var total epochAcc
	if len(s.accs) > 0 {
		total = s.accs[0]
	}
	if rr.breached {
		rr.kgBad, rr.worse = p.knownGoodBreaches(r, rb, best, &total, breachedRel)
		rr.relative = againstBaseline(r, best, s.e.logE >= level)
	}
	enough := total.rawN >= p.minEvidence(r)
	rr.vouch = !rr.breached && rb.judge && enough && p.canCompare(r, rb, &total)
	rr.pending = !rr.breached && max(s.e.logE, s.e.logRel) >= level/2
	rr.blocked = s.dataEnd == 0 || (s.sawPeriods && s.newestSt == psSrcErr)
	f := p.statFinding(r, rb, in, &rr, s, best, &total, level)
	f.Enough, f.Pending = enough, rr.pending
	return rr, f
}

// accumulate copies the folded epochs and adds the open periods.
func (p *Policy) accumulate(c *evalCtx, r *rule, rb *ruleBase, w *watchInfo, ev *Evidence) statEval {
	g := seqtest.DefaultGrid.Len()
	if cap(c.slab) < (4*maxEpochs+2)*g {
		c.slab = make([]float64, 0, (4*maxEpochs+2)*g)
	}
	c.slab = c.slab[:0]
	grab := func() []float64 {
		c.slab = append(c.slab, make([]float64, g)...)
		return c.slab[len(c.slab)-g:]
	}
	s := statEval{accs: copyEpochs(c.acc[:0], ev.epochs(r.idx), grab)}
	from, probeFrom := int64(math.MinInt64), int64(math.MinInt64)
	if ev != nil {
		from, probeFrom = ev.through, ev.probeThrough
		if r.idx < len(ev.lastEnd) {
			s.dataEnd = ev.lastEnd[r.idx]
		}
	}
	var recs []period
	if r.isProbe() {
		recs = probePeriods(c, r, probeFrom, math.MaxInt64)
	} else {
		recs = p.periods(c, r, rb, w, from, math.MaxInt64)
	}
	splitBuf, vecBuf := grab(), grab()
	cr := ev.carryOf(r.idx)
	for i := range recs {
		q := &recs[i]
		if q.end >= s.newest {
			s.newest, s.newestSt, s.sawPeriods = q.end, q.state, true
		}
		if q.state != psSrcErr {
			s.dataEnd = max(s.dataEnd, q.end)
		}
		s.accs, cr = p.addPeriod(r, rb, w, q, s.accs, cr, splitBuf, vecBuf, grab)
	}
	c.acc = s.accs
	s.rises, s.busy, s.pools = cr.rises, cr.busy, cr.pools
	s.e = p.evidenceOf(r, rb, s.accs)
	return s
}

// copyEpochs appends folded epochs to dst with their vectors copied into
// memory from grab (the evaluation's slab: the folded ones stay as they
// are).
func copyEpochs(dst, folded []epochAcc, grab func() []float64) []epochAcc {
	clone := func(v []float64) []float64 {
		if v == nil {
			return nil
		}
		c := grab()
		copy(c, v)
		return c
	}
	for _, a := range folded {
		if a.split != nil {
			a.pre, a.split = clone(a.pre), clone(a.split)
		}
		a.vec, a.den, a.stage = clone(a.vec), clone(a.den), clone(a.stage)
		dst = append(dst, a)
	}
	return dst
}

// addPeriod adds period q's evidence to the epochs it belongs to (adding
// those that start with it) and returns them with what q passes on to
// the next period (the cold-start scale bound, coldBound; the latest
// invocations, scaleout.go). split and vec are scratch space.
func (p *Policy) addPeriod(r *rule, rb *ruleBase, w *watchInfo, q *period, accs []epochAcc, cr carry, split, vec []float64, grab func() []float64) ([]epochAcc, carry) {
	inc, ok := p.increment(r, rb, w, q, split, vec, cr)
	if inc.rise {
		cr.rises++
	}
	if inc.busy {
		cr.busy++
	}
	if inc.pool {
		cr.pools++
	}
	cold := p.coldBound(r, rb, w, q, cr.cold)
	if r.isLatency() {
		cr = cr.after(q)
	}
	cr.cold = cold
	if !ok {
		return accs, cr
	}
	n := p.epochsAt(w.start, q.start)
	accs = p.ensureEpochs(accs, n, r, rb, w.start, grab)
	for k := range n {
		accs[k].add(&inc)
	}
	return accs, cr
}

// minEvidence is what a rule needs to have judged before it vouches:
// invocations, or probe results (min_samples), or periods for a count per
// period (min_samples).
func (p *Policy) minEvidence(r *rule) float64 {
	if r.isProbe() || r.test == testPerPeriod {
		return float64(r.minSamples)
	}
	return r.minInv
}

// canCompare reports whether a two-sample rule has something to compare
// with: a baseline, or split periods.
func (p *Policy) canCompare(r *rule, rb *ruleBase, a *epochAcc) bool {
	if r.test != testTwoSample {
		return true
	}
	return rb.hasRef || a.rawKN > 0 || a.m > 0
}

// knownGoodBreaches reports whether rolling back would not help: the
// known-good version breaches the rule too. Concurrently, when the
// tripping evidence comes from split periods; else just before the
// deploy — an absolute rule whose threshold the known-good was above over
// the baseline or its last minutes, or any rule when an incident began
// during the baseline (a step up in the known-good's counts, in this rule
// or another) and the new version is not significantly worse than the
// known-good since then (incident.go). worse says the known-good was
// failing too and the new version is significantly worse than it.
func (p *Policy) knownGoodBreaches(r *rule, rb *ruleBase, a, total *epochAcc, relBreach bool) (bad, worse bool) {
	if a.rawKN > 0 && r.test != testProbe {
		if r.test == testTwoSample || r.rel != relAbsolute {
			return false, false // the concurrent comparison already saw the known-good
		}
		return a.rawKX/a.rawKN >= rb.nullRate, false
	}
	if !rb.shift.on {
		// The known-good's last minutes (the tail without a step) above
		// the null rate. A probe rule's relative test compares with its
		// whole baseline; when those minutes were failing above the
		// tolerance (an incident too short or too light to show as a
		// step), that comparison does not say rolling back would help.
		recentBad := rb.shift.raw.N > 0 && rb.shift.raw.X/rb.shift.raw.N >= rb.nullRate
		if r.test == testTwoSample || (relBreach && !(r.isProbe() && recentBad)) {
			return false, false
		}
		// A rule the known-good breached too, over the baseline or its
		// last minutes: rolling back would not help unless the new
		// version is significantly worse than the known-good was just
		// before the deploy (below). At a few invocations a minute one or
		// two errors in the last minutes are above a 5% threshold; a
		// version failing every request is still worth rolling back from
		// that.
		if !rb.kgBad && !recentBad && !rb.kgDoubt {
			return false, false
		}
	}
	// The new version's own bursts count too: during an incident it runs
	// into the same failing dependency, and its periods since the deploy
	// soon show how bursty that makes its counts better than the tail's
	// few periods (a tail that read steady by chance would make a bursty
	// minute of a version as bad look worse). Not for latency, whose
	// first periods hold cold starts, nor probes.
	own := 0.0
	if !r.isProbe() && !r.isLatency() {
		own = total.disp.invK()
	}
	worse = rb.shift.worse(a, r.isProbe(), rb.invK, own, total.periods)
	return !worse, worse
}

// statFinding explains a statistical rule's result.
func (p *Policy) statFinding(r *rule, rb *ruleBase, in *Input, rr *ruleResult, s statEval, best, total *epochAcc, level float64) Finding {
	f := Finding{
		Rule: r.name, RuleKind: r.kind, Breached: rr.breached, Op: r.opStr,
		Window: best.span(), Samples: best.periods, Evidence: total.rawN, MinEvidence: p.minEvidence(r),
		Version: in.NewVersion, Alpha: math.Exp(-level),
	}
	if r.isProbe() && in.Split {
		f.Version = "" // probes reach the alias, whichever version answers
	}
	logE := max(s.e.logE, s.e.logRel)
	f.EValue = math.Exp(min(logE, 690)) // finite, so that findings stay JSON-encodable
	pv := math.Min(1, math.Exp(-logE))
	f.PValue = &pv
	f.Observed, f.Threshold = p.observed(r, rb, best)
	switch {
	case best.rawKN > 0 && !r.isLatency():
		// Split: the known-good version alongside is the reference.
		b := best.rawKX / best.rawKN
		f.Baseline = &b
		if r.test == testTwoSample {
			f.Threshold = rb.two.R0() * b
		}
	case rb.hasBase:
		b := rb.base
		f.Baseline = &b
	}
	f.Note = p.statNote(r, rb, in, rr, s, best, total, level)
	return f
}

// observed is the value a finding shows and what it is compared with: a
// rate, a percentile (ms), a count per period, or — for baseline-relative
// rules — the ratio or difference to the known-good value (never the raw
// value against a ratio threshold).
func (p *Policy) observed(r *rule, rb *ruleBase, a *epochAcc) (obs, thr float64) {
	rate := 0.0
	if a.rawN > 0 {
		rate = a.rawX / a.rawN
	}
	value := rate
	if r.isLatency() {
		value = 0
		if a.wY > 0 {
			value = math.Exp(a.logY / a.wY)
		}
	}
	switch {
	case r.rel == relRatio:
		return relative(relRatio, value, rb.base), r.threshold
	case r.rel == relDelta:
		return relative(relDelta, value, rb.base), r.threshold
	case r.kind == config.RuleLatency:
		return value, r.threshold
	case r.kind == config.RuleCompareLatency:
		return value, rb.slowX
	}
	return value, rb.threshold
}

// ratioNoBaseline stands in for x/0 when the known-good value is 0 and
// the new one is not: finite, so findings stay JSON-encodable.
const ratioNoBaseline = 1e9

func relative(m relMode, v, base float64) float64 {
	if m == relDelta {
		return v - base
	}
	if base == 0 {
		if v == 0 {
			return 1
		}
		return ratioNoBaseline
	}
	return v / base
}

// statNote says in words what the numbers are.
func (p *Policy) statNote(r *rule, rb *ruleBase, in *Input, rr *ruleResult, s statEval, best, total *epochAcc, level float64) string {
	nb := noteBuf{}
	switch {
	case rb.note != "":
		nb.constant(rb.note)
	case s.sawPeriods && s.newestSt == psSrcErr:
		nb.constant("only source errors in the newest period: not evidence")
	case s.dataEnd == 0:
		nb.constant("no recent data delivered")
	}
	p.countsNote(&nb, r, rb, best)
	if best.rawKN > 0 {
		kg := in.KnownGood
		nb.sep()
		nb.str("known-good ").str(kg).str(" alongside: ").num(best.rawKX, -1).str(" of ").num(best.rawKN, -1)
	}
	baselineNote(&nb, r, rb)
	if s.rises > 0 {
		nb.sep()
		nb.num(float64(s.rises), -1).str(" period(s) after a rise in traffic not judged (the cold starts of the environments it started could explain them)")
	}
	if s.busy > 0 {
		nb.sep()
		what := "errors"
		if r.isLatency() {
			what = "latency"
		}
		nb.num(float64(s.busy), -1).str(" period(s) with 1.5x the baseline's traffic or more not judged against it (").str(what).str(" can rise with load, whichever version runs)")
	}
	if s.pools > 0 {
		nb.sep()
		nb.num(float64(s.pools), -1).str(" period(s) with the account's unreserved concurrency ").num(100*poolFull, -1).
			str("% in use or more not judged (other functions' demand throttles whichever version runs)")
	}
	hedgeNote(&nb, rb, best)
	stagedNote(&nb, s.e)
	if total.rawN < p.minEvidence(r) && !rr.breached {
		nb.sep()
		nb.num(total.rawN, -1).str(" ").str(unitOf(r)).str(" < ")
		if r.isProbe() || r.test == testPerPeriod {
			nb.str("min_samples ")
		} else {
			nb.str("min_invocations ")
		}
		nb.num(p.minEvidence(r), -1).str(": not enough to vouch")
	}
	switch {
	case rr.kgBad:
		kgBadNote(&nb, r, rb, in.KnownGood)
	case rr.worse:
		worseNote(&nb, rb, in.KnownGood)
	}
	return nb.String()
}

// kgName names the known-good version in a note ("" before any).
func kgName(kg string) string {
	if kg == "" {
		return "(pre-deploy)"
	}
	return kg
}

// worseNote says why a rule that trips during an incident rolls back all
// the same: the known-good was failing too since the incident began, and
// the new version is significantly worse than it (knownGoodBreaches).
func worseNote(nb *noteBuf, rb *ruleBase, kg string) {
	sh := &rb.shift
	nb.sep()
	nb.str("known-good ").str(kgName(kg)).str(" failing too before the deploy: ").num(sh.raw.X, -1).str(" of ").num(sh.raw.N, -1).
		str(" over its last ").num(float64(sh.periods), -1).str(" periods, but the new version is significantly worse (above ").
		num(incidentWorse, -1).str(" times that): rolling back helps")
}

// baselineNote describes what the rule knows of the known-good from
// before the deploy: its value (and counts), and the bursts its null allows.
func baselineNote(nb *noteBuf, r *rule, rb *ruleBase) {
	switch {
	case r.isLatency() && rb.hasBase:
		nb.sep()
		nb.str("known-good ").str(r.stat).str(" before the deploy ").num(rb.base, 4).str(" ms")
		if x0 := wholeMs(rb.base); r.kind == config.RuleCompareLatency && rb.baseRaw.N > 0 && len(x0) == 1 {
			// The share the new side's is compared with (above
			// (1 + min_effect) times this threshold: slowThresholds).
			nb.str(", ").num(rb.baseRaw.X, -1).str(" of ").num(rb.baseRaw.N, -1).str(" invocations slower than ").num(x0[0], -1).str(" ms")
			// driftAt: split periods, against the concurrent
			// known-good, allow none.
			nb.str(" (allowed to drift: that share times 1 + ").num(rb.drift, 2).str("·t, t hours after the deploy")
			if rb.drift < driftPerHour {
				nb.str(": the shape history's fastest rise")
			}
			nb.str(")")
		}
		if rb.trend.perHour > 0 {
			nb.str(", its slow share rising (allowed: ").num(100*math.Expm1(rb.trend.perHour), 3).str("% an hour)")
		}
	case rb.hasBase:
		nb.sep()
		nb.str("known-good before the deploy ").num(rb.base, 4)
		if rb.baseRaw.N > 0 {
			nb.str(" (").num(rb.baseRaw.X, -1).str(" of ").num(rb.baseRaw.N, -1).str(")")
		}
	}
	if rb.load.k > 0 {
		nb.sep()
		what := "its error rate"
		if r.isLatency() {
			what = "its slow share"
		}
		nb.str(what).str(" rising with the load the baseline shows (allowed: times (invocations/").
			num(math.Round(rb.load.n0), -1).str(")^").num(rb.load.k, 2).str(" above ").num(math.Round(rb.load.n0), -1).str(" a period)")
	}
	switch {
	case rb.bursty != nil && r.burstCV > 0 && rb.kLo == 1/(r.burstCV*r.burstCV):
		nb.sep()
		nb.str("null bursts down to k=").num(rb.kLo, 3).str(" (burst_cv ").num(r.burstCV, 3).str(")")
	case rb.bursty != nil && rb.kLo > 0:
		nb.sep()
		nb.str("null bursts down to k=").num(rb.kLo, 3).str(" (").str(rb.kFrom.String()).str(")")
	case rb.bursty != nil:
		nb.sep()
		nb.str("null bursts of any shape (the baseline does not bound them)")
	case rb.temperInvK() > 0:
		// The k the test against the whole baseline tempers at: an upper
		// bound where the rule has one (temperInvK), and what set it;
		// split periods and the minutes in turn take the estimate.
		t := rb.temperInvK()
		nb.sep()
		nb.str("bursty counts tempered (k=").num(1/t, 3)
		if t > rb.invK || rb.dayShape {
			nb.str(", ").str(rb.kFrom.String())
		}
		if t > rb.invK && rb.invK > 0 {
			nb.str("; estimate k=").num(1/rb.invK, 3)
		}
		nb.str(")")
	}
	if rb.capacity > 0 {
		nb.sep()
		nb.str("demand beyond ").num(math.Round(rb.capacity), -1).str(" requests a period not judged (")
		switch rb.capFrom {
		case capThrottled:
			nb.num(1-capacityMargin, -1).str(" of the fewest the known-good served in a period it throttled: its capacity)")
		case capConcurrency:
			nb.num(concMargin, -1).str(" of what the known-good's concurrency could serve, by the share of its limit it used)")
		default:
			nb.str("the most the known-good had in a period)")
		}
	}
}

// hedgeNote says when the minutes' failed shares (seqtest.Hedge) decide
// error_rate's e-value, with the e-value of each half.
func hedgeNote(nb *noteBuf, rb *ruleBase, a *epochAcc) {
	if rb.hedge <= 0 || rb.bursty == nil || a.vec == nil || a.periods == 0 {
		return
	}
	if h, b := a.hedge.LogE(), rb.bursty.LogE(a.vec, a.den); h > b {
		nb.sep()
		nb.str("e averages two tests: each minute's share against the threshold, whatever the bursts (").num(math.Exp(min(h, 690)), 3).
			str("), and against the burst shapes (").num(math.Exp(min(b, 690)), 3).str(")")
	}
}

// stagedNote says when the test against the baseline's minutes in turn
// decides compare_errors' e-value (staged.go), with each test's.
func stagedNote(nb *noteBuf, e ruleE) {
	if e.logDrift >= logStagedDriftE {
		nb.sep()
		nb.str("the known-good alongside has left its baseline rate (e=").num(math.Exp(min(e.logDrift, 690)), 3).
			str(" for ").num(stagedDriftRatio, -1).str("x its baseline minutes): the test against them is set aside, e is the other's, halved")
		return
	}
	if e.logStage > e.logWhole {
		nb.sep()
		nb.str("e is the larger of two tests, each at half the level: the new version's minutes against the baseline's in turn")
		if e.stageKG {
			nb.str(" and the known-good's alongside")
		}
		nb.str(" (").num(math.Exp(min(e.logStage, 690)), 3).str(") and against the whole baseline (").num(math.Exp(min(e.logWhole, 690)), 3).str("), halved")
	}
}

// kgBadNote says why rolling back would not help: the known-good breaches
// the rule too (kg its version, "" before any known-good).
func kgBadNote(nb *noteBuf, r *rule, rb *ruleBase, kg string) {
	kg = kgName(kg)
	nb.sep()
	if sh := &rb.shift; sh.on && sh.raw.N > 0 {
		// An incident: what the known-good did since it began.
		nb.str("known-good ").str(kg).str(" as bad before the deploy: ").num(sh.raw.X/sh.raw.N, 4).
			str(" over its last ").num(float64(sh.periods), -1).str(" periods (").num(sh.head, 4).str(" before")
		if sh.other {
			nb.str("; the incident shows in another rule")
		}
		nb.str(")")
	} else if rb.kgDoubt && !rb.kgBad {
		nb.str("known-good ").str(kg).str(" may breach too: its ").num(rb.baseRaw.X, -1).str(" of ").num(rb.baseRaw.N, -1).
			str(" before the deploy, during an incident another rule shows, do not rule out ").num(rb.nullRate, 4).
			str(", and the new version is not significantly worse")
	} else if !rb.kgBad && sh.raw.N > 0 {
		nb.str("known-good ").str(kg).str(" breaches too: ").num(sh.raw.X/sh.raw.N, 4).
			str(" over its last ").num(float64(sh.periods), -1).str(" periods, and the new version is not significantly worse")
	} else if rb.slowerByCounts(r) {
		// Counted, not its per-period percentile (prepareRate).
		nb.str("known-good ").str(kg).str(" breaches too: ").num(rb.baseRaw.X, -1).str(" of ").num(rb.baseRaw.N, -1).
			str(" of its invocations before the deploy slower than ").num(rb.slowX, -1).str(" ms, more than the ").
			num(100*rb.upper, 3).str("% a ").str(r.stat).str(" allows")
	} else {
		nb.str("known-good ").str(kg).str(" breaches too: ").num(rb.base, 4)
	}
}

// countsNote describes the deciding epoch's counts.
func (p *Policy) countsNote(nb *noteBuf, r *rule, rb *ruleBase, a *epochAcc) {
	if a.periods == 0 {
		return
	}
	nb.sep()
	switch {
	case r.isProbe():
		nb.num(a.rawX, -1).str(" of ").num(a.rawN, -1).str(" probe results failed")
	case r.test == testPerPeriod:
		nb.num(a.rawX, -1).str(" throttles in ").int(a.periods).str(" periods")
	case r.isLatency() && a.m < float64(a.periods):
		nb.num(a.rawX, -1).str(" of ").num(a.rawN, -1).str(" invocations slower than ").num(rb.slowX, -1).str(" ms")
	case r.isLatency():
		nb.int(a.periods).str(" periods of ").str(r.stat).str(" without counts, judged on their log value")
	default:
		nb.num(a.rawX, -1).str(" of ").num(a.rawN, -1).str(" ").str(unitOf(r)).str(" ").str(eventsOf(r))
	}
	nb.str(" over ").str(a.span().String())
}

func unitOf(r *rule) string {
	switch {
	case r.isProbe():
		return "probe results"
	case r.test == testPerPeriod:
		return "periods"
	case r.kind == config.RuleThrottles:
		return "requests"
	}
	return "invocations"
}

func eventsOf(r *rule) string {
	if r.kind == config.RuleThrottles {
		return "throttled"
	}
	return "failed"
}

// againstBaseline reports whether a breach rests on the pre-deploy
// baseline: a two-sample rule whose epoch has periods judged against it
// (split periods alone are against the concurrent known-good), a delta
// rule, or a probe rule tripped by its test against the known-good's
// pre-deploy failure rate only (abs: the absolute test tripped too).
func againstBaseline(r *rule, best *epochAcc, abs bool) bool {
	switch {
	case r.test == testTwoSample:
		return best.n > 0
	case r.isProbe():
		return !abs
	}
	return r.rel == relDelta
}
