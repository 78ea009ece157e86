package policy

import (
	"time"
)

// This file judges metric rules: a custom CloudWatch metric against a
// threshold over windows [end-window, end), with M-of-N windows and `for`
// persistence. They are not statistical — a custom metric has no trials to
// count evidence in — so they keep the windowed check; their false-alarm
// rate is whatever the threshold makes it. A window is breach, ok or
// unknown; unknown is never a breach (promises 5 and 6).

type wstate uint8

const (
	wsUnknown wstate = iota
	wsOK
	wsBreach
)

type noteKind uint8

const (
	noteNone     noteKind = iota
	noteThin              // fewer periods than min_samples
	noteBaseThin          // the known-good side lacks evidence
	noteBlind             // only source errors: the watchdog could not see
	noteMissing           // no data, treated per missing_data
	noteNotYet            // nothing delivered for this window yet
)

// winEval is one window's judgement with the numbers that explain it.
type winEval struct {
	state     wstate
	note      noteKind
	observed  float64 // compared value (ratio or delta for relative rules)
	raw       float64 // the new side's own value
	threshold float64
	base      float64
	hasBase   bool
	samples   int
	enough    bool
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

// windowSeries are a metric rule's judged and known-good series. A custom
// metric whose dimensions name the version is reported per version (the
// new version's samples carry its version): judged against the
// known-good's at the same time while the alias splits traffic, else
// against the pre-deploy baseline. Any other custom metric is reported for
// the alias as a whole (Version "") and judged as such, split or not.
func (p *Policy) windowSeries(c *evalCtx, r *rule, in *Input, pb *PreparedBaseline) (judged, base []pt, concurrent bool) {
	if s := c.newV[r.value]; len(s) > 0 {
		if in.Split && len(c.kg[r.value]) > 0 {
			return s, c.kg[r.value], true
		}
		return s, pb.series[r.value], false
	}
	return c.alias[r.value], pb.series[r.value], false
}

// evalWindowRule judges a metric rule at now.
func (p *Policy) evalWindowRule(c *evalCtx, r *rule, in *Input, pb *PreparedBaseline, now time.Time) (ruleResult, Finding) {
	var rr ruleResult
	judged, base, concurrent := p.windowSeries(c, r, in, pb)
	rr.dataEnd = lastEnd(judged)
	minT := max(in.WatchStart.UnixNano(), now.UnixNano()-int64(p.lookback))
	var w winEval
	var hits int
	if rr.dataEnd == 0 {
		w = winEval{note: noteNotYet, threshold: r.threshold}
		rr.blocked = true
	} else {
		hits, w = p.mOfN(r, judged, base, concurrent, rr.dataEnd, minT)
		rr.breached = hits >= r.m
		// for: the M-of-N condition must also hold at every period step
		// back to end - for.
		for k := 1; rr.breached && time.Duration(k)*p.period <= r.forDur; k++ {
			if h, _ := p.mOfN(r, judged, base, concurrent, rr.dataEnd-int64(time.Duration(k)*p.period), minT); h < r.m {
				rr.breached = false
			}
		}
		rr.vouch = w.state == wsOK
		rr.pending = w.state == wsBreach && !rr.breached
		rr.blocked = w.note == noteBlind
	}
	if rr.breached && r.rel == relAbsolute && w.hasBase {
		rr.kgBad = r.op.cmp(w.base, r.threshold)
	}
	f := Finding{
		Rule: r.name, RuleKind: r.kind, Breached: rr.breached, Enough: w.enough,
		Observed: w.observed, Threshold: w.threshold, Op: r.opStr, Window: r.window,
		Samples: w.samples, Evidence: float64(w.samples), MinEvidence: float64(r.minSamples),
		Version: in.NewVersion,
	}
	if w.hasBase {
		b := w.base
		f.Baseline = &b
	}
	f.Note = windowNote(r, &rr, &w, hits, in.KnownGood)
	return rr, f
}

// mOfN judges the last N windows ending at end and returns how many
// breached, plus the latest window's judgement. A window counts as covered
// (an empty one is missing data) only when it lies after the watch began
// and within the lookback, where History keeps every sample.
func (p *Policy) mOfN(r *rule, judged, base []pt, concurrent bool, end, minT int64) (int, winEval) {
	var w0 winEval
	hits := 0
	win := int64(r.window)
	for j := 0; j < r.n; j++ {
		to := end - int64(j)*win
		from := to - win
		if to <= minT {
			break // wholly before the watch began, or beyond the lookback
		}
		w := p.evalWindow(r, judged, base, concurrent, from, to, from >= minT)
		if j == 0 {
			w0 = w
		}
		if w.state == wsBreach {
			hits++
		}
		if hits+(r.n-j-1) < r.m {
			break // M can no longer be reached
		}
	}
	return hits, w0
}

// evalWindow judges rule r over [from, to). covered says the window lies
// wholly within the watched, delivered time, so an empty window is missing
// data rather than data not yet here. The known-good side is the same
// window of the known-good version when split, else the whole baseline.
func (p *Policy) evalWindow(r *rule, judged, base []pt, concurrent bool, from, to int64, covered bool) winEval {
	w := winEval{threshold: r.threshold}
	a := aggVal(judged, from, to)
	w.samples = a.n
	if a.n == 0 {
		r.noEvidence(&w, a.srcErr, a.noData, covered)
		return w
	}
	w.raw = a.sum / float64(a.n)
	w.observed = w.raw
	b := aggVal(base, allFrom, allTo)
	if concurrent {
		b = aggVal(base, from, to) // the known-good version at the same time
	}
	if b.n >= r.minSamples && b.n > 0 {
		w.base, w.hasBase = b.sum/float64(b.n), true
	}
	if a.n < r.minSamples {
		w.note = noteThin
		return w
	}
	w.enough = true
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

const (
	allFrom int64 = -1 << 63
	allTo   int64 = 1<<63 - 1
)

// noEvidence decides a window without usable observations: blind when the
// source errored, missing-data treatment when the absence is real (no_data
// delivered, or an empty covered window), else not yet known.
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

var (
	missingNotes = [...]string{"no data in window, missing_data=ignore", "no data in window, missing_data=breaching", "no data in window, missing_data=good"}
	relNames     = [...]string{"", "ratio", "delta"}
)

func windowNote(r *rule, rr *ruleResult, w *winEval, hits int, knownGood string) string {
	nb := noteBuf{}
	switch w.note {
	case noteThin:
		nb.sep()
		nb.int(w.samples).str(" samples < min_samples ").int(r.minSamples)
	case noteBaseThin:
		nb.constant("known-good side has too little evidence to compare with")
	case noteBlind:
		nb.constant("only source errors in window: not evidence")
	case noteMissing:
		nb.constant(missingNotes[r.missing])
	case noteNotYet:
		nb.constant("no recent data delivered")
	}
	if r.rel != relAbsolute && w.hasBase && w.samples > 0 {
		nb.sep()
		nb.str("value ").num(w.raw, 4).str(" vs known-good ").num(w.base, 4).str(" (").str(relNames[r.rel]).str(")")
	}
	if rr.breached && r.n > 1 {
		nb.sep()
		nb.str("breached in ").int(hits).str(" of last ").int(r.n).str(" windows")
	}
	if rr.breached && r.forDur > 0 {
		nb.sep()
		nb.str("for ").str(r.forDur.String())
	}
	if rr.kgBad {
		if knownGood == "" {
			knownGood = "(pre-deploy)"
		}
		nb.sep()
		nb.str("known-good ").str(knownGood).str(" breaches too: ").num(w.base, 4)
	}
	return nb.String()
}
