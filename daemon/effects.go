package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// This file applies what the watch life cycle decides: it is the one place
// that writes a transition to the store, the log and the notifiers.

// errStale says a watch changed since the transition read it.
var errStale = errors.New("watch changed since it was read")

// applyEffects carries out a transition's effects in order. A failed guard
// (a stale Save, an override another replica claimed, an incident that
// could not be opened) stops the rest: the next tick recomputes the
// transition from fresh state.
//
// The alerts among the effects are written to the outbox first (outbox.go):
// a crash after the transition cannot lose them; a transition whose guard
// fails takes back the ones it did not send.
func (d *Daemon) applyEffects(ctx context.Context, t *targets.Target, w store.Watch, effs []watch.Effect) error {
	sts, err := d.stage(ctx, t, effs)
	if err != nil {
		return err
	}
	for i, e := range effs {
		if n, ok := e.(watch.Note); ok {
			d.applyNote(ctx, t, w, n, sts[i])
			delete(sts, i)
			continue
		}
		if err := d.applyEffect(ctx, t, w, e); err != nil {
			unsent := make([]*notify.Staged, 0, len(sts))
			for _, st := range sts {
				unsent = append(unsent, st)
			}
			d.box.Unstage(ctx, unsent)
			return err
		}
	}
	return nil
}

func (d *Daemon) applyNote(ctx context.Context, t *targets.Target, w store.Watch, n watch.Note, st *notify.Staged) {
	if n.Kind == event.Tripped && w.ID == n.WatchID {
		d.metrics.DetectToTrip.Observe(d.clock.Now().Sub(w.DetectedAt).Seconds())
	}
	d.record(ctx, n)
	if st != nil {
		d.box.Dispatch(st)
	}
}

func (d *Daemon) applyEffect(ctx context.Context, t *targets.Target, w store.Watch, e watch.Effect) error {
	switch e := e.(type) {
	case watch.Save:
		return d.save(ctx, e.Watch)
	case watch.Claim:
		if err := d.cfg.Store.DeleteOverride(ctx, e.Override.ID); err != nil {
			return fmt.Errorf("claim override %s: %w", e.Override.ID, err)
		}
	case watch.OpenIncident:
		return d.openIncident(ctx, e.Incident, false)
	case watch.CloseIncident:
		now := d.clock.Now()
		if _, err := d.cfg.Store.UpdateIncident(ctx, e.IncidentID, func(x *store.Incident) error {
			x.Outcome, x.ClosedAt = e.Outcome, now
			return nil
		}); err != nil {
			d.log.Error("close incident", zap.String("incident", e.IncidentID), zap.Error(err))
		}
		d.metrics.Rollbacks.WithLabelValues(t.Conf.Name, string(e.Outcome)).Inc()
	case watch.SetKnownGood:
		return d.setKnownGood(ctx, e.Target, e.Version)
	case watch.RunPlan:
		d.runPlan(ctx, t, e.IncidentID)
	case watch.SetTraffic:
		d.shiftTraffic(ctx, t, w, e)
	case watch.RunHook:
		d.runTrafficHook(t, w, e)
	}
	return nil
}

// errIncidentOpen says another incident of the target is still open.
type errIncidentOpen struct{ id, trigger string }

func (e errIncidentOpen) Error() string {
	return fmt.Sprintf("incident %s (%s) of the target is still open", e.id, e.trigger)
}

// openIncident creates an incident unless another one of the same target is
// still open: one incident, one plan per target at a time, whatever opens
// it (a trip, an operator's force, a manual rollback). The same incident
// again is fine for a watch (re-opening it after a crash is idempotent);
// exclusive (a manual rollback) refuses it too. Only the lease owner opens
// incidents, so the per-target lock here serialises every path.
func (d *Daemon) openIncident(ctx context.Context, inc store.Incident, exclusive bool) error {
	mu := d.incidentLock(inc.Target)
	mu.Lock()
	defer mu.Unlock()
	open, err := d.cfg.Store.ListIncidents(ctx, inc.Target, 50)
	if err != nil {
		return fmt.Errorf("open incident %s: %w", inc.ID, err)
	}
	for _, o := range open {
		if o.Outcome == "" && (o.ID != inc.ID || exclusive) {
			return errIncidentOpen{id: o.ID, trigger: o.Trigger}
		}
	}
	err = d.cfg.Store.CreateIncident(ctx, inc)
	switch {
	case err == nil:
		d.metrics.Incidents.WithLabelValues(inc.Target, inc.Trigger).Inc()
	case !errors.Is(err, store.ErrExists):
		return fmt.Errorf("open incident %s: %w", inc.ID, err)
	}
	return nil
}

func (d *Daemon) incidentLock(target string) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	mu, ok := d.incidentMu[target]
	if !ok {
		mu = &sync.Mutex{}
		d.incidentMu[target] = mu
	}
	return mu
}

// save writes a watch if nobody changed it since it was read.
func (d *Daemon) save(ctx context.Context, w store.Watch) error {
	_, err := d.cfg.Store.UpdateWatch(ctx, w.ID, func(x *store.Watch) error {
		if x.Revision != w.Revision {
			return errStale
		}
		*x = w
		return nil
	})
	if err != nil {
		return fmt.Errorf("save watch %s: %w", w.ID, err)
	}
	return nil
}

// transit runs a transition on the freshest copy of a watch and applies it;
// when the watch changed meanwhile it reads it again and retries, so a plan
// outcome is never lost to a concurrent update.
func (d *Daemon) transit(ctx context.Context, t *targets.Target, id string, f func(store.Watch) (store.Watch, []watch.Effect)) error {
	var err error
	for range 5 {
		var w store.Watch
		if w, err = d.cfg.Store.GetWatch(ctx, id); err != nil {
			return fmt.Errorf("read watch %s: %w", id, err)
		}
		_, effs := f(w)
		if err = d.applyEffects(ctx, t, w, effs); !errors.Is(err, errStale) {
			return err
		}
	}
	return err
}

// note writes one thing that happened to the history and the log and, when
// it is an alert, writes it to the outbox and hands it to the notifiers.
func (d *Daemon) note(ctx context.Context, t *targets.Target, n watch.Note) {
	d.record(ctx, n)
	if n.Alert != "" {
		d.alert(ctx, t, n)
	}
}

// record writes a note to the history and the log.
func (d *Daemon) record(ctx context.Context, n watch.Note) {
	now := d.clock.Now()
	if err := d.cfg.Store.AppendEvent(ctx, store.Event{Time: now, Target: n.Target, WatchID: n.WatchID,
		IncidentID: n.IncidentID, Type: n.Kind, Message: n.Message, Data: n.Data}); err != nil {
		d.log.Error("append event", zap.String("target", n.Target), zap.String("type", string(n.Kind)), zap.Error(err))
	}
	fields := []zap.Field{zap.String("target", n.Target), zap.String("kind", string(n.Kind))}
	if n.WatchID != "" {
		fields = append(fields, zap.String("watch", n.WatchID))
	}
	if n.IncidentID != "" {
		fields = append(fields, zap.String("incident", n.IncidentID))
	}
	if n.Severity == event.Info {
		d.log.Info(n.Message, fields...)
	} else {
		d.log.Warn(n.Message, fields...)
	}
}

// onDelivery records in the history how each alert's delivery ended (the
// postmortem lists alerts that really went out). It runs on the notifier's
// worker, never on the actuation path.
func (d *Daemon) onDelivery(o notify.Outcome) {
	d.box.Delivered(d.workCtx, o)
	typ, msg := event.AlertSent, fmt.Sprintf("%s delivered to %s", o.Type, o.Notifier)
	if !o.Delivered {
		typ, msg = event.AlertFailed, fmt.Sprintf("%s to %s failed after %d attempts: %s", o.Type, o.Notifier, o.Attempts, o.Error)
	} else if o.Attempts > 1 {
		msg += fmt.Sprintf(" after %d attempts", o.Attempts)
	}
	if err := d.cfg.Store.AppendEvent(d.workCtx, store.Event{Time: o.Time, Target: o.Target, WatchID: o.WatchID,
		IncidentID: o.IncidentID, Type: typ, Message: msg}); err != nil {
		d.log.Error("append event", zap.String("target", o.Target), zap.Error(err))
	}
}

// setKnownGood records version as the target's known-good, through the
// detector (which serialises it with its own writes of the target's state).
func (d *Daemon) setKnownGood(ctx context.Context, name, version string) error {
	d.mu.Lock()
	det := d.detector
	d.mu.Unlock()
	return det.SetKnownGood(ctx, name, version)
}

func actionResults(as []watch.Action) []notify.ActionResult {
	if len(as) == 0 {
		return nil
	}
	out := make([]notify.ActionResult, 0, len(as))
	for _, a := range as {
		out = append(out, notify.ActionResult{Name: a.Name, Status: a.Status, Duration: a.Duration,
			Detail: strings.TrimSpace(a.Detail), Error: a.Error})
	}
	return out
}
