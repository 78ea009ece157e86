package watch

import (
	"fmt"
	"time"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// This file is the life cycle of a rollout: a deploy whose traffic canaryd
// shifts itself, a weight at a time, judging each step with the policy
// before the next. A failing step trips the watch like any other (the
// rollback plan sends the weight back to 0); the last step passing promotes
// the version at 100 %. Only the canary slice is ever exposed to a bad
// version.
//
//	rolling_out: [pre-traffic hook] → step 0 weight set → judged for its hold
//	  (and the data lag: the hold's last period must have been read)
//	  (→ gate: waits for promote) → step 1 … → last step (100 %)
//	  → [post-traffic hook] → promoted
//	  failing → tripped (weight back to 0) · alias moved by someone else → superseded

// SetTraffic asks the caller to route Weight of the alias's traffic to the
// watch's new version (1 = all of it), conditional on the alias still being
// as canaryd left it. The caller reports back with TrafficSet or
// TrafficRefused.
type SetTraffic struct {
	Step   int
	Weight float64
}

// RunHook asks the caller to run a rollout's traffic hook (Pre before any
// traffic moves, else after 100 %) and report back with HookDone.
type RunHook struct{ Pre bool }

func (SetTraffic) effect() {}
func (RunHook) effect()    {}

// StartRollout is a new rollout watch of version on target (known-good the
// version the alias serves): phase rolling_out at step 0, no traffic moved.
func StartRollout(w store.Watch, steps []store.RolloutStep) store.Watch {
	w.Phase = store.PhaseRollingOut
	w.Rollout = &store.Rollout{Steps: append([]store.RolloutStep(nil), steps...)}
	return w
}

// ResumeRollout is StartRollout for a rollout found with the weight of
// step already set (the store lost its data in the middle of a rollout
// canaryd drove): the step's hold and the new version's evidence start
// again now, and the pre-traffic hook is done (traffic moved already). Its
// probe baseline is none, stated: every probe result since the split may
// be the new version's, and taking them for the known-good's made a
// failing canary look like a deploy during an incident (alert only).
func ResumeRollout(w store.Watch, steps []store.RolloutStep, step int, now time.Time) store.Watch {
	w = StartRollout(w, steps)
	w.Rollout.Step, w.Rollout.StepAt, w.Rollout.TrafficAt = step, now, now
	w.Rollout.PreHook = store.HookPassed
	w.ProbeBaseline = store.NewProbeBaseline(nil)
	return w
}

// nextRollout is Next for a rolling-out watch.
func nextRollout(c Config, w store.Watch, t Tick) (store.Watch, []Effect) {
	tr := begin(w)
	r := *w.Rollout
	tr.w.Rollout = &r
	now := t.Now
	if o, ok := oneShot(t.Overrides, w, store.OverrideForceRollback); ok {
		if r.Step == 0 && r.StepAt.IsZero() {
			tr.claim(o)
			tr.end(now, store.PhaseEnded, fmt.Sprintf("rollout stopped by %s before any traffic moved: %s", o.Actor, o.Reason))
			return tr.done()
		}
		tr.trip(c, now, cause{trigger: "operator", actor: o.Actor, toVersion: o.Version, reason: fmt.Sprintf("aborted by %s: %s", o.Actor, o.Reason)})
		tr.claim(o)
		return tr.done()
	}
	if o, ok := oneShot(t.Overrides, w, store.OverridePromote); ok {
		tr.claim(o)
		r.Gated = true
	}
	if c.PreHook && r.PreHook != store.HookPassed {
		tr.hook(c, now, &r.PreHook, true)
		return tr.done()
	}
	if r.StepAt.IsZero() {
		tr.post = append(tr.post, SetTraffic{Step: r.Step, Weight: r.Steps[r.Step].Weight})
		return tr.done()
	}
	v := t.Verdict
	tr.recordVerdict(v)
	if v.Kind == policy.Failing {
		if why := alertOnlyReason(t.Overrides, w, v); why != "" {
			tr.alertOnly(now, why, v) // and the rollout holds: no step while failing
		} else {
			tr.trip(c, now, cause{trigger: "policy", reason: fmt.Sprintf("step %d at %s: %s", r.Step+1, percent(r.Steps[r.Step].Weight), v.Summary), verdict: &v})
		}
		return tr.done()
	}
	if Paused(t.Overrides, w.Target) != nil || !tr.w.AlertOnlyAt.IsZero() {
		return tr.done() // paused, or failed while canaryd could only alert: the operator decides
	}
	step := r.Steps[r.Step]
	due := r.StepAt.Add(step.Hold + c.DataLag)
	if !r.Gated && (now.Before(due) || step.Gate || !stepPassed(v)) {
		if !step.Gate && c.RolloutStall > 0 && r.StalledAt.IsZero() && !now.Before(due.Add(c.RolloutStall)) {
			r.StalledAt = now
			tr.note(Note{Kind: event.RolloutStep, Alert: event.RolloutStep, Severity: event.Warning,
				Message: fmt.Sprintf("Rollout of version %s holds at step %d of %d (%s) %s past its hold: not enough evidence to move on (%s); `canaryd promote %s` moves it on, `canaryd abort %s` rolls it back",
					w.NewVersion, r.Step+1, len(r.Steps), percent(step.Weight), now.Sub(r.StepAt.Add(step.Hold)).Truncate(time.Second), v.Summary, w.Target, w.Target)})
		}
		return tr.done()
	}
	if r.Step < len(r.Steps)-1 {
		held := now.Sub(r.StepAt).Truncate(time.Second)
		r.Step, r.StepAt, r.Gated, r.StalledAt = r.Step+1, time.Time{}, false, time.Time{}
		tr.note(Note{Kind: event.RolloutStep, Alert: event.RolloutStep, Severity: event.Info,
			Message: fmt.Sprintf("step %d of %d passed (%s for %s; %s); moving to %s", r.Step, len(r.Steps),
				percent(step.Weight), held, stepEvidence(v, r.Gated), percent(r.Steps[r.Step].Weight))})
		return tr.done()
	}
	if c.PostHook && r.PostHook != store.HookPassed {
		tr.hook(c, now, &r.PostHook, false)
		return tr.done()
	}
	tr.promote(c, now, fmt.Sprintf("rollout complete: %d steps passed, all traffic on %s", len(r.Steps), w.NewVersion))
	return tr.done()
}

// JudgedFrom is where the policy's evidence about a watch's new version
// starts: when it was detected, or for a rollout when its first step's
// weight was set — probe results and periods before that saw only the
// known-good version and must not count as the new version's evidence
// (they are its probe baseline).
func JudgedFrom(w store.Watch) time.Time {
	if r := w.Rollout; r != nil && !r.TrafficAt.IsZero() {
		return r.TrafficAt
	}
	return w.DetectedAt
}

// stepEvidence is what a passed step's note says of its evidence: the
// verdict's summary, or that an operator moved it on.
func stepEvidence(v policy.Verdict, gated bool) string {
	if gated {
		return "moved on by an operator; last verdict: " + v.Summary
	}
	return v.Summary
}

// stepPassed reports whether a step's verdict lets the rollout expose more
// traffic: every rule has judged its minimum evidence, none breached, and
// none holds evidence against the new version that is on its way to a
// trip. Otherwise the step holds (an operator's promote moves it on).
func stepPassed(v policy.Verdict) bool {
	if v.Kind != policy.Healthy && v.Kind != policy.Promote {
		return false
	}
	for _, f := range v.Findings {
		if f.Breached || f.Pending || !f.Enough {
			return false
		}
	}
	return true
}

// hook runs a traffic hook once and waits for it; a failed pre-traffic
// hook ends the rollout before any traffic moved, a failed post-traffic
// hook rolls back.
func (tr *transition) hook(c Config, now time.Time, state *store.HookState, pre bool) {
	switch *state {
	case "":
		*state = store.HookPending
		tr.post = append(tr.post, RunHook{Pre: pre})
	case store.HookFailed:
		if pre {
			tr.end(now, store.PhaseEnded, "pre-traffic hook failed: no traffic moved")
			tr.note(Note{Kind: event.RolloutAborted, Alert: event.RolloutAborted, Severity: event.Warning,
				Message: fmt.Sprintf("Rollout of version %s stopped: the pre-traffic hook failed; no traffic moved", tr.w.NewVersion)})
			return
		}
		tr.trip(c, now, cause{trigger: "policy", reason: "post-traffic hook failed"})
	}
}

// TrafficSet records that step's weight is in place (the alias's new
// routing and RevisionId). At the first weight, where the watch's evidence
// starts, probes (the target's probe results from before now: the
// known-good's) become its stored probe baseline.
func TrafficSet(w store.Watch, step int, weights map[string]float64, revision string, now time.Time, probes *store.ProbeBaseline) (store.Watch, []Effect) {
	if w.Phase != store.PhaseRollingOut || w.Rollout == nil || w.Rollout.Step != step || !w.Rollout.StepAt.IsZero() {
		return w, nil
	}
	tr := begin(w)
	r := *w.Rollout
	r.StepAt = now
	if r.TrafficAt.IsZero() {
		r.TrafficAt = now
		if probes.Len() > 0 {
			tr.w.ProbeBaseline = probes
		}
	}
	tr.w.Rollout, tr.w.Weights, tr.w.RevisionID = &r, weights, revision
	tr.note(Note{Kind: event.RolloutStep, Severity: event.Info,
		Message: fmt.Sprintf("step %d of %d: %s of the traffic on version %s", step+1, len(r.Steps), percent(r.Steps[step].Weight), w.NewVersion)})
	return tr.done()
}

// TrafficRefused records that the alias was not as canaryd left it: a
// pipeline or a person moved it. The rollout stops without touching it
// (never clobber); whatever now serves is for the detector to judge.
func TrafficRefused(w store.Watch, why string, now time.Time) (store.Watch, []Effect) {
	if w.Phase != store.PhaseRollingOut {
		return w, nil
	}
	tr := begin(w)
	tr.w.Phase, tr.w.EndedAt, tr.w.Reason = store.PhaseSuperseded, now, "rollout stopped: "+why
	tr.note(Note{Kind: event.RolloutAborted, Alert: event.RolloutAborted, Severity: event.Warning,
		Message: fmt.Sprintf("Rollout of version %s stopped without touching the alias: %s", w.NewVersion, why)})
	return tr.done()
}

// HookDone records how a traffic hook ended.
func HookDone(w store.Watch, pre, ok bool, detail string, now time.Time) (store.Watch, []Effect) {
	if w.Phase != store.PhaseRollingOut || w.Rollout == nil {
		return w, nil
	}
	tr := begin(w)
	r := *w.Rollout
	state, name := &r.PostHook, "post-traffic"
	if pre {
		state, name = &r.PreHook, "pre-traffic"
	}
	if *state != store.HookPending {
		return w, nil
	}
	*state = store.HookPassed
	verb := "passed"
	if !ok {
		*state, verb = store.HookFailed, "failed"
	}
	tr.w.Rollout = &r
	tr.note(Note{Kind: event.RolloutStep, Severity: event.Info, Message: fmt.Sprintf("%s hook %s: %s", name, verb, detail)})
	return tr.done()
}

func percent(w float64) string { return fmt.Sprintf("%g%%", w*100) }

// rolloutChanged reports whether a transition changed a rollout's state.
func rolloutChanged(a, b *store.Rollout) bool {
	if a == nil || b == nil {
		return a != b
	}
	return a.Step != b.Step || !a.StepAt.Equal(b.StepAt) || a.Gated != b.Gated || a.PreHook != b.PreHook || a.PostHook != b.PostHook ||
		!a.StalledAt.Equal(b.StalledAt) || !a.TrafficAt.Equal(b.TrafficAt)
}
