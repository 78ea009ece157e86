package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// runPlan makes sure an incident's rollback plan runs here, in the
// background, once at a time, when this replica owns the target and the
// plan has not finished. The journal makes a re-run resume, not repeat.
func (d *Daemon) runPlan(ctx context.Context, t *targets.Target, incidentID string) {
	inc, err := d.cfg.Store.GetIncident(ctx, incidentID)
	if err != nil {
		d.log.Error("read incident", zap.String("incident", incidentID), zap.Error(err))
		return
	}
	if inc.Outcome != "" {
		return
	}
	conf, _, _ := d.snapshot()
	in := actuator.PlanInput{IncidentID: inc.ID, FromVersion: inc.FromVersion, ToVersion: inc.ToVersion,
		Trigger: inc.Trigger, Actor: inc.Actor, DryRun: d.dryRun(conf, t.Conf)}
	if inc.WatchID == "" { // a manual rollback cut short: the same plan, rebuilt from the incident
		in.Reason = "resumed"
		d.goPlan(inc, actuator.BuildPlan(t.Conf, in), nil, func(ctx context.Context, res actuator.Result) {
			d.log.Info("resumed unfinished manual rollback", zap.String("target", inc.Target), zap.String("incident", inc.ID))
			_ = d.applyEffects(ctx, t, store.Watch{}, watch.ManualDone(inc, planResult(res)))
		})
		return
	}
	w, err := d.cfg.Store.GetWatch(ctx, inc.WatchID)
	if err != nil {
		d.log.Error("read watch of incident", zap.String("incident", inc.ID), zap.Error(err))
		return
	}
	in.RevisionID, in.Weights, in.Reason = w.RevisionID, w.Weights, w.Reason
	d.goPlan(inc, actuator.BuildPlan(t.Conf, in), func(ctx context.Context) {
		d.logErr(d.transit(ctx, t, w.ID, func(w store.Watch) (store.Watch, []watch.Effect) { return watch.PlanStarted(w) }),
			"mark rolling back", inc.ID)
	}, func(ctx context.Context, res actuator.Result) {
		d.logErr(d.transit(ctx, t, w.ID, func(w store.Watch) (store.Watch, []watch.Effect) {
			return watch.PlanDone(w, inc, planResult(res), d.clock.Now())
		}), "finish rollback", inc.ID)
	})
}

// goPlan runs plan in the background on the daemon's context, if this
// replica owns the target and the incident's plan is not already running
// here; before (optional) runs first, done gets the result. A plan stopped
// by an error (fenced, shutting down) is left to resume from its journal.
func (d *Daemon) goPlan(inc store.Incident, plan actuator.Plan, before func(context.Context), done func(context.Context, actuator.Result)) {
	fence, owned := d.leases.Fence(inc.Target)
	d.mu.Lock()
	act := d.act
	d.mu.Unlock()
	if !owned || !d.work.Start(inc) {
		return
	}
	d.plans.Add(1)
	go func() {
		defer d.plans.Done()
		defer d.work.Release(inc.ID)
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
		// Unless the store lost its data meanwhile: then the incident was
		// recorded again as one to finish (replant) and done could not
		// reach its watch; resumeManual finishes it.
		d.work.Finished(inc)
	}()
}

// resume finishes what a crash or a dead replica left undone on the targets
// this replica owns: an incident opened by a trip that did not reach the
// watch is tripped again with its own cause; every other unfinished plan,
// automatic or manual, runs from its journal. Run at the first tick and for
// every target whose lease this replica newly took.
func (d *Daemon) resume(ctx context.Context, names map[string]bool) {
	incs, err := d.cfg.Store.ListIncidents(ctx, "", 0)
	if err != nil {
		d.log.Error("list incidents for resume", zap.Error(err))
		return
	}
	_, ts, _ := d.snapshot()
	for _, inc := range incs {
		t := ts[inc.Target]
		if inc.Outcome != "" || t == nil || !names[inc.Target] {
			continue
		}
		d.log.Info("resuming unfinished rollback", zap.String("target", inc.Target), zap.String("incident", inc.ID))
		if inc.WatchID == "" {
			d.runPlan(ctx, t, inc.ID)
			continue
		}
		err := d.transit(ctx, t, inc.WatchID, func(w store.Watch) (store.Watch, []watch.Effect) {
			if watch.Judged(w.Phase) {
				return watch.Resume(t.Lifecycle, w, inc, d.clock.Now())
			}
			return w, []watch.Effect{watch.RunPlan{IncidentID: inc.ID}}
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			d.logErr(err, "resume", inc.ID)
		}
	}
}

// manualSweep is how often unfinished manual rollbacks are looked for.
const manualSweep = 10 * time.Second

// resumeManual re-runs, every manualSweep, the manual rollbacks this
// process started that stopped unfinished and are not running here: one
// whose journal write failed (the store was down longer than its client's
// retries), or one re-recorded after the store lost its data (replant).
// Nothing else would resume them before a restart or a lease take-over
// (automatic plans are re-run from their watch every tick). With none, it
// reads nothing.
func (d *Daemon) resumeManual(ctx context.Context) {
	stopped := d.work.Stopped(d.clock.Now(), manualSweep)
	if len(stopped) == 0 {
		return
	}
	_, ts, _ := d.snapshot()
	for _, id := range stopped {
		inc, err := d.cfg.Store.GetIncident(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && inc.Outcome != "":
			d.work.Forget(id) // finished (here or by another replica), or gone
		case err != nil:
			d.log.Warn("read unfinished manual rollback", zap.String("incident", id), zap.Error(err))
		case ts[inc.Target] != nil && d.leases.Owns(inc.Target):
			d.runPlan(ctx, ts[inc.Target], id)
		}
	}
}

// replant records again, after the store lost its data, the incidents
// whose plans this process had started and not seen finish: without them
// their pages would never be resolved and their remaining steps (caches,
// hooks, verification) never run. Each comes back as a manual-style
// incident (its watch is gone): resumeManual runs its plan from the start,
// which finds the alias already reverted (done) or reverts it, and closes
// it with its resolve page.
func (d *Daemon) replant(ctx context.Context) {
	_, ts, _ := d.snapshot()
	for _, inc := range d.work.InFlight() {
		t := ts[inc.Target]
		if t == nil {
			continue
		}
		inc.WatchID, inc.Outcome, inc.ClosedAt, inc.Revision = "", "", time.Time{}, 0
		if err := d.cfg.Store.CreateIncident(ctx, inc); err != nil {
			d.log.Warn("re-record incident lost with the store", zap.String("incident", inc.ID), zap.Error(err))
			continue
		}
		d.work.Replanted(inc) // now a manual-style incident: resumeManual's
		d.note(ctx, t, watch.Note{Kind: event.StoreLost, Severity: event.Warning, Target: inc.Target, IncidentID: inc.ID,
			Message: fmt.Sprintf("incident %s (%s -> %s) was lost with the store while its rollback ran; re-recorded, its plan resumes",
				inc.ID, inc.FromVersion, inc.ToVersion)})
	}
}

// planResult is the life cycle's view of an actuator result.
func planResult(res actuator.Result) watch.PlanResult {
	r := watch.PlanResult{Outcome: store.Outcome(res.Outcome), Reason: res.Reason}
	for _, s := range res.Steps {
		r.Actions = append(r.Actions, watch.Action{Name: s.Name, Status: string(s.Status), Duration: s.Duration,
			Detail: string(s.Detail), Error: s.Error})
	}
	return r
}

func (d *Daemon) logErr(err error, what, incident string) {
	if err != nil {
		d.log.Error(fmt.Sprintf("%s failed", what), zap.String("incident", incident), zap.Error(err))
	}
}
