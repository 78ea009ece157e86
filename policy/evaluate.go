package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/watcher"
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
	Samples  []watcher.Sample // everything since the watch began, latest value per Key
	Baseline []watcher.Sample // alias-level samples from before the deploy (known-good)
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
	results := make([]ruleResult, len(p.rules))
	for i := range p.rules {
		results[i] = p.evalRule(c, &p.rules[i], &in, now)
		v.Findings[i] = p.finding(&p.rules[i], &results[i], &in, floats[2*i:2*i+2])
	}
	p.decide(&v, results, &in, now)
	return v
}

func (p *Policy) evalRule(c *evalCtx, r *rule, in *Input, now time.Time) ruleResult {
	var rr ruleResult
	startN := in.WatchStart.UnixNano()
	if r.isProbe() {
		rr.dataEnd = lastEnd(c.probes[r.probeID])
	} else if r.mB >= 0 {
		rr.dataEnd = lastEnd(c.newS[r.mA], c.newS[r.mB])
	} else {
		rr.dataEnd = lastEnd(c.newS[r.mA])
	}
	if rr.dataEnd == 0 {
		rr.w = winEval{note: noteNotYet, threshold: r.threshold}
		rr.blocked = true
		return rr
	}
	end := rr.dataEnd // metric windows end at the newest delivered period
	if r.isProbe() {
		end = now.UnixNano()
	}
	rr.hits, rr.w = p.mOfN(c, r, in.Split, end, startN)
	rr.breached = rr.hits >= r.m
	// for: the M-of-N condition must also hold at every period step back
	// to end - for.
	for k := 1; rr.breached && time.Duration(k)*p.period <= r.forDur; k++ {
		if h, _ := p.mOfN(c, r, in.Split, end-int64(time.Duration(k)*p.period), startN); h < r.m {
			rr.breached = false
		}
	}
	rr.vouch = rr.w.state == wsOK
	rr.pending = rr.w.state == wsBreach && !rr.breached
	rr.blocked = rr.w.note == noteBlind
	if rr.breached && r.rel == relAbsolute && rr.w.hasBase && !r.isProbe() &&
		r.kind != config.RuleCompareErrors && r.kind != config.RuleCompareLatency {
		rr.kgBad = r.op.cmp(rr.w.base, r.threshold)
	}
	return rr
}

// mOfN judges the last N windows ending at end and returns how many
// breached, plus the latest window's judgement.
func (p *Policy) mOfN(c *evalCtx, r *rule, split bool, end, startN int64) (int, winEval) {
	var w0 winEval
	hits := 0
	win := int64(r.window)
	for j := 0; j < r.n; j++ {
		to := end - int64(j)*win
		from := to - win
		if to <= startN {
			break // wholly before the watch began
		}
		w := p.evalWindow(c, r, split, from, to, from >= startN)
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

func (p *Policy) finding(r *rule, rr *ruleResult, in *Input, fl []float64) Finding {
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
	f.Note = p.note(r, rr, in)
	return f
}

func (p *Policy) note(r *rule, rr *ruleResult, in *Input) string {
	w := &rr.w
	var parts [4]string
	n := 0
	add := func(s string) {
		if n < len(parts) {
			parts[n] = s
			n++
		}
	}
	switch w.note {
	case noteThin:
		if r.kind == config.RuleErrorRate || r.kind == config.RuleCompareErrors {
			add(fmt.Sprintf("%.0f invocations < min_invocations %.0f", w.evidence, w.minEvidence))
		} else {
			add(fmt.Sprintf("%d samples < min_samples %d", w.samples, r.minSamples))
		}
	case noteBaseThin:
		add("known-good side has too little evidence to compare with")
	case noteBlind:
		add("only source errors in window: not evidence")
	case noteMissing:
		add("no data in window, missing_data=" + [...]string{"ignore", "breaching", "good"}[r.missing])
	case noteNotYet:
		add("no data delivered yet")
	case noteCompareNoGo:
		add(fmt.Sprintf("not worse than known-good at confidence %.3g, min_effect %.3g", 1-r.alpha, r.minEffect))
	case noteMinErrors:
		add(fmt.Sprintf("too few errors to judge (< %d)", minCompareErrors))
	}
	if r.rel != relAbsolute && w.hasBase && w.evidence > 0 {
		add(fmt.Sprintf("value %.4g vs known-good %.4g (%s)", w.raw, w.base, [...]string{"", "ratio", "delta"}[r.rel]))
	}
	if r.isProbe() && w.state == wsBreach && w.consec {
		add("consecutive failures")
	}
	if rr.breached && r.n > 1 {
		add(fmt.Sprintf("breached in %d of last %d windows", rr.hits, r.n))
	}
	if rr.breached && r.forDur > 0 {
		add("for " + r.forDur.String())
	}
	if rr.kgBad {
		kg := in.KnownGood
		if kg == "" {
			kg = "(pre-deploy)"
		}
		add(fmt.Sprintf("known-good %s breaches too: %.4g", kg, w.base))
	}
	return strings.Join(parts[:n], "; ")
}

func (p *Policy) decide(v *Verdict, rs []ruleResult, in *Input, now time.Time) {
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
	var b strings.Builder
	switch {
	case breached > 0:
		v.Kind = Failing
		v.AlertOnly = kgBad == breached
		b.WriteString("failing")
		if v.AlertOnly {
			b.WriteString(" (alert only: known-good was already failing, rolling back would not help)")
		}
		sep := ": "
		for i := range v.Findings {
			if v.Findings[i].Breached {
				b.WriteString(sep)
				b.WriteString(v.Findings[i].String())
				sep = " | "
			}
		}
	case vouch+pending == 0:
		v.Kind = Inconclusive
		b.WriteString("inconclusive: no rule has enough evidence yet")
		sep := " ("
		for i := range v.Findings {
			if v.Findings[i].Note != "" {
				b.WriteString(sep + v.Findings[i].Rule + ": " + v.Findings[i].Note)
				sep = "; "
			}
		}
		if sep == "; " {
			b.WriteString(")")
		}
	case !in.Promoted && !now.Before(bakeEnd) && wait < 0:
		v.Kind = Promote
		fmt.Fprintf(&b, "promote: healthy for bake time %s; %d of %d rules judged the latest window healthy", p.bake, vouch, len(rs))
	default:
		v.Kind = Healthy
		fmt.Fprintf(&b, "healthy: %d of %d rules judged the latest window healthy", vouch, len(rs))
		if pending > 0 {
			fmt.Fprintf(&b, ", %d breaching but not yet for long enough to trip", pending)
		}
		switch {
		case in.Promoted:
			b.WriteString("; promoted, in rollback window")
		case now.Before(bakeEnd):
			fmt.Fprintf(&b, "; baking %s of %s", now.Sub(in.WatchStart).Truncate(time.Second), p.bake)
		case wait >= 0:
			f := &v.Findings[wait]
			b.WriteString("; bake time over, promotion waits for " + f.Rule)
			switch {
			case rs[wait].pending:
				b.WriteString(" (breaching, not yet tripped)")
			case rs[wait].blocked && f.Note != "":
				b.WriteString(" (" + f.Note + ")")
			default:
				b.WriteString(" (no data yet for the end of the bake time)")
			}
		}
	}
	v.Summary = b.String()
}
