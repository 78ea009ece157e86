package policy

import (
	"fmt"
	"strconv"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// Input is everything a verdict depends on besides the policy and the time.
type Input struct {
	WatchStart time.Time // when the deploy was seen; periods that ended before it are ignored
	KnownGood  string    // version recorded as known-good when the watch began ("" = none)
	NewVersion string    // the version being judged
	// Split: the alias splits traffic. Statistical rules tell split periods
	// by the samples themselves (per-version datapoints of the new
	// version); metric rules judge per-version samples when it is set.
	Split bool
	// Promoted is set while the watch stays open after promotion (rollback
	// window): the verdict is never Promote again, Failing is still possible.
	Promoted bool
	Samples  []sample.Sample // the watch's samples, latest value per Key (History.Samples)
	// Evidence is what the watch's History folded from periods that can
	// no longer change (History.Evidence); nil when the History does not
	// fold (then the samples are all there is).
	Evidence *Evidence
	Baseline []sample.Sample // samples from before the deploy: alias-level metrics, probe results
	// BaselineSince is when the version the alias served before the deploy
	// was first seen serving it alone (zero: not known). When the minutes
	// before it show another error rate, throttle rate or latency, the
	// baseline starts at its first whole period and those minutes are
	// left out (shape.go).
	BaselineSince time.Time
	// Prepared, when set by this Policy's PrepareBaseline, stands in for
	// Baseline: the daemon prepares a watch's baseline once.
	Prepared *PreparedBaseline
}

// Evaluate judges the input at now. It is pure: no I/O, no clock, no
// state; the same arguments always give the same verdict.
//
// The verdict is
//   - Failing when any rule tripped (AlertOnly when the known-good version
//     breaches every tripped rule as well: a deploy during an incident,
//     where rolling back would not help; see knownGoodBreaches);
//   - else Inconclusive when no rule vouches (has judged at least its
//     minimum evidence and found nothing) and none is on its way to trip;
//   - else Promote when not already promoted, the bake time has elapsed
//     since WatchStart and every rule has data up to the end of the bake
//     time (metrics: a delivered period ending at or after it, probes: a
//     result at or after it), none is blind (its newest period a source
//     error) and none is on its way to trip (e-value at least 1/√α). Rules
//     with too little traffic to judge neither block nor count; at least
//     one rule must vouch, so a zero-traffic target promotes on its probes
//     alone, and a target without probes waits for traffic;
//   - else Healthy.
func (p *Policy) Evaluate(in Input, now time.Time) Verdict {
	c := ctxPool.Get().(*evalCtx)
	defer ctxPool.Put(c)
	pb := p.baselineFor(&in)
	w := watchInfo{start: in.WatchStart.UnixNano(), knownGood: in.KnownGood, newVer: in.NewVersion}
	p.fill(c, in.Samples, &w, pb.metrics, now.UnixNano())

	v := Verdict{At: now, Findings: make([]Finding, len(p.rules))}
	results := make([]ruleResult, len(p.rules))
	for i := range p.rules {
		r := &p.rules[i]
		if r.test == testWindow {
			results[i], v.Findings[i] = p.evalWindowRule(c, r, &in, pb, now)
		} else {
			results[i], v.Findings[i] = p.evalStat(c, r, &pb.rules[i], &w, &in)
		}
	}
	p.decide(&v, results, &in, now)
	return v
}

// baselineFor is the input's prepared baseline, prepared now when it was
// not (or by another policy).
func (p *Policy) baselineFor(in *Input) *PreparedBaseline {
	switch {
	case in.Prepared != nil && in.Prepared.p == p:
		return in.Prepared
	case len(in.Baseline) > 0:
		return p.PrepareBaselineSince(in.Baseline, in.BaselineSince)
	}
	return p.empty
}

// tally counts what the rules' results say, for decide.
type tally struct {
	breached, kgBad, stale, vouch, pending int
	wait                                   int // first rule promotion waits for (-1: none)
}

// tallyResults counts the breaches (those where rolling back would not
// help: the known-good breaches too, or a relative trip past
// baseline_horizon), the rules that vouch or are on their way to trip, and
// the first rule that holds promotion: blocked, pending, or without data up
// to the end of the bake time.
func tallyResults(rs []ruleResult, bakeEnd int64, late bool) tally {
	t := tally{wait: -1}
	for i := range rs {
		r := &rs[i]
		if r.breached {
			t.breached++
			switch {
			case r.kgBad:
				t.kgBad++
			case r.relative && late:
				t.stale++
			}
		}
		if r.vouch {
			t.vouch++
		}
		if r.pending {
			t.pending++
		}
		if t.wait < 0 && (r.blocked || r.pending || r.dataEnd < bakeEnd) {
			t.wait = i
		}
	}
	return t
}

// decide turns the rules' results into the verdict's kind and summary:
// Failing when any rule breached (alert-only when every breach is one
// rolling back would not help), Inconclusive when no rule vouches or is
// pending, Promote once the bake time is over and nothing holds it,
// Healthy otherwise.
func (p *Policy) decide(v *Verdict, rs []ruleResult, in *Input, now time.Time) {
	bakeEnd := in.WatchStart.Add(p.bake)
	t := tallyResults(rs, bakeEnd.UnixNano(), p.horizon > 0 && now.Sub(in.WatchStart) > p.horizon)
	b := &noteBuf{}
	switch {
	case t.breached > 0:
		v.Kind = Failing
		v.AlertOnly = t.kgBad+t.stale == t.breached
		p.failingSummary(b, v, t.stale > 0)
	case t.vouch+t.pending == 0:
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
	case !in.Promoted && !now.Before(bakeEnd) && t.wait < 0:
		v.Kind = Promote
		b.str("promote: healthy for bake time ").str(p.bakeStr).str("; ").int(t.vouch).str(" of ").int(len(rs)).str(" rules vouch")
	default:
		v.Kind = Healthy
		b.str("healthy: ").int(t.vouch).str(" of ").int(len(rs)).str(" rules vouch")
		if t.pending > 0 {
			b.str(", ").int(t.pending).str(" with evidence against the new version, not yet enough to trip")
		}
		p.healthyWhy(b, v, rs, in, now, bakeEnd, t.wait)
	}
	v.Summary = string(b.b)
}

// failingSummary writes a Failing verdict's summary, and why it only
// alerts when it does (stale: a relative breach past baseline_horizon is
// among the reasons), followed by every breached finding.
func (p *Policy) failingSummary(b *noteBuf, v *Verdict, stale bool) {
	b.str("failing")
	switch {
	case v.AlertOnly && stale:
		v.AlertWhy = fmt.Sprintf("more than %s after the deploy (baseline_horizon), a trip against the known-good's pre-deploy baseline "+
			"may be the time of day, not the new version: alerting, not rolling back", p.horizon.String())
		b.str(" (alert only: against a baseline from before the deploy, more than ").str(p.horizon.String()).str(" ago)")
	case v.AlertOnly:
		v.AlertWhy = "the known-good version was already failing before this deploy: rolling back would not help"
		b.str(" (alert only: known-good was already failing, rolling back would not help)")
	}
	sep := ": "
	for i := range v.Findings {
		if v.Findings[i].Breached {
			b.str(sep).str(v.Findings[i].String())
			sep = " | "
		}
	}
}

func (p *Policy) healthyWhy(b *noteBuf, v *Verdict, rs []ruleResult, in *Input, now, bakeEnd time.Time, wait int) {
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
			b.str(" (evidence against the new version, not yet tripped)")
		case rs[wait].blocked && f.Note != "":
			b.str(" (").str(f.Note).str(")")
		default:
			b.str(" (no data yet for the end of the bake time)")
		}
	}
}

// noteBuf joins note parts with "; ".
type noteBuf struct {
	b     []byte
	parts int
}

func (nb *noteBuf) sep() {
	if nb.parts > 0 {
		nb.b = append(nb.b, "; "...)
	}
	nb.parts++
}

func (nb *noteBuf) constant(s string) {
	nb.sep()
	nb.b = append(nb.b, s...)
}

func (nb *noteBuf) str(s string) *noteBuf { nb.b = append(nb.b, s...); return nb }

func (nb *noteBuf) num(v float64, prec int) *noteBuf {
	nb.b = strconv.AppendFloat(nb.b, v, 'g', prec, 64)
	return nb
}

func (nb *noteBuf) int(v int) *noteBuf { nb.b = strconv.AppendInt(nb.b, int64(v), 10); return nb }

func (nb *noteBuf) String() string { return string(nb.b) }
