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

// A manual rollback (canaryd rollback, through the admin API) has the same
// plan and journal as an automatic one; it opens its own incident and ends
// the target's watches first.

// manualTrigger is a manual rollback's Incident.Trigger.
const manualTrigger = "manual"

// ManualWait bounds how long an operator's rollback request waits for the
// plan (under the admin API's write timeout); the plan goes on regardless.
const ManualWait = 45 * time.Second

// ErrStillRunning says a manual rollback was still running after
// ManualWait (or its requester went away): it goes on in the background.
var ErrStillRunning = errors.New("rollback still running")

// ErrOpenedUnprepared says a manual rollback's incident was opened but
// ending the target's watches or recording the known-good version failed
// (the store went down in between): the rollback is not lost, ResumeManual
// does both again and runs the plan.
var ErrOpenedUnprepared = errors.New("rollback opened, but its preparation failed")

// OpenManual opens the incident of a manual rollback of t by plan (its
// Input names the actor and the reason): it refuses while another incident
// of the target is open (effects.IncidentOpenError), ends the target's
// judged watches (an operator took over), records the plan's version as
// known-good and announces the rollback.
func (r *Runner) OpenManual(ctx context.Context, t *targets.Target, plan actuator.Plan) (store.Incident, error) {
	in := plan.Input
	inc := store.Incident{ID: plan.ID, Target: t.Conf.Name, OpenedAt: r.cfg.Clock.Now(), FromVersion: in.FromVersion,
		ToVersion: in.ToVersion, Trigger: manualTrigger, Actor: in.Actor}
	if err := r.cfg.Effects.OpenIncident(ctx, inc, true); err != nil {
		return inc, err
	}
	if err := r.prepare(ctx, t, inc, in.Reason); err != nil {
		// The incident is open: left so, it would refuse every later
		// rollback of the target and nothing would run it before a
		// restart, which would run its plan with the watches still
		// judging. It stays in flight, its preparation pending.
		r.pendPreparation(inc, in.Reason)
		return inc, fmt.Errorf("%w: %w", ErrOpenedUnprepared, err)
	}
	return inc, nil
}

// prepare does what a manual rollback does before its plan: it ends the
// target's judged watches, records the plan's version as known-good and
// announces the rollback. Done again after a failure, it repeats nothing
// that took effect: ended watches stay ended, the known-good is the same.
func (r *Runner) prepare(ctx context.Context, t *targets.Target, inc store.Incident, reason string) error {
	if _, err := r.finishPreparation(ctx, t, inc, fmt.Sprintf("manual rollback to %s by %s: %s", inc.ToVersion, inc.Actor, reason)); err != nil {
		return err
	}
	r.announce(ctx, t, inc, fmt.Sprintf("manual rollback by %s: %s -> %s (%s)", inc.Actor, inc.FromVersion, inc.ToVersion, reason))
	return nil
}

// announce writes a manual rollback's note (history and log).
func (r *Runner) announce(ctx context.Context, t *targets.Target, inc store.Incident, message string) {
	r.cfg.Effects.Note(ctx, t, watch.Note{Kind: event.Tripped, Severity: event.Warning, Target: inc.Target, IncidentID: inc.ID,
		KnownGood: inc.ToVersion, NewVersion: inc.FromVersion, Message: message})
}

// pendPreparation keeps a manual rollback whose preparation failed in
// flight, its preparation pending: ResumeManual prepares it, then runs it.
func (r *Runner) pendPreparation(inc store.Incident, reason string) {
	r.prepMu.Lock()
	r.unprepared[inc.ID] = reason
	r.prepMu.Unlock()
	r.work.Track(inc)
}

// finishPreparation does what of a manual rollback's preparation has not
// taken effect, as the store shows it: it ends the target's judged watches
// that began before the incident opened (a deploy since is not the one the
// operator took over from) and records the plan's version as known-good
// unless it is already, or was recorded since the incident opened (an
// operator's later decision). It reports whether it did anything.
func (r *Runner) finishPreparation(ctx context.Context, t *targets.Target, inc store.Incident, why string) (bool, error) {
	ended, err := r.endActive(ctx, t, inc.OpenedAt, why)
	if err != nil {
		return ended, err
	}
	st, err := r.cfg.Store.GetTarget(ctx, inc.Target)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return ended, err
	}
	if st.KnownGood == inc.ToVersion || st.KnownGoodAt.After(inc.OpenedAt) {
		return ended, nil
	}
	if err := r.cfg.Effects.SetKnownGood(ctx, inc.Target, inc.ToVersion); err != nil {
		return ended, err
	}
	return true, nil
}

// prepared does a pending preparation of incident id (OpenManual's
// failed): true when there was none or it is done now.
func (r *Runner) prepared(ctx context.Context, t *targets.Target, inc store.Incident) bool {
	r.prepMu.Lock()
	reason, pending := r.unprepared[inc.ID]
	r.prepMu.Unlock()
	if !pending {
		return true
	}
	if err := r.prepare(ctx, t, inc, reason); err != nil {
		r.cfg.Logger.Warn("prepare manual rollback again", zap.String("incident", inc.ID), zap.Error(err))
		return false
	}
	r.prepMu.Lock()
	delete(r.unprepared, inc.ID)
	r.prepMu.Unlock()
	return true
}

// preparedOnResume finishes, before a manual rollback's plan runs again
// from its incident (a restart, a lease take-over), what of its
// preparation never took effect: the process that opened it died, or the
// store failed and the process restarted, between opening the incident
// and ending the watches or recording the known-good. After a restart
// nothing in memory says so (prepared); the store does. When the store
// fails now, the rollback waits in flight for ResumeManual, which
// prepares it again.
func (r *Runner) preparedOnResume(ctx context.Context, t *targets.Target, inc store.Incident) bool {
	did, err := r.finishPreparation(ctx, t, inc, fmt.Sprintf("manual rollback to %s by %s, resumed", inc.ToVersion, inc.Actor))
	if err != nil {
		r.cfg.Logger.Warn("finish the preparation of a resumed manual rollback", zap.String("incident", inc.ID), zap.Error(err))
		r.pendPreparation(inc, "resumed")
		return false
	}
	if did {
		r.announce(ctx, t, inc, fmt.Sprintf("manual rollback by %s: %s -> %s, cut short before its watches were ended or its known-good recorded; done now, its plan resumes",
			inc.Actor, inc.FromVersion, inc.ToVersion))
	}
	return true
}

// endActive ends a target's judged watches that began at or before
// before (an operator took over); it reports whether it ended any.
func (r *Runner) endActive(ctx context.Context, t *targets.Target, before time.Time, why string) (bool, error) {
	ws, err := r.cfg.Store.ListWatches(ctx, store.WatchFilter{Target: t.Conf.Name, ActiveOnly: true})
	if err != nil {
		return false, err
	}
	ended := false
	for _, w := range ws {
		if !watch.Judged(w.Phase) || w.DetectedAt.After(before) {
			continue
		}
		if err := r.cfg.Effects.Transit(ctx, t, w.ID, func(w store.Watch) (store.Watch, []watch.Effect) {
			return watch.End(w, why, r.cfg.Clock.Now())
		}); err != nil {
			return ended, err
		}
		ended = true
	}
	return ended, nil
}

// RunManual runs the plan of a manual rollback opened by OpenManual in the
// background, on the runner's context — an operator's client going away
// must not cut a rollback short, and an interrupted one resumes from its
// journal (ResumeManual, a restart or a lease take-over) — and waits for
// it at most ManualWait (ErrStillRunning).
func (r *Runner) RunManual(ctx context.Context, t *targets.Target, inc store.Incident, plan actuator.Plan, fence store.Fence) (actuator.Result, error) {
	act := r.cfg.Actuator()
	type outcome struct {
		res actuator.Result
		err error
	}
	done := make(chan outcome, 1)
	r.work.Start(inc) // a new incident: ResumeManual leaves it alone while it runs
	r.goWork(func(ctx context.Context) {
		defer r.work.Release(inc.ID)
		res, err := act.Execute(ctx, plan, fence)
		if err == nil {
			r.logErr(r.cfg.Effects.Apply(ctx, t, store.Watch{}, watch.ManualDone(inc, planResult(res))), "finish manual rollback", inc.ID)
			r.finished(ctx, inc, res)
		}
		done <- outcome{res, err}
	})
	select {
	case o := <-done:
		return o.res, o.err
	case <-r.cfg.Clock.After(ManualWait):
		return actuator.Result{}, ErrStillRunning
	case <-ctx.Done():
		return actuator.Result{}, ErrStillRunning
	}
}
