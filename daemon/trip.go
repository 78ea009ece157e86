package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/canaryd/canaryd/event"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// tripCause says why a watch trips.
type tripCause struct {
	trigger   string // policy | operator
	actor     string
	reason    string
	verdict   *policy.Verdict
	toVersion string // operator's --to; "" = the watch's known-good
}

// IncidentID is the one incident a watch can open (promise 3): derived from
// the watch, created at most once in the store.
func IncidentID(watchID string) string { return "inc-" + watchID }

// trip opens the watch's incident and starts its rollback plan. Creating the
// incident is the claim: a second trip of the same watch, on this replica or
// another, finds it and only makes sure the plan runs.
func (d *Daemon) trip(ctx context.Context, t *target, w store.Watch, c tripCause) error {
	now := d.clock.Now()
	to := c.toVersion
	if to == "" {
		to = w.KnownGood
	}
	inc := store.Incident{ID: IncidentID(w.ID), Target: w.Target, WatchID: w.ID, OpenedAt: now,
		FromVersion: w.NewVersion, ToVersion: to, Trigger: c.trigger, Actor: c.actor}
	if c.verdict != nil {
		inc.Verdict, _ = json.Marshal(c.verdict)
	}
	err := d.cfg.Store.CreateIncident(ctx, inc)
	created := err == nil
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("open incident: %w", err)
	}
	if !created {
		if inc, err = d.cfg.Store.GetIncident(ctx, inc.ID); err != nil {
			return fmt.Errorf("read incident: %w", err)
		}
	}
	w, err = d.cfg.Store.UpdateWatch(ctx, w.ID, func(x *store.Watch) error {
		if x.Phase != store.PhaseBaking && x.Phase != store.PhasePromoted && x.Phase != store.PhaseTripped {
			return errNotActive
		}
		x.Phase, x.IncidentID, x.Reason = store.PhaseTripped, inc.ID, c.reason
		return nil
	})
	if errors.Is(err, errNotActive) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark watch tripped: %w", err)
	}
	// The rollback target is the known-good from now on, so the detector
	// reads our own alias update as a return to known-good, not a deploy.
	if err := d.setKnownGood(ctx, w.Target, inc.ToVersion); err != nil {
		return err
	}
	if created {
		d.metrics.DetectToTrip.Observe(now.Sub(w.DetectedAt).Seconds())
		d.log.Warn("tripped: rolling back", zap.String("target", w.Target), zap.String("watch", w.ID),
			zap.String("incident", inc.ID), zap.String("from", inc.FromVersion), zap.String("to", inc.ToVersion),
			zap.String("why", c.reason))
		d.event(ctx, store.Event{Target: w.Target, WatchID: w.ID, IncidentID: inc.ID, Type: "tripped",
			Message: fmt.Sprintf("tripped (%s): %s; rolling back %s -> %s", c.trigger, c.reason, inc.FromVersion, inc.ToVersion), Data: inc.Verdict})
		conf, _, _ := d.snapshot()
		d.send(ctx, t, notify.Event{Type: event.Tripped, Severity: event.Critical, WatchID: w.ID, IncidentID: inc.ID,
			KnownGood: inc.ToVersion, NewVersion: inc.FromVersion, Verdict: c.verdict, DryRun: d.dryRun(conf, t.conf),
			Message: fmt.Sprintf("Deploy of version %s tripped (%s); rolling back to %s", inc.FromVersion, c.reason, inc.ToVersion)})
	}
	return d.startPlan(t, w, inc)
}

// ensurePlan makes sure a tripped watch's plan is running on this replica
// (after a restart, or after taking over a dead replica's lease).
func (d *Daemon) ensurePlan(ctx context.Context, t *target, w store.Watch) error {
	if w.IncidentID == "" {
		return nil
	}
	inc, err := d.cfg.Store.GetIncident(ctx, w.IncidentID)
	if err != nil {
		return fmt.Errorf("read incident %s: %w", w.IncidentID, err)
	}
	if inc.Outcome != "" {
		return nil
	}
	return d.startPlan(t, w, inc)
}

// resume restarts every unfinished plan found in the store.
func (d *Daemon) resume(ctx context.Context) {
	incs, err := d.cfg.Store.ListIncidents(ctx, "", 0)
	if err != nil {
		d.log.Error("list incidents for resume", zap.Error(err))
		return
	}
	_, targets, _ := d.snapshot()
	for _, inc := range incs {
		if inc.Outcome != "" {
			continue
		}
		t := targets[inc.Target]
		if t == nil {
			continue
		}
		if inc.WatchID == "" {
			d.resumeManual(t, inc)
			continue
		}
		w, err := d.cfg.Store.GetWatch(ctx, inc.WatchID)
		if err != nil {
			continue
		}
		d.log.Info("resuming unfinished rollback", zap.String("target", inc.Target), zap.String("incident", inc.ID))
		if w.Phase == store.PhaseBaking || w.Phase == store.PhasePromoted {
			// Crashed between opening the incident and marking the watch.
			if err := d.trip(ctx, t, w, tripCause{trigger: inc.Trigger, actor: inc.Actor, reason: "resumed after restart", toVersion: inc.ToVersion}); err != nil {
				d.log.Error("resume trip", zap.String("incident", inc.ID), zap.Error(err))
			}
			continue
		}
		if err := d.startPlan(t, w, inc); err != nil {
			d.log.Error("resume plan", zap.String("incident", inc.ID), zap.Error(err))
		}
	}
}

// resumeManual finishes a manual rollback interrupted by a crash: the same
// plan, rebuilt from the incident, resumes from its journal. With no
// RevisionId recorded, the actuator conditions the alias change on the
// one it reads, after checking no newer version moved in.
func (d *Daemon) resumeManual(t *target, inc store.Incident) {
	conf, _, _ := d.snapshot()
	plan := actuator.BuildPlan(t.conf, actuator.PlanInput{IncidentID: inc.ID, FromVersion: inc.FromVersion,
		ToVersion: inc.ToVersion, Trigger: inc.Trigger, Actor: inc.Actor, DryRun: d.dryRun(conf, t.conf),
		Reason: "resumed after restart"})
	d.goPlan(inc, plan, func(ctx context.Context, res actuator.Result) {
		d.log.Info("resumed unfinished manual rollback", zap.String("target", inc.Target), zap.String("incident", inc.ID))
		d.finishManual(ctx, t, inc, res)
	}, nil)
}

// startPlan executes the incident's plan in the background, once per
// replica at a time; the journal makes a re-run resume, not repeat.
func (d *Daemon) startPlan(t *target, w store.Watch, inc store.Incident) error {
	conf, _, _ := d.snapshot()
	in := actuator.InputFromWatch(w, inc.ID, inc.Trigger)
	in.ToVersion, in.Actor, in.Reason = inc.ToVersion, inc.Actor, w.Reason
	in.DryRun = d.dryRun(conf, t.conf)
	d.goPlan(inc, actuator.BuildPlan(t.conf, in), func(ctx context.Context, res actuator.Result) {
		d.finishPlan(ctx, t, w, inc, res)
	}, func(ctx context.Context) {
		if _, err := d.cfg.Store.UpdateWatch(ctx, w.ID, func(x *store.Watch) error {
			if x.Phase == store.PhaseTripped {
				x.Phase = store.PhaseRollingBack
			}
			return nil
		}); err != nil {
			d.log.Error("mark rolling back", zap.String("watch", w.ID), zap.Error(err))
		}
	})
	return nil
}

// goPlan runs plan in the background on the daemon's context, if this
// replica owns the target and the incident's plan is not already running
// here; before (optional) runs first, done gets the result. A plan stopped
// by an error (fenced, shutting down) is left to resume from its journal.
func (d *Daemon) goPlan(inc store.Incident, plan actuator.Plan, done func(context.Context, actuator.Result), before func(context.Context)) {
	d.mu.Lock()
	fence, owned := d.owned[inc.Target]
	act := d.act
	if !owned || d.running[inc.ID] {
		d.mu.Unlock()
		return
	}
	d.running[inc.ID] = true
	d.mu.Unlock()
	d.plans.Add(1)
	go func() {
		defer d.plans.Done()
		defer func() { d.mu.Lock(); delete(d.running, inc.ID); d.mu.Unlock() }()
		ctx := d.workCtx
		if before != nil {
			before(ctx)
		}
		res, err := act.Execute(ctx, plan, fence)
		if err != nil {
			d.log.Error("rollback plan stopped; it resumes from the journal", zap.String("target", inc.Target),
				zap.String("incident", inc.ID), zap.Error(err))
			return
		}
		done(ctx, res)
	}()
}

// finishPlan records what a plan did and tells on-call.
func (d *Daemon) finishPlan(ctx context.Context, t *target, w store.Watch, inc store.Incident, res actuator.Result) {
	phase := store.PhaseRollbackFailed
	msg := fmt.Sprintf("Rollback of %s from %s to %s failed: %s", w.Target, inc.FromVersion, inc.ToVersion, res.Reason)
	switch res.Outcome {
	case actuator.OutcomeRolledBack:
		phase = store.PhaseRolledBack
		msg = fmt.Sprintf("Rolled %s back from %s to %s; health verified", w.Target, inc.FromVersion, inc.ToVersion)
	case actuator.OutcomeUnhealthyAfter:
		msg = fmt.Sprintf("Rolled %s back to %s but health did not recover: %s", w.Target, inc.ToVersion, res.Reason)
	case actuator.OutcomeAborted:
		phase = store.PhaseSuperseded
		msg = fmt.Sprintf("Rollback of %s stopped: %s", w.Target, res.Reason)
	case actuator.OutcomeNotExecuted:
		phase = store.PhaseEnded
		msg = fmt.Sprintf("Dry-run: rollback of %s from %s to %s planned and journaled, not executed", w.Target, inc.FromVersion, inc.ToVersion)
	}
	// The watch first, then the incident: a closed incident means done.
	if _, err := d.cfg.Store.UpdateWatch(ctx, w.ID, func(x *store.Watch) error {
		x.Phase, x.EndedAt, x.Reason = phase, d.clock.Now(), msg
		return nil
	}); err != nil {
		d.log.Error("finish watch", zap.String("watch", w.ID), zap.Error(err))
	}
	d.closeIncident(ctx, t, inc, w.ID, res, msg)
}

// closeIncident records a plan's outcome on its incident, in the history
// and metrics, and tells on-call.
func (d *Daemon) closeIncident(ctx context.Context, t *target, inc store.Incident, watchID string, res actuator.Result, msg string) {
	if _, err := d.cfg.Store.UpdateIncident(ctx, inc.ID, func(x *store.Incident) error {
		x.Outcome, x.ClosedAt = store.Outcome(res.Outcome), d.clock.Now()
		return nil
	}); err != nil {
		d.log.Error("close incident", zap.String("incident", inc.ID), zap.Error(err))
	}
	d.metrics.Rollbacks.WithLabelValues(string(res.Outcome)).Inc()
	d.log.Info("rollback finished", zap.String("target", inc.Target), zap.String("incident", inc.ID),
		zap.String("outcome", string(res.Outcome)), zap.String("reason", res.Reason))
	d.event(ctx, store.Event{Target: inc.Target, WatchID: watchID, IncidentID: inc.ID, Type: event.Kind("rollback_" + string(res.Outcome)), Message: msg})
	typ, sev := outcomeAlert(res.Outcome)
	d.send(ctx, t, notify.Event{Type: typ, Severity: sev, WatchID: watchID, IncidentID: inc.ID,
		KnownGood: inc.ToVersion, NewVersion: inc.FromVersion, Actions: actionResults(res), Message: msg})
}

// outcomeAlert is the alert a plan's outcome raises.
func outcomeAlert(o actuator.Outcome) (event.Kind, event.Severity) {
	switch o {
	case actuator.OutcomeRolledBack:
		return event.RollbackDone, event.Info
	case actuator.OutcomeUnhealthyAfter:
		return event.RollbackUnhealthy, event.Critical
	case actuator.OutcomeNotExecuted:
		return event.AlertOnly, event.Warning
	}
	return event.RollbackFailed, event.Critical
}

func actionResults(res actuator.Result) []notify.ActionResult {
	out := make([]notify.ActionResult, 0, len(res.Steps))
	for _, s := range res.Steps {
		out = append(out, notify.ActionResult{Name: s.Name, Status: string(s.Status), Duration: s.Duration,
			Detail: strings.TrimSpace(string(s.Detail)), Error: s.Error})
	}
	return out
}
