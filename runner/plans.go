package runner

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
func (r *Runner) runPlan(ctx context.Context, t *targets.Target, incidentID string) {
	inc, err := r.cfg.Store.GetIncident(ctx, incidentID)
	if err != nil {
		r.cfg.Logger.Error("read incident", zap.String("incident", incidentID), zap.Error(err))
		return
	}
	if inc.Outcome != "" {
		return
	}
	in := actuator.PlanInput{IncidentID: inc.ID, FromVersion: inc.FromVersion, ToVersion: inc.ToVersion,
		Trigger: inc.Trigger, Actor: inc.Actor, DryRun: t.Lifecycle.DryRun}
	if inc.WatchID == "" { // a manual rollback cut short: the same plan, rebuilt from the incident
		if inc.Trigger == manualTrigger && !r.preparedOnResume(ctx, t, inc) {
			return
		}
		in.Reason = "resumed"
		r.goPlan(inc, actuator.BuildPlan(t.Conf, in), nil, func(ctx context.Context, res actuator.Result) {
			r.cfg.Logger.Info("resumed unfinished manual rollback", zap.String("target", inc.Target), zap.String("incident", inc.ID))
			_ = r.cfg.Effects.Apply(ctx, t, store.Watch{}, watch.ManualDone(inc, planResult(res)))
		})
		return
	}
	w, err := r.cfg.Store.GetWatch(ctx, inc.WatchID)
	if errors.Is(err, store.ErrNotFound) {
		// The trip opened the incident and the store lost the watch before
		// it was saved (Redis back empty): nothing else would ever run the
		// plan, and the incident, open, would refuse every later one of
		// the target. The plan is rebuilt from the incident, as for a
		// manual rollback; its end resolves the trip.
		in.Reason = "resumed: its watch was lost with the store"
		r.goPlan(inc, actuator.BuildPlan(t.Conf, in), func(ctx context.Context) {
			r.cfg.Effects.Note(ctx, t, watch.LostTrip(inc))
		}, func(ctx context.Context, res actuator.Result) {
			r.cfg.Logger.Warn("ran the rollback of an incident whose watch the store lost", zap.String("target", inc.Target), zap.String("incident", inc.ID))
			r.logErr(r.cfg.Effects.Apply(ctx, t, store.Watch{}, watch.PlanDoneLost(inc, planResult(res))), "finish rollback", inc.ID)
		})
		return
	}
	if err != nil {
		r.cfg.Logger.Error("read watch of incident", zap.String("incident", inc.ID), zap.Error(err))
		return
	}
	in.RevisionID, in.Weights, in.Reason = w.RevisionID, w.Weights, w.Reason
	r.goPlan(inc, actuator.BuildPlan(t.Conf, in), func(ctx context.Context) {
		r.logErr(r.cfg.Effects.Transit(ctx, t, w.ID, func(w store.Watch) (store.Watch, []watch.Effect) { return watch.PlanStarted(w) }),
			"mark rolling back", inc.ID)
	}, func(ctx context.Context, res actuator.Result) {
		err := r.cfg.Effects.Transit(ctx, t, w.ID, func(w store.Watch) (store.Watch, []watch.Effect) {
			return watch.PlanDone(w, inc, planResult(res), r.cfg.Clock.Now())
		})
		if errors.Is(err, store.ErrNotFound) {
			// The store lost its data while the plan ran: the trip's page
			// still resolves.
			err = r.cfg.Effects.Apply(ctx, t, store.Watch{}, watch.PlanDoneLost(inc, planResult(res)))
		}
		r.logErr(err, "finish rollback", inc.ID)
	})
}

// goPlan runs plan in the background on the runner's context, if this
// replica owns the target and the incident's plan is not already running
// here; before (optional) runs first, done gets the result. A plan stopped
// by an error (fenced, shutting down) is left to resume from its journal.
func (r *Runner) goPlan(inc store.Incident, plan actuator.Plan, before func(context.Context), done func(context.Context, actuator.Result)) {
	fence, owned := r.cfg.Leases.Fence(inc.Target)
	act := r.cfg.Actuator()
	if !owned || !r.work.Start(inc) {
		return
	}
	r.goWork(func(ctx context.Context) {
		defer r.work.Release(inc.ID)
		if before != nil {
			before(ctx)
		}
		res, err := act.Execute(ctx, plan, fence)
		if err != nil {
			r.cfg.Logger.Error("rollback plan stopped; it resumes from the journal", zap.String("target", inc.Target),
				zap.String("incident", inc.ID), zap.Error(err))
			return
		}
		done(ctx, res)
		r.finished(ctx, inc, res)
	})
}

// finished records that inc's plan finished with res and its outcome was
// recorded and paged (done). When the store lost its data meanwhile and no
// longer has the incident (Redis back empty during the plan, or after its
// last step with its journal), done's close found nothing, but its page
// went out: the incident is recorded again, closed with that outcome, so
// that what happened stays on record and no replica records it again as
// open and runs its plan a second time. (A second run found a newer deploy
// on the alias meanwhile and paged "aborted" after "rolled back": chaos '3
// redis restart/three replicas, during rollback, empty'. Had the alias
// not moved, it would have invalidated the caches and run the hooks
// again.) When the store already has it again, open (the marker check's
// Replant got there first), it is closed. Only when neither write lands
// does the incident stay in flight, for ResumeManual and Replant.
func (r *Runner) finished(ctx context.Context, inc store.Incident, res actuator.Result) {
	if _, err := r.cfg.Store.GetIncident(ctx, inc.ID); errors.Is(err, store.ErrNotFound) {
		if err := r.recordClosed(ctx, inc, store.Outcome(res.Outcome)); err != nil {
			r.cfg.Logger.Warn("rollback plan finished, but the store lost its incident meanwhile and could not record it again; it stays in flight",
				zap.String("target", inc.Target), zap.String("incident", inc.ID), zap.Error(err))
			return
		}
		r.cfg.Logger.Warn("rollback plan finished, but the store lost its incident meanwhile; it is recorded again, closed",
			zap.String("target", inc.Target), zap.String("incident", inc.ID), zap.String("outcome", string(res.Outcome)))
	}
	r.work.Finished(inc)
}

// recordClosed records inc again in a store that lost it, closed with
// outcome; if it is there again already, open, it closes it.
func (r *Runner) recordClosed(ctx context.Context, inc store.Incident, outcome store.Outcome) error {
	now := r.cfg.Clock.Now()
	closed := inc
	closed.Outcome, closed.ClosedAt, closed.Revision = outcome, now, 0
	err := r.cfg.Store.CreateIncident(ctx, closed)
	if errors.Is(err, store.ErrExists) {
		_, err = r.cfg.Store.UpdateIncident(ctx, inc.ID, func(x *store.Incident) error {
			if x.Outcome == "" {
				x.Outcome, x.ClosedAt = outcome, now
			}
			return nil
		})
	}
	return err
}

// Resume finishes what a crash or a dead replica left undone on the
// targets names (this replica owns them): an incident opened by a trip that
// did not reach the watch is tripped again with its own cause; every other
// unfinished plan, automatic or manual, runs from its journal. The daemon
// calls it at its first tick and for every target whose lease it newly
// took.
func (r *Runner) Resume(ctx context.Context, names map[string]bool) {
	r.resume(ctx, names, nil)
}

// ResumeLost is Resume, on the targets names (owned here), of the
// unfinished incidents opened before lost, when this replica noticed that
// the store lost its data, whose plans do not run here. The daemon calls
// it every tick for a while after the loss: another replica records its
// incidents in flight again when it notices the loss (Replant), which may
// be after this one took the target's lease in the empty store and
// resumed what the store held then (nothing). Nothing else would run
// them: they have no watch, only the owner runs plans, and the replica
// that re-recorded them does not own the target; their trip pages stayed
// open for good (chaos: three replicas, Redis back empty during a
// rollback). Left to their own paths: an incident opened since (an
// operator's rollback this replica is still preparing), and those this
// replica has in flight itself (ResumeManual prepares a manual rollback
// whose preparation failed before it runs the plan).
func (r *Runner) ResumeLost(ctx context.Context, names map[string]bool, lost time.Time) {
	r.resume(ctx, names, r.notOursBefore(lost))
}

// notOursBefore accepts the incidents opened before t that this replica
// neither has in flight nor runs.
func (r *Runner) notOursBefore(t time.Time) func(store.Incident) bool {
	return func(inc store.Incident) bool {
		_, mine := r.work.Incident(inc.ID)
		return inc.OpenedAt.Before(t) && !mine && !r.work.Runs(inc.ID)
	}
}

// resume is Resume of the incidents keep accepts (all when nil).
func (r *Runner) resume(ctx context.Context, names map[string]bool, keep func(store.Incident) bool) {
	if len(names) == 0 {
		return
	}
	incs, err := r.cfg.Store.ListIncidents(ctx, "", 0)
	if err != nil {
		r.cfg.Logger.Error("list incidents for resume", zap.Error(err))
		return
	}
	r.resumeThese(ctx, incs, names, keep)
}

// OrphanRecent is how many of a target's newest incidents ResumeOrphans
// reads: one is open at a time, and a re-recorded one is among the newest.
const OrphanRecent = 3

// ResumeOrphans is ResumeLost without a loss: on the targets names (owned
// here), the unfinished incidents opened before before that do not run
// here and are not this replica's own. The daemon calls it every few
// minutes as a backstop for what its paths after a store loss can miss —
// a replica that records its incidents again more than ResumeLost's
// minute after the owner noticed the loss (one frozen through it), or a
// replica started after the loss, which never notices it: nothing else
// would run them, and they would stay open, their pages unresolved. It
// reads the OrphanRecent newest incidents of each target, not the whole
// history.
func (r *Runner) ResumeOrphans(ctx context.Context, names map[string]bool, before time.Time) {
	var incs []store.Incident
	for name := range names {
		recent, err := r.cfg.Store.ListIncidents(ctx, name, OrphanRecent)
		if err != nil {
			r.cfg.Logger.Warn("list incidents for the orphan sweep", zap.String("target", name), zap.Error(err))
			return
		}
		incs = append(incs, recent...)
	}
	r.resumeThese(ctx, incs, names, r.notOursBefore(before))
}

// resumeThese resumes incs on the targets names (those keep accepts).
func (r *Runner) resumeThese(ctx context.Context, incs []store.Incident, names map[string]bool, keep func(store.Incident) bool) {
	ts := r.cfg.Targets()
	for _, inc := range incs {
		t := ts[inc.Target]
		if inc.Outcome != "" || t == nil || !names[inc.Target] || keep != nil && !keep(inc) {
			continue
		}
		r.cfg.Logger.Info("resuming unfinished rollback", zap.String("target", inc.Target), zap.String("incident", inc.ID))
		if inc.WatchID == "" {
			r.runPlan(ctx, t, inc.ID)
			continue
		}
		err := r.cfg.Effects.Transit(ctx, t, inc.WatchID, func(w store.Watch) (store.Watch, []watch.Effect) {
			if watch.Judged(w.Phase) {
				return watch.Resume(t.Lifecycle, w, inc, r.cfg.Clock.Now())
			}
			return w, []watch.Effect{watch.RunPlan{IncidentID: inc.ID}}
		})
		switch {
		case errors.Is(err, store.ErrNotFound):
			r.runPlan(ctx, t, inc.ID) // its watch is gone: the plan from the incident
		case err != nil:
			r.logErr(err, "resume", inc.ID)
		}
	}
}

// ManualSweep is how often unfinished manual rollbacks are looked for.
const ManualSweep = 10 * time.Second

// ResumeManual re-runs, every ManualSweep, the manual rollbacks this
// process started that stopped unfinished and are not running here: one
// whose journal write failed (the store was down longer than its client's
// retries, or fenced: the lease went with the data), or one re-recorded
// after the store lost its data (Replant). One the store no longer has
// was lost with its data before the marker check noticed: it is recorded
// again here (replant) and run.
// Nothing else would resume them before a restart or a lease take-over
// (automatic plans are re-run from their watch every tick). With none, it
// reads nothing.
func (r *Runner) ResumeManual(ctx context.Context) {
	stopped := r.work.Stopped(r.cfg.Clock.Now(), ManualSweep)
	if len(stopped) == 0 {
		return
	}
	ts := r.cfg.Targets()
	for _, id := range stopped {
		inc, err := r.cfg.Store.GetIncident(ctx, id)
		switch {
		case err == nil && inc.Outcome != "":
			r.work.Forget(id) // finished (here or by another replica)
		case errors.Is(err, store.ErrNotFound):
			// Incidents are never deleted: the store lost its data (Redis
			// back empty) and the marker check has not said so yet. It was
			// forgotten here: the operator's rollback never finished, its
			// outcome was never paged.
			mine, ok := r.work.Incident(id)
			if t := ts[mine.Target]; ok && t != nil && r.replant(ctx, t, mine) {
				r.resumeManual(ctx, t, mine)
			}
		case err != nil:
			r.cfg.Logger.Warn("read unfinished manual rollback", zap.String("incident", id), zap.Error(err))
		case ts[inc.Target] != nil:
			r.resumeManual(ctx, ts[inc.Target], inc)
		}
	}
}

// resumeManual runs a stopped manual rollback's plan, its preparation
// first if that failed when it opened, when this replica owns the target.
func (r *Runner) resumeManual(ctx context.Context, t *targets.Target, inc store.Incident) {
	if _, owned := r.cfg.Leases.Fence(inc.Target); owned && r.prepared(ctx, t, inc) {
		r.runPlan(ctx, t, inc.ID)
	}
}

// Replant records again, after the store lost its data, the incidents
// whose plans this process had started and not seen finish: without them
// their pages would never be resolved and their remaining steps (caches,
// hooks, verification) never run. Each comes back as a manual-style
// incident (its watch is gone): ResumeManual runs its plan from the start,
// which finds the alias already reverted (done) or reverts it, and closes
// it with its resolve page.
func (r *Runner) Replant(ctx context.Context) {
	ts := r.cfg.Targets()
	for _, inc := range r.work.InFlight() {
		if t := ts[inc.Target]; t != nil {
			r.replant(ctx, t, inc)
		}
	}
}

// replant records inc again, as a manual-style incident (its watch is
// gone), in a store that lost it; false when it could not (already there:
// another path recorded it first).
func (r *Runner) replant(ctx context.Context, t *targets.Target, inc store.Incident) bool {
	inc.WatchID, inc.Outcome, inc.ClosedAt, inc.Revision = "", "", time.Time{}, 0
	if err := r.cfg.Store.CreateIncident(ctx, inc); err != nil {
		r.cfg.Logger.Warn("re-record incident lost with the store", zap.String("incident", inc.ID), zap.Error(err))
		return false
	}
	r.work.Track(inc) // now a manual-style incident: ResumeManual's
	r.cfg.Effects.Note(ctx, t, watch.Note{Kind: event.StoreLost, Severity: event.Warning, Target: inc.Target, IncidentID: inc.ID,
		Message: fmt.Sprintf("incident %s (%s -> %s) was lost with the store while its rollback ran; re-recorded, its plan resumes",
			inc.ID, inc.FromVersion, inc.ToVersion)})
	return true
}

// planResult is the life cycle's view of an actuator result.
func planResult(res actuator.Result) watch.PlanResult {
	out := watch.PlanResult{Outcome: store.Outcome(res.Outcome), Reason: res.Reason}
	for _, s := range res.Steps {
		out.Actions = append(out.Actions, watch.Action{Name: s.Name, Status: string(s.Status), Duration: s.Duration,
			Detail: string(s.Detail), Error: s.Error})
	}
	return out
}
