package daemon

import (
	"fmt"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
)

// Callbacks from the detector and the actuator.

// onWatch is called by the detector when a deploy starts a watch.
func (d *Daemon) onWatch(w store.Watch, superseded *store.Watch) {
	ctx := d.workCtx
	_, ts, _ := d.snapshot()
	t := ts[w.Target]
	if t == nil {
		return
	}
	d.logErr(d.applyEffects(ctx, t, w, watch.Started(w, superseded)), "announce watch", "")
	d.obs.Adopt(ctx, w)
}

// onWatchEnd is called when the alias went back to known-good by hand.
func (d *Daemon) onWatchEnd(w store.Watch) {
	_, ts, _ := d.snapshot()
	d.note(d.workCtx, ts[w.Target], watch.Note{Kind: event.Ended, Severity: event.Info, Target: w.Target,
		WatchID: w.ID, KnownGood: w.KnownGood, NewVersion: w.NewVersion, Message: w.Reason})
}

// onStep measures the time from trip to alias reverted. The journal itself
// is the record of the steps (the postmortem reads it).
func (d *Daemon) onStep(e store.JournalEntry) {
	if e.Name != string(actuator.KindLambdaAlias) || e.Status != store.StepDone { // not step 0 when CodeDeploy is stopped first
		return
	}
	if inc, err := d.cfg.Store.GetIncident(d.workCtx, e.PlanID); err == nil {
		d.metrics.TripToRevert.Observe(e.Time.Sub(inc.OpenedAt).Seconds())
	}
}

// onRetry pages once when a rollback's alias step starts retrying through
// an AWS brown-out (the incident's dedup key: PagerDuty folds it into the
// tripped page, and rollback_done resolves both), and records recovery. It
// is called on the plan's goroutine and must not block it.
func (d *Daemon) onRetry(e actuator.RetryEvent) {
	var n watch.Note
	switch e.Kind {
	case actuator.RetryStarted:
		n = watch.Note{Kind: event.RollbackRetrying, Alert: event.RollbackRetrying, Severity: event.Critical,
			Message: fmt.Sprintf("Rollback of %s cannot get through to AWS (%s); retrying until %s", e.Target, e.Err,
				e.Until.UTC().Format("15:04:05Z07:00"))}
	case actuator.RetryRecovered:
		n = watch.Note{Kind: event.RollbackRetrying, Severity: event.Info,
			Message: fmt.Sprintf("Rollback of %s got through to AWS after %d failed rounds", e.Target, e.Round)}
	default:
		return
	}
	n.Target, n.IncidentID = e.Target, e.PlanID
	_, ts, _ := d.snapshot()
	d.plans.Add(1)
	go func() { defer d.plans.Done(); d.note(d.workCtx, ts[e.Target], n) }()
}
