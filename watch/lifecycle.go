package watch

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// This file is the whole life cycle of a watch. Every rule of it — when a
// deploy is promoted, held, tripped or only alerted on, how overrides act,
// what a plan's outcome means — is decided here and nowhere else.

// Next advances a watch by one tick. A baking or promoted watch is judged:
// the rollback window closing ends it; then a one-shot operator override
// (force rollback, mark good) wins over the verdict; then the verdict
// decides — promote (or hold a version that failed while canaryd could only
// alert), trip, or alert only (paused, no known-good, known-good failing
// too). A tripped or rolling-back watch asks for its plan to run. Final
// phases do nothing.
func Next(c Config, w store.Watch, t Tick) (store.Watch, []Effect) {
	switch {
	case w.Phase == store.PhaseTripped || w.Phase == store.PhaseRollingBack:
		if w.IncidentID == "" {
			return w, nil
		}
		return w, []Effect{RunPlan{IncidentID: w.IncidentID}}
	case w.Phase == store.PhaseRollingOut && w.Rollout != nil:
		return nextRollout(c, w, t)
	case !Judged(w.Phase):
		return w, nil
	}
	tr := begin(w)
	now := t.Now
	if w.Phase == store.PhasePromoted && !now.Before(w.PromotedAt.Add(c.RollbackWindow)) {
		tr.end(now, store.PhaseEnded, fmt.Sprintf("promoted; rollback window of %s closed", c.RollbackWindow))
		return tr.done()
	}
	if o, ok := oneShot(t.Overrides, w, store.OverrideForceRollback); ok {
		tr.trip(c, now, cause{trigger: "operator", actor: o.Actor, toVersion: o.Version,
			reason: fmt.Sprintf("forced by %s: %s", o.Actor, o.Reason)})
		tr.claim(o)
		return tr.done()
	}
	if o, ok := oneShot(t.Overrides, w, store.OverrideMarkGood); ok {
		tr.claim(o)
		if w.Phase == store.PhaseBaking {
			tr.promote(c, now, fmt.Sprintf("marked good by %s: %s", o.Actor, o.Reason))
		}
		return tr.done()
	}
	v := t.Verdict
	tr.recordVerdict(v)
	switch {
	case v.Kind == policy.Promote && w.Phase == store.PhaseBaking && !w.AlertOnlyAt.IsZero():
		tr.hold(now)
	case v.Kind == policy.Promote && w.Phase == store.PhaseBaking:
		tr.promote(c, now, v.Summary)
	case v.Kind == policy.Failing:
		if why := alertOnlyReason(t.Overrides, w, v); why != "" {
			tr.alertOnly(now, why, v)
		} else {
			tr.trip(c, now, cause{trigger: "policy", reason: v.Summary, verdict: &v})
		}
	}
	return tr.done()
}

// Resume trips a judged watch whose incident was opened before a crash or a
// lease take-over cut the trip short, with the incident's own cause and
// rollback target.
func Resume(c Config, w store.Watch, inc store.Incident, now time.Time) (store.Watch, []Effect) {
	if !Judged(w.Phase) {
		return w, nil
	}
	tr := begin(w)
	tr.trip(c, now, cause{trigger: inc.Trigger, actor: inc.Actor, toVersion: inc.ToVersion, reason: "resumed: " + inc.Trigger})
	return tr.done()
}

// PlanStarted marks a tripped watch as rolling back.
func PlanStarted(w store.Watch) (store.Watch, []Effect) {
	if w.Phase != store.PhaseTripped {
		return w, nil
	}
	w.Phase = store.PhaseRollingBack
	return w, []Effect{Save{Watch: w}}
}

// PlanDone records how the watch's rollback plan ended: the watch first,
// then the incident (a closed incident means done), then the note. A watch
// that already ended otherwise (superseded meanwhile) keeps its phase.
func PlanDone(w store.Watch, inc store.Incident, r PlanResult, now time.Time) (store.Watch, []Effect) {
	o := outcomeOf(r.Outcome)
	msg := o.message(w.Target, inc, r)
	var effs []Effect
	if !w.Phase.Final() {
		w.Phase, w.EndedAt, w.Reason = o.phase, now, msg
		effs = append(effs, Save{Watch: w})
	}
	return w, append(effs, closeAndNote(o, w.Target, w.ID, inc, r, msg)...)
}

// closeAndNote closes a plan's incident and notes how it ended (the page's
// resolve).
func closeAndNote(o outcome, target, watchID string, inc store.Incident, r PlanResult, msg string) []Effect {
	return []Effect{CloseIncident{IncidentID: inc.ID, Outcome: r.Outcome}, o.note(target, watchID, inc, r, msg)}
}

// PlanDoneLost records how a watch's rollback plan ended when the watch is
// gone (the store lost its data while the plan ran): the incident is
// closed if it is there, and the note resolves the trip's page, which
// nothing else would.
func PlanDoneLost(inc store.Incident, r PlanResult) []Effect {
	o := outcomeOf(r.Outcome)
	return closeAndNote(o, inc.Target, inc.WatchID, inc, r, o.message(inc.Target, inc, r))
}

// LostTrip is the page of a trip whose incident the store kept but whose
// watch it lost before the trip was saved (Redis back empty between the
// two writes): the trip's own page went with that step.
func LostTrip(inc store.Incident) Note {
	return Note{Kind: event.Tripped, Alert: event.Tripped, Severity: event.Critical, Target: inc.Target, WatchID: inc.WatchID,
		IncidentID: inc.ID, KnownGood: inc.ToVersion, NewVersion: inc.FromVersion, Data: inc.Verdict,
		Message: fmt.Sprintf("Deploy of version %s tripped (%s; its watch was lost with the store); rolling back to %s",
			inc.FromVersion, inc.Trigger, inc.ToVersion)}
}

// ManualDone records how an operator's rollback (an incident without a
// watch) ended.
func ManualDone(inc store.Incident, r PlanResult) []Effect {
	o := outcomeOf(r.Outcome)
	msg := fmt.Sprintf("Manual rollback of %s from %s to %s by %s: %s %s", inc.Target, inc.FromVersion, inc.ToVersion, inc.Actor, r.Outcome, r.Reason)
	return closeAndNote(o, inc.Target, "", inc, r, msg)
}

// Started is what a new watch announces (and, when it replaced one, that
// the older watch was superseded).
func Started(w store.Watch, superseded *store.Watch) []Effect {
	msg := fmt.Sprintf("deploy detected: version %s (known-good %s, via %s)", w.NewVersion, orNone(w.KnownGood), w.Source)
	var effs []Effect
	if superseded != nil {
		msg += fmt.Sprintf("; supersedes watch %s of version %s", superseded.ID, superseded.NewVersion)
		effs = append(effs, Note{Kind: event.Superseded, Severity: event.Info, Target: w.Target, WatchID: superseded.ID,
			KnownGood: superseded.KnownGood, NewVersion: superseded.NewVersion, Message: "superseded by deploy of version " + w.NewVersion})
	}
	return append(effs, Note{Kind: event.WatchStarted, Alert: event.WatchStarted, Severity: event.Info, Target: w.Target,
		WatchID: w.ID, KnownGood: w.KnownGood, NewVersion: w.NewVersion, Message: "Watching " + msg})
}

// Supersede ends an active watch because a newer deploy (by, "" when none)
// replaced it or the alias was moved back by hand.
func Supersede(w store.Watch, by, why string, now time.Time) store.Watch {
	if w.Phase.Final() {
		return w
	}
	w.Phase, w.SupersededBy, w.EndedAt, w.Reason = store.PhaseSuperseded, by, now, why
	return w
}

// End ends an active watch on an operator's behalf (a manual rollback took
// over).
func End(w store.Watch, why string, now time.Time) (store.Watch, []Effect) {
	tr := begin(w)
	tr.end(now, store.PhaseEnded, why)
	return tr.done()
}

// cause says why a watch trips.
type cause struct {
	trigger   string // policy | operator
	actor     string
	reason    string
	verdict   *policy.Verdict
	toVersion string // the operator's --to; "" = the watch's known-good
}

// transition builds one transition: the new state plus effects that must
// come before persisting it (open the incident, claim the override) and
// after (everything else).
type transition struct {
	from, w   store.Watch
	pre, post []Effect
}

func begin(w store.Watch) *transition { return &transition{from: w, w: w} }

// done returns the state and the effects in order: pre, Save (when the
// state changed), post.
func (tr *transition) done() (store.Watch, []Effect) {
	effs := tr.pre
	if changed(tr.from, tr.w) {
		effs = append(effs, Save{Watch: tr.w})
	}
	return tr.w, append(effs, tr.post...)
}

func (tr *transition) note(n Note) {
	n.Target, n.WatchID = tr.w.Target, tr.w.ID
	if n.KnownGood == "" {
		n.KnownGood = tr.w.KnownGood
	}
	n.NewVersion = tr.w.NewVersion
	tr.post = append(tr.post, n)
}

func (tr *transition) end(now time.Time, phase store.Phase, why string) {
	if tr.w.Phase.Final() {
		return
	}
	tr.w.Phase, tr.w.EndedAt, tr.w.Reason = phase, now, why
	tr.note(Note{Kind: event.Ended, Severity: event.Info, Message: why})
}

// claim takes a per-target one-shot override; an all-targets one is used
// by every watch it applies to and lapses with its TTL.
func (tr *transition) claim(o store.Override) {
	if o.Target != "*" {
		tr.pre = append(tr.pre, Claim{Override: o})
	}
	oc := o
	who := fmt.Sprintf("%s by %s used: %s", o.Kind, o.Actor, o.Reason)
	if o.Target == "*" {
		who = fmt.Sprintf("%s of all targets by %s used: %s", o.Kind, o.Actor, o.Reason)
	}
	tr.note(Note{Kind: event.OverrideUsed, Severity: event.Info, Message: who, Override: &oc})
}

// recordVerdict keeps the verdict when its kind changed, with a note.
func (tr *transition) recordVerdict(v policy.Verdict) {
	if v.Kind == "" || string(v.Kind) == tr.w.VerdictKind {
		return
	}
	raw, _ := json.Marshal(v)
	tr.w.LastVerdict, tr.w.VerdictKind = raw, string(v.Kind)
	tr.note(Note{Kind: event.Verdict, Severity: event.Info, Message: v.Summary, Data: raw})
}

// promote ends baking: the version becomes known-good. With a rollback
// window the watch stays judged as promoted; without, it ends.
func (tr *transition) promote(c Config, now time.Time, why string) {
	w := &tr.w
	w.PromotedAt, w.Phase, w.Reason = now, store.PhasePromoted, "promoted: "+why
	if c.RollbackWindow <= 0 {
		w.Phase, w.EndedAt = store.PhaseEnded, now
	}
	tr.post = append(tr.post, SetKnownGood{Target: w.Target, Version: w.NewVersion})
	tr.note(Note{Kind: event.Promoted, Alert: event.Promoted, Severity: event.Info,
		Message: fmt.Sprintf("Version %s of %s is promoted (%s)", w.NewVersion, w.Target, why)})
}

// hold says once that a version healthy after baking waits for an
// operator: it failed earlier while canaryd could only alert.
func (tr *transition) hold(now time.Time) {
	if !tr.w.HeldAt.IsZero() {
		return
	}
	tr.w.HeldAt = now
	tr.note(Note{Kind: event.PromotionHeld, Alert: event.AlertOnly, Severity: event.Warning,
		Message: fmt.Sprintf("version %s looks healthy after baking but failed earlier (%s); not promoting on its own: mark it good or roll back",
			tr.w.NewVersion, tr.w.AlertOnlyWhy)})
}

// alertOnly says once that the watch is failing and canaryd will not act.
func (tr *transition) alertOnly(now time.Time, why string, v policy.Verdict) {
	if !tr.w.AlertOnlyAt.IsZero() {
		return
	}
	tr.w.AlertOnlyAt, tr.w.AlertOnlyWhy = now, why
	tr.note(Note{Kind: event.AlertOnly, Alert: event.AlertOnly, Severity: event.Critical, Verdict: &v,
		Message: "Deploy is failing; no automatic action: " + why})
}

// trip opens the watch's incident and asks for its rollback plan. The
// rollback target is the known-good from now on, so the detector reads the
// actuator's own alias update as a return to known-good, not a deploy.
func (tr *transition) trip(c Config, now time.Time, k cause) {
	w := &tr.w
	to := k.toVersion
	if to == "" {
		to = w.KnownGood
	}
	inc := store.Incident{ID: IncidentID(w.ID), Target: w.Target, WatchID: w.ID, OpenedAt: now,
		FromVersion: w.NewVersion, ToVersion: to, Trigger: k.trigger, Actor: k.actor}
	if k.verdict != nil {
		inc.Verdict, _ = json.Marshal(k.verdict)
	}
	w.Phase, w.IncidentID, w.Reason = store.PhaseTripped, inc.ID, k.reason
	tr.pre = append(tr.pre, OpenIncident{Incident: inc})
	tr.post = append(tr.post, SetKnownGood{Target: w.Target, Version: to})
	tr.note(Note{Kind: event.Tripped, Alert: event.Tripped, Severity: event.Critical, IncidentID: inc.ID,
		KnownGood: to, Verdict: k.verdict, Data: inc.Verdict, DryRun: c.DryRun,
		Message: fmt.Sprintf("Deploy of version %s tripped (%s); rolling back to %s", w.NewVersion, k.reason, to)})
	tr.post = append(tr.post, RunPlan{IncidentID: inc.ID})
}

// oneShot finds a force-rollback or mark-good override for the watch. It
// applies only to a deploy that was under watch when it was set (detected
// before its CreatedAt): an operator's decision about one deploy never lands
// on a later one.
func oneShot(ovs []store.Override, w store.Watch, kind store.OverrideKind) (store.Override, bool) {
	for _, o := range ovs {
		if o.Kind == kind && o.Applies(w.Target) && !w.DetectedAt.After(o.CreatedAt) &&
			(kind != store.OverrideMarkGood || o.Version == "" || o.Version == w.NewVersion) {
			return o, true
		}
	}
	return store.Override{}, false
}

// alertOnlyReason says why a failing watch must not be rolled back, or ""
// when it must.
func alertOnlyReason(ovs []store.Override, w store.Watch, v policy.Verdict) string {
	if o := Paused(ovs, w.Target); o != nil {
		return fmt.Sprintf("automatic actions paused by %s until %s: %s", o.Actor, untilText(o.ExpiresAt), o.Reason)
	}
	switch {
	case w.KnownGood == "":
		return "no known-good version recorded for this target: nothing safe to roll back to"
	case v.AlertOnly && v.AlertWhy != "":
		return v.AlertWhy
	case v.AlertOnly:
		return "the known-good version was already failing before this deploy: rolling back would not help"
	}
	return ""
}

// Paused returns the pause override in force for target, if any.
func Paused(ovs []store.Override, target string) *store.Override {
	for i := range ovs {
		if ovs[i].Kind == store.OverridePause && ovs[i].Applies(target) {
			return &ovs[i]
		}
	}
	return nil
}

// outcome is what a plan's outcome means for the watch and on-call.
type outcome struct {
	phase    store.Phase
	kind     event.Kind
	alert    event.Kind
	severity event.Severity
}

func outcomeOf(o store.Outcome) outcome {
	switch o {
	case store.OutcomeRolledBack:
		return outcome{store.PhaseRolledBack, event.RollbackDone, event.RollbackDone, event.Info}
	case store.OutcomeUnhealthyAfter:
		return outcome{store.PhaseRollbackFailed, event.RollbackUnhealthy, event.RollbackUnhealthy, event.Critical}
	case store.OutcomeAborted:
		return outcome{store.PhaseSuperseded, event.RollbackAborted, event.RollbackAborted, event.Warning}
	case store.OutcomeNotExecuted:
		return outcome{store.PhaseEnded, event.RollbackDryRun, event.AlertOnly, event.Warning}
	}
	return outcome{store.PhaseRollbackFailed, event.RollbackFailed, event.RollbackFailed, event.Critical}
}

func (o outcome) message(target string, inc store.Incident, r PlanResult) string {
	switch r.Outcome {
	case store.OutcomeRolledBack:
		return fmt.Sprintf("Rolled %s back from %s to %s; health verified", target, inc.FromVersion, inc.ToVersion)
	case store.OutcomeUnhealthyAfter:
		return fmt.Sprintf("Rolled %s back to %s but health did not recover: %s", target, inc.ToVersion, r.Reason)
	case store.OutcomeAborted:
		return fmt.Sprintf("Rollback of %s stopped: %s", target, r.Reason)
	case store.OutcomeNotExecuted:
		return fmt.Sprintf("Dry-run: rollback of %s from %s to %s planned and journaled, not executed", target, inc.FromVersion, inc.ToVersion)
	}
	return fmt.Sprintf("Rollback of %s from %s to %s failed: %s", target, inc.FromVersion, inc.ToVersion, r.Reason)
}

func (o outcome) note(target, watchID string, inc store.Incident, r PlanResult, msg string) Note {
	return Note{Kind: o.kind, Alert: o.alert, Severity: o.severity, Target: target, WatchID: watchID, IncidentID: inc.ID,
		KnownGood: inc.ToVersion, NewVersion: inc.FromVersion, Actions: r.Actions, Message: msg}
}

// changed reports whether a transition changed what is persisted.
func changed(a, b store.Watch) bool {
	return a.Phase != b.Phase || a.Reason != b.Reason || a.IncidentID != b.IncidentID || a.VerdictKind != b.VerdictKind ||
		!a.PromotedAt.Equal(b.PromotedAt) || !a.EndedAt.Equal(b.EndedAt) || !a.AlertOnlyAt.Equal(b.AlertOnlyAt) ||
		!a.HeldAt.Equal(b.HeldAt) || a.SupersededBy != b.SupersededBy || a.RevisionID != b.RevisionID ||
		!maps.Equal(a.Weights, b.Weights) || rolloutChanged(a.Rollout, b.Rollout)
}

func untilText(t time.Time) string {
	if t.IsZero() {
		return "removed"
	}
	return t.UTC().Format("15:04:05Z07:00")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
