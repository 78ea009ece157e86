package policy

import (
	"math"

	"github.com/canaryd/canaryd/config"
)

// This file judges one rule over one window [from, to): the unit that
// for-duration and M-of-N combine. A window is breach, ok or unknown;
// unknown is never a breach (promises 5 and 6).

type wstate uint8

const (
	wsUnknown wstate = iota
	wsOK
	wsBreach
)

type noteKind uint8

const (
	noteNone           noteKind = iota
	noteThin                    // evidence below the rule's minimum
	noteBaseThin                // the known-good side lacks evidence
	noteBlind                   // only source errors: the watchdog could not see
	noteMissing                 // no data, treated per missing_data
	noteNotYet                  // nothing delivered for this window yet
	noteCompareNoGo             // statistical test did not reject
	noteMinErrors               // compare_errors: too few errors on the new side
	noteTooFewToReject          // compare_latency: even total separation could not reach the confidence
)

// winEval is one window's judgement with the numbers that explain it.
type winEval struct {
	state       wstate
	note        noteKind
	observed    float64 // compared value (ratio or delta for relative rules)
	raw         float64 // the new side's own value (equals observed for absolute rules)
	threshold   float64
	base        float64
	hasBase     bool
	pval        float64
	hasP        bool
	samples     int
	evidence    float64
	minEvidence float64
	enough      bool
	consec      bool // probe: tripped by consecutive failures
}

const (
	allFrom int64 = math.MinInt64
	allTo   int64 = math.MaxInt64
)

// rateAgg sums a rate rule's periods. A period counts when Invocations is a
// datapoint and Errors is a datapoint or absent (no errors published).
type rateAgg struct {
	errs, inv          float64
	ok, noData, srcErr int
}

func aggRate(errs, invs []pt, from, to int64) rateAgg {
	var a rateAgg
	es, is := span(errs, from, to), span(invs, from, to)
	j := 0
	for _, x := range is {
		switch x.out {
		case outSrcErr:
			a.srcErr++
			continue
		case outNoData:
			a.noData++
			continue
		}
		for j < len(es) && es[j].t < x.t {
			j++
		}
		e := 0.0
		if j < len(es) && es[j].t == x.t {
			if es[j].out == outSrcErr {
				a.srcErr++
				continue
			}
			if es[j].out == outOK {
				e = es[j].v
			}
		}
		a.ok++
		a.inv += x.v
		a.errs += e
	}
	if len(is) == 0 {
		for _, e := range es {
			if e.out == outSrcErr {
				a.srcErr++
			}
		}
	}
	return a
}

type valAgg struct {
	sum               float64
	n, noData, srcErr int
}

func aggVal(s []pt, from, to int64) valAgg {
	var a valAgg
	for _, x := range span(s, from, to) {
		switch x.out {
		case outOK:
			a.sum += x.v
			a.n++
		case outNoData:
			a.noData++
		default:
			a.srcErr++
		}
	}
	return a
}

// oldRate is the known-good side's rate aggregate over [from, to); the
// whole baseline (not split) is summed once per evaluation.
func (r *rule) oldRate(c *evalCtx, from, to int64) rateAgg {
	if from != allFrom {
		return aggRate(c.oldS[r.mA], c.oldS[r.mB], from, to)
	}
	b := &c.base[r.idx]
	if !b.done {
		b.rate, b.done = aggRate(c.oldS[r.mA], c.oldS[r.mB], from, to), true
	}
	return b.rate
}

// oldVal is oldRate for value rules.
func (r *rule) oldVal(c *evalCtx, from, to int64) valAgg {
	if from != allFrom {
		return aggVal(c.oldS[r.mA], from, to)
	}
	b := &c.base[r.idx]
	if !b.done {
		b.val, b.done = aggVal(c.oldS[r.mA], from, to), true
	}
	return b.val
}

// evalWindow judges rule r over [from, to). covered says the window lies
// wholly within the watched, delivered time, so an empty window is missing
// data rather than data not yet here.
func (p *Policy) evalWindow(c *evalCtx, r *rule, split bool, from, to int64, covered bool) winEval {
	oldFrom, oldTo := allFrom, allTo // not split: the whole pre-deploy baseline
	if split {
		oldFrom, oldTo = from, to // split: the known-good version at the same time
	}
	switch r.kind {
	case config.RuleErrorRate:
		return r.evalRate(c, from, to, oldFrom, oldTo, covered)
	case config.RuleCompareErrors:
		return r.evalCompareErrors(c, from, to, oldFrom, oldTo, covered)
	case config.RuleCompareLatency:
		return r.evalCompareLatency(c, from, to, oldFrom, oldTo, covered)
	case config.RuleProbe:
		return r.evalProbe(c, from, to, covered)
	}
	return r.evalValue(c, from, to, oldFrom, oldTo, covered)
}

// noEvidence decides a window without usable observations: blind when the
// source errored, missing-data treatment when the absence is real (no_data
// delivered, zero traffic, or an empty covered window), else not yet known.
func (r *rule) noEvidence(w *winEval, srcErr, absent int, covered bool) {
	switch {
	case srcErr > 0:
		w.note = noteBlind
	case absent > 0 || covered:
		w.note = noteMissing
		switch r.missing {
		case missBreaching:
			w.state, w.enough = wsBreach, true
		case missGood:
			w.state, w.enough = wsOK, true
		}
	default:
		w.note = noteNotYet
	}
}

func (r *rule) evalRate(c *evalCtx, from, to, oldFrom, oldTo int64, covered bool) winEval {
	w := winEval{threshold: r.threshold, minEvidence: r.minInv}
	a := aggRate(c.newS[r.mA], c.newS[r.mB], from, to)
	w.samples, w.evidence = a.ok, a.inv
	if a.inv <= 0 {
		r.noEvidence(&w, a.srcErr, a.noData+a.ok, covered)
		return w
	}
	w.raw = a.errs / a.inv
	w.observed = w.raw
	b := r.oldRate(c, oldFrom, oldTo)
	if b.inv >= r.minInv && b.inv > 0 {
		w.base, w.hasBase = b.errs/b.inv, true
	}
	if a.inv < r.minInv {
		w.note = noteThin
		return w
	}
	w.enough = true
	return r.judge(w)
}

func (r *rule) evalValue(c *evalCtx, from, to, oldFrom, oldTo int64, covered bool) winEval {
	w := winEval{threshold: r.threshold, minEvidence: float64(r.minSamples)}
	a := aggVal(c.newS[r.mA], from, to)
	w.samples, w.evidence = a.n, float64(a.n)
	if a.n == 0 {
		r.noEvidence(&w, a.srcErr, a.noData, covered)
		return w
	}
	w.raw = a.sum / float64(a.n)
	w.observed = w.raw
	b := r.oldVal(c, oldFrom, oldTo)
	if b.n >= r.minSamples && b.n > 0 {
		w.base, w.hasBase = b.sum/float64(b.n), true
	}
	if a.n < r.minSamples {
		w.note = noteThin
		return w
	}
	w.enough = true
	return r.judge(w)
}

// judge compares an absolute or baseline-relative value with the threshold.
func (r *rule) judge(w winEval) winEval {
	if r.rel != relAbsolute {
		if !w.hasBase {
			w.note, w.enough = noteBaseThin, false
			return w
		}
		w.observed = relative(r.rel, w.raw, w.base)
	}
	w.state = wsOK
	if r.op.cmp(w.observed, w.threshold) {
		w.state = wsBreach
	}
	return w
}

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

// evalCompareErrors tests whether the new side's error rate exceeds the
// known-good's by more than min_effect; see binomialUpperTail.
func (r *rule) evalCompareErrors(c *evalCtx, from, to, oldFrom, oldTo int64, covered bool) winEval {
	w := winEval{minEvidence: r.minInv}
	a := aggRate(c.newS[r.mA], c.newS[r.mB], from, to)
	w.samples, w.evidence = a.ok, a.inv
	if a.inv <= 0 {
		r.noEvidence(&w, a.srcErr, a.noData+a.ok, covered)
		return w
	}
	w.raw = a.errs / a.inv
	w.observed = w.raw
	b := r.oldRate(c, oldFrom, oldTo)
	if b.inv > 0 {
		w.base, w.hasBase = b.errs/b.inv, true
		w.threshold = w.base * (1 + r.minEffect)
	}
	switch {
	case a.inv < r.minInv:
		w.note = noteThin
		return w
	case b.inv < r.minInv || b.inv <= 0:
		w.note = noteBaseThin
		return w
	}
	w.enough = true
	eNew, eOld := math.Round(a.errs), math.Round(b.errs)
	w.pval, w.hasP = compareErrorsP(eNew, a.inv, eOld, b.inv, r.minEffect), true
	w.state = wsOK
	switch {
	case w.pval >= r.alpha || w.raw <= w.threshold:
		w.note = noteCompareNoGo
	case eNew < minCompareErrors:
		w.note = noteMinErrors
	default:
		w.state = wsBreach
	}
	return w
}

// evalCompareLatency runs a one-sided Mann-Whitney U test on per-period
// latency values and requires the median to be min_effect worse as well.
func (r *rule) evalCompareLatency(c *evalCtx, from, to, oldFrom, oldTo int64, covered bool) winEval {
	w := winEval{minEvidence: float64(r.minSamples)}
	c.xs = collect(c.xs[:0], c.newS[r.mA], from, to)
	w.samples, w.evidence = len(c.xs), float64(len(c.xs))
	if len(c.xs) == 0 {
		a := aggVal(c.newS[r.mA], from, to)
		r.noEvidence(&w, a.srcErr, a.noData, covered)
		return w
	}
	w.raw = median(c.xs)
	w.observed = w.raw
	var baseMed float64
	if oldFrom == allFrom {
		b := &c.base[r.idx]
		if !b.done || b.ys == nil {
			b.ys = collect(b.ys[:0], c.oldS[r.mA], oldFrom, oldTo)
			b.med = median(b.ys)
			b.done = true
		}
		c.ys = append(c.ys[:0], b.ys...)
		baseMed = b.med
	} else {
		c.ys = collect(c.ys[:0], c.oldS[r.mA], oldFrom, oldTo)
		baseMed = median(c.ys)
	}
	if len(c.ys) > 0 {
		w.base, w.hasBase = baseMed, true
		w.threshold = w.base * (1 + r.minEffect)
	}
	switch {
	case len(c.xs) < r.minSamples:
		w.note = noteThin
		return w
	case len(c.ys) < r.minSamples || len(c.ys) == 0:
		w.note = noteBaseThin
		return w
	}
	w.enough = true
	_, w.pval = mannWhitneyGreater(c.xs, c.ys)
	w.hasP = true
	w.state = wsOK
	switch {
	case w.pval < r.alpha && w.raw > w.threshold:
		w.state = wsBreach
	case len(c.xs) <= exactMaxN && len(c.ys) <= exactMaxN && exactUpperTail(len(c.xs), len(c.ys), len(c.xs)*len(c.ys)) >= r.alpha:
		// The smallest p-value n1 vs n2 periods can give is 1/C(n1+n2, n1):
		// say so, rather than look healthy by construction.
		w.note = noteTooFewToReject
	default:
		w.note = noteCompareNoGo
	}
	return w
}

func collect(dst []float64, s []pt, from, to int64) []float64 {
	for _, x := range span(s, from, to) {
		if x.out == outOK {
			dst = append(dst, x.v)
		}
	}
	return dst
}

// evalProbe judges health probe results: the trailing run of failures
// against consecutive_failures, and the failing share against
// failure_ratio (with at least min_samples results).
func (r *rule) evalProbe(c *evalCtx, from, to int64, covered bool) winEval {
	w := winEval{minEvidence: float64(r.minSamples), threshold: float64(r.consec)}
	if r.consec == 0 {
		w.threshold = r.failRatio
	}
	var n, fails, run, srcErr, noData int
	runOpen := true
	pts := span(c.probes[r.probeID], from, to)
	for i := len(pts) - 1; i >= 0; i-- {
		switch pts[i].out {
		case outOK:
			n++
			runOpen = false
		case outFail:
			n++
			fails++
			if runOpen {
				run++
			}
		case outNoData:
			noData++
		default:
			srcErr++
		}
	}
	w.samples, w.evidence = n, float64(n)
	if n == 0 {
		r.noEvidence(&w, srcErr, noData, covered)
		return w
	}
	ratio := float64(fails) / float64(n)
	w.enough = n >= r.minSamples || (r.consec > 0 && run >= r.consec)
	w.state = wsOK
	switch {
	case r.consec > 0 && run >= r.consec:
		w.state, w.consec = wsBreach, true
		w.observed, w.raw, w.threshold = float64(run), float64(run), float64(r.consec)
		return w
	case r.failRatio > 0:
		w.observed, w.raw, w.threshold = ratio, ratio, r.failRatio
		if w.enough && ratio >= r.failRatio {
			w.state = wsBreach
		}
	default:
		w.consec = true
		w.observed, w.raw, w.threshold = float64(run), float64(run), float64(r.consec)
	}
	if !w.enough {
		w.state, w.note = wsUnknown, noteThin
	}
	return w
}
