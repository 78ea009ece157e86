package policy

import (
	"strconv"
	"time"

	"github.com/canaryd/canaryd/sample"

	"github.com/canaryd/canaryd/config"
)

// Input is everything a verdict depends on besides the policy and the time.
type Input struct {
	WatchStart time.Time // when the deploy was seen; alias-level samples before it are ignored
	KnownGood  string    // version recorded as known-good when the watch began ("" = none)
	NewVersion string    // the version being judged
	Split      bool      // the alias splits traffic: judge per-version samples side by side
	// Promoted is set while the watch stays open after promotion (rollback
	// window): the verdict is never Promote again, Failing is still possible.
	Promoted bool
	Samples  []sample.Sample // everything since the watch began, latest value per Key
	Baseline []sample.Sample // alias-level samples from before the deploy (known-good)
	// Prepared, when set by this Policy's PrepareBaseline, stands in for
	// Baseline: the daemon prepares a watch's baseline once.
	Prepared *PreparedBaseline
}

// ruleResult is one rule's evaluation before it becomes a Finding.
type ruleResult struct {
	w        winEval
	breached bool
	hits     int   // windows breached among the last N (at the latest end)
	vouch    bool  // the latest window was judged healthy
	pending  bool  // the latest window breached, but M-of-N or for is not met yet
	blocked  bool  // the rule cannot see (source errors only, or nothing delivered)
	kgBad    bool  // known-good breaches this absolute rule too
	dataEnd  int64 // newest delivered observation of the judged side
}

// Evaluate judges the input at now. It is pure: no I/O, no clock, no
// state; the same arguments always give the same verdict.
//
// The verdict is
//   - Failing when any rule breached (AlertOnly when every breached rule is
//     an absolute rule that the known-good version breaches as well);
//   - else Inconclusive when no rule has enough evidence in its latest window
//     (a window that breaches while M-of-N or for is not yet met is evidence);
//   - else Promote when not already promoted, the bake time has elapsed since
//     WatchStart and "enough" holds: every rule has observed data up to the
//     end of the bake time (metrics: a delivered period ending at or after
//     it, probes: a result at or after it), no rule's latest window is
//     blind (only source errors) and none is breaching on its way to trip. Rules with too little traffic to judge
//     neither block nor count; at least one rule must have judged the
//     latest window healthy, so a zero-traffic target promotes on its probes
//     alone, and a target without probes waits for traffic;
//   - else Healthy.
func (p *Policy) Evaluate(in Input, now time.Time) Verdict {
	c := ctxPool.Get().(*evalCtx)
	defer ctxPool.Put(c)
	p.fill(c, &in, now)

	v := Verdict{At: now, Findings: make([]Finding, len(p.rules))}
	floats := make([]float64, 2*len(p.rules)) // backing for Baseline/PValue pointers: one allocation
	if cap(c.results) < len(p.rules) {
		c.results = make([]ruleResult, len(p.rules))
	}
	results := c.results[:len(p.rules)]
	for i := range p.rules {
		results[i] = p.evalRule(c, &p.rules[i], &in, now)
		v.Findings[i] = p.finding(c, &p.rules[i], &results[i], &in, floats[2*i:2*i+2])
	}
	p.decide(c, &v, results, &in, now)
	return v
}

func (p *Policy) evalRule(c *evalCtx, r *rule, in *Input, now time.Time) ruleResult {
	var rr ruleResult
	if r.isProbe() {
		rr.dataEnd = lastEnd(c.probes[r.probeID])
	} else if r.mB >= 0 {
		rr.dataEnd = lastEnd(c.newS[r.mA], c.newS[r.mB])
	} else {
		rr.dataEnd = lastEnd(c.newS[r.mA])
	}
	// Metric windows end at the newest delivered period; probe windows at
	// now, so that a prober gone quiet leaves covered windows empty.
	end := rr.dataEnd
	if r.isProbe() {
		end = now.UnixNano()
	} else if rr.dataEnd == 0 {
		rr.w = winEval{note: noteNotYet, threshold: r.threshold}
		rr.blocked = true
		return rr
	}
	rr.hits, rr.w = p.mOfN(c, r, in.Split, end)
	rr.breached = rr.hits >= r.m
	// for: the M-of-N condition must also hold at every period step back
	// to end - for.
	for k := 1; rr.breached && time.Duration(k)*p.period <= r.forDur; k++ {
		if h, _ := p.mOfN(c, r, in.Split, end-int64(time.Duration(k)*p.period)); h < r.m {
			rr.breached = false
		}
	}
	rr.vouch = rr.w.state == wsOK
	rr.pending = rr.w.state == wsBreach && !rr.breached
	rr.blocked = rr.w.note == noteBlind || rr.dataEnd == 0
	if rr.breached && r.rel == relAbsolute && rr.w.hasBase && !r.isProbe() &&
		r.kind != config.RuleCompareErrors && r.kind != config.RuleCompareLatency {
		rr.kgBad = r.op.cmp(rr.w.base, r.threshold)
	}
	return rr
}

// mOfN judges the last N windows ending at end and returns how many
// breached, plus the latest window's judgement. A window counts as covered
// (an empty one is missing data) only when it lies after the watch began
// and within the lookback, where History keeps every sample.
func (p *Policy) mOfN(c *evalCtx, r *rule, split bool, end int64) (int, winEval) {
	var w0 winEval
	hits := 0
	win := int64(r.window)
	for j := 0; j < r.n; j++ {
		to := end - int64(j)*win
		from := to - win
		if to <= c.minT {
			break // wholly before the watch began, or beyond the lookback
		}
		w := p.evalWindow(c, r, split, from, to, from >= c.minT)
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

func (p *Policy) finding(c *evalCtx, r *rule, rr *ruleResult, in *Input, fl []float64) Finding {
	w := &rr.w
	f := Finding{
		Rule: r.name, RuleKind: r.kind, Breached: rr.breached, Enough: w.enough,
		Observed: w.observed, Threshold: w.threshold, Op: r.opStr, Window: r.window,
		Samples: w.samples, Evidence: w.evidence, MinEvidence: w.minEvidence,
		Version: in.NewVersion,
	}
	switch r.kind {
	case config.RuleCompareErrors, config.RuleCompareLatency:
		f.Op = ">"
	case config.RuleProbe:
		f.Op = ">="
		if in.Split {
			f.Version = "" // probes reach the alias, whichever version answers
		}
	}
	if w.hasBase {
		fl[0] = w.base
		f.Baseline = &fl[0]
	}
	if w.hasP {
		fl[1] = w.pval
		f.PValue = &fl[1]
	}
	f.Note = p.note(c, r, rr, in)
	return f
}

// noteBuf joins note parts with "; " without fmt: a note costs at most
// one allocation, none when it is a single constant.
type noteBuf struct {
	b      []byte
	only   string // the single constant part, when that is all there is
	parts  int
	single bool
}

func (nb *noteBuf) sep() {
	if nb.parts > 0 {
		if nb.single {
			nb.b = append(nb.b, nb.only...)
			nb.single = false
		}
		nb.b = append(nb.b, "; "...)
	}
	nb.parts++
}

func (nb *noteBuf) constant(s string) {
	if nb.parts == 0 {
		nb.parts, nb.only, nb.single = 1, s, true
		return
	}
	nb.sep()
	nb.b = append(nb.b, s...)
}

func (nb *noteBuf) str(s string) *noteBuf { nb.b = append(nb.b, s...); return nb }

func (nb *noteBuf) num(v float64, prec int) *noteBuf {
	nb.b = strconv.AppendFloat(nb.b, v, 'g', prec, 64)
	return nb
}

func (nb *noteBuf) int(v int) *noteBuf { nb.b = strconv.AppendInt(nb.b, int64(v), 10); return nb }

func (nb *noteBuf) String() string {
	if nb.single {
		return nb.only
	}
	return string(nb.b)
}

var (
	missingNotes = [...]string{"no data in window, missing_data=ignore", "no data in window, missing_data=breaching", "no data in window, missing_data=good"}
	relNames     = [...]string{"", "ratio", "delta"}
)

func (p *Policy) note(c *evalCtx, r *rule, rr *ruleResult, in *Input) string {
	w := &rr.w
	nb := noteBuf{b: c.note[:0]}
	defer func() { c.note = nb.b }()
	switch w.note {
	case noteThin:
		nb.sep()
		if r.kind == config.RuleErrorRate || r.kind == config.RuleCompareErrors {
			nb.num(w.evidence, -1).str(" invocations < min_invocations ").num(w.minEvidence, -1)
		} else {
			nb.int(w.samples).str(" samples < min_samples ").int(r.minSamples)
		}
	case noteBaseThin:
		nb.constant("known-good side has too little evidence to compare with")
	case noteBlind:
		nb.constant("only source errors in window: not evidence")
	case noteMissing:
		nb.constant(missingNotes[r.missing])
	case noteNotYet:
		nb.constant("no recent data delivered")
	case noteTooFewToReject:
		nb.constant("too few periods per side to ever reach the confidence (use a longer window)")
	case noteCompareNoGo:
		nb.constant(r.noGoNote)
	case noteMinErrors:
		nb.constant("too few errors to judge (< " + strconv.Itoa(minCompareErrors) + ")")
	}
	if r.rel != relAbsolute && w.hasBase && w.evidence > 0 {
		nb.sep()
		nb.str("value ").num(w.raw, 4).str(" vs known-good ").num(w.base, 4).str(" (").str(relNames[r.rel]).str(")")
	}
	if r.isProbe() && w.state == wsBreach && w.consec {
		nb.constant("consecutive failures")
	}
	if rr.breached && r.n > 1 {
		nb.sep()
		nb.str("breached in ").int(rr.hits).str(" of last ").int(r.n).str(" windows")
	}
	if rr.breached && r.forDur > 0 {
		nb.sep()
		nb.str("for ").str(r.forDur.String())
	}
	if rr.kgBad {
		kg := in.KnownGood
		if kg == "" {
			kg = "(pre-deploy)"
		}
		nb.sep()
		nb.str("known-good ").str(kg).str(" breaches too: ").num(w.base, 4)
	}
	return nb.String()
}

func (p *Policy) decide(c *evalCtx, v *Verdict, rs []ruleResult, in *Input, now time.Time) {
	var breached, kgBad, vouch, pending int
	bakeEnd := in.WatchStart.Add(p.bake)
	wait := -1 // first rule promotion waits for
	for i := range rs {
		r := &rs[i]
		if r.breached {
			breached++
			if r.kgBad {
				kgBad++
			}
		}
		if r.vouch {
			vouch++
		}
		if r.pending {
			pending++
		}
		if wait < 0 && (r.blocked || r.pending || r.dataEnd < bakeEnd.UnixNano()) {
			wait = i
		}
	}
	nb := noteBuf{b: c.note[:0]} // the pooled buffer, free again after the findings
	defer func() { c.note = nb.b }()
	b := &nb
	switch {
	case breached > 0:
		v.Kind = Failing
		v.AlertOnly = kgBad == breached
		b.str("failing")
		if v.AlertOnly {
			b.str(" (alert only: known-good was already failing, rolling back would not help)")
		}
		sep := ": "
		for i := range v.Findings {
			if v.Findings[i].Breached {
				b.str(sep).str(v.Findings[i].String())
				sep = " | "
			}
		}
	case vouch+pending == 0:
		v.Kind = Inconclusive
		b.str("inconclusive: no rule has enough evidence yet")
		sep := " ("
		for i := range v.Findings {
			if v.Findings[i].Note != "" {
				b.str(sep).str(v.Findings[i].Rule).str(": ").str(v.Findings[i].Note)
				sep = "; "
			}
		}
		if sep == "; " {
			b.str(")")
		}
	case !in.Promoted && !now.Before(bakeEnd) && wait < 0:
		v.Kind = Promote
		b.str("promote: healthy for bake time ").str(p.bakeStr).str("; ").int(vouch).str(" of ").int(len(rs)).str(" rules judged the latest window healthy")
	default:
		v.Kind = Healthy
		b.str("healthy: ").int(vouch).str(" of ").int(len(rs)).str(" rules judged the latest window healthy")
		if pending > 0 {
			b.str(", ").int(pending).str(" breaching but not yet for long enough to trip")
		}
		switch {
		case in.Promoted:
			b.str("; promoted, in rollback window")
		case now.Before(bakeEnd):
			b.str("; baking ").str(now.Sub(in.WatchStart).Truncate(time.Second).String()).str(" of ").str(p.bakeStr)
		case wait >= 0:
			f := &v.Findings[wait]
			b.str("; bake time over, promotion waits for ").str(f.Rule)
			switch {
			case rs[wait].pending:
				b.str(" (breaching, not yet tripped)")
			case rs[wait].blocked && f.Note != "":
				b.str(" (").str(f.Note).str(")")
			default:
				b.str(" (no data yet for the end of the bake time)")
			}
		}
	}
	v.Summary = string(b.b)
}
