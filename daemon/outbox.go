package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
)

// This file makes alerts at least once (promise 12). An alert is written to
// the store's outbox, one entry per notifier that takes it, before the
// transition it reports is applied; the entry goes when its notifier has
// it (or refused it for good); whatever a crash, a lease take-over or a
// notifier outage left in the outbox is sent again, with the same ID — the
// dedup key PagerDuty and receivers use. So a page is never lost between a
// state change and its delivery, and every trigger gets its resolve.

// redeliverAfter is how long an outbox entry may wait, not in flight here,
// before it is sent again (its delivery ran out of attempts, or the replica
// that sent it died).
const redeliverAfter = time.Minute

// staged is an alert written to the outbox and not yet handed to the
// dispatcher.
type staged struct {
	ev    notify.Event
	names []string
}

// outbox tracks which outbox entries this process has in flight.
type outbox struct {
	mu       sync.Mutex
	inFlight map[string]bool // id + notifier
	lastScan time.Time
}

func flightKey(id, notifier string) string { return id + "\x00" + notifier }

// alertEvent is the notify.Event of an alert note: everything an alert
// carries (function, alias, overrides in force, next steps) and its ID.
func (d *Daemon) alertEvent(ctx context.Context, t *target, n watch.Note) notify.Event {
	now := d.clock.Now()
	ev := notify.Event{ID: alertID(n, now), Type: n.Alert, Severity: n.Severity, Time: now, Target: n.Target,
		WatchID: n.WatchID, IncidentID: n.IncidentID, KnownGood: n.KnownGood, NewVersion: n.NewVersion,
		Verdict: n.Verdict, Actions: actionResults(n.Actions), Override: n.Override, DryRun: n.DryRun, Message: n.Message}
	if t != nil {
		ev.Target, ev.Function, ev.Alias = t.conf.Name, t.conf.Function, t.conf.Alias
	}
	if ovs, err := d.inForce(ctx, ev.Target); err == nil {
		ev.Overrides = ovs
	}
	ev.NextSteps = notify.DefaultNextSteps(ev)
	d.mu.Lock()
	red := d.redactor
	d.mu.Unlock()
	ev.Message = red.Redact(ev.Message)
	for i := range ev.Actions {
		ev.Actions[i].Detail, ev.Actions[i].Error = red.Redact(ev.Actions[i].Detail), red.Redact(ev.Actions[i].Error)
	}
	return ev
}

// alertID is an alert's dedup key: what it is about and what happened, so
// the same transition computed again (after a crash) has the same key.
func alertID(n watch.Note, now time.Time) string {
	switch {
	case n.Override != nil:
		return fmt.Sprintf("override/%s/%s/%s", n.Override.ID, n.Target, n.Kind)
	case n.IncidentID != "":
		return n.IncidentID + "/" + string(n.Kind)
	case n.WatchID != "":
		return n.WatchID + "/" + string(n.Kind)
	}
	return fmt.Sprintf("%s/%s/%d", n.Target, n.Kind, now.UnixNano())
}

// stage writes the alerts among effs to the outbox, in one write, and
// returns them by their position in effs.
func (d *Daemon) stage(ctx context.Context, t *target, effs []watch.Effect) (map[int]*staged, error) {
	out := map[int]*staged{}
	var entries []store.OutboxEntry
	for i, e := range effs {
		n, ok := e.(watch.Note)
		if !ok || n.Alert == "" {
			continue
		}
		st, es, err := d.stageOne(ctx, t, n)
		if err != nil {
			return nil, err
		}
		out[i] = st
		entries = append(entries, es...)
	}
	if len(entries) == 0 {
		return out, nil
	}
	if err := d.cfg.Store.PutOutbox(ctx, entries); err != nil {
		return nil, fmt.Errorf("write alerts to the outbox: %w", err)
	}
	return out, nil
}

func (d *Daemon) stageOne(ctx context.Context, t *target, n watch.Note) (*staged, []store.OutboxEntry, error) {
	ev := d.alertEvent(ctx, t, n)
	d.mu.Lock()
	names := d.notifier.Recipients(ev)
	d.mu.Unlock()
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, nil, fmt.Errorf("encode alert %s: %w", ev.ID, err)
	}
	entries := make([]store.OutboxEntry, 0, len(names))
	for _, name := range names {
		entries = append(entries, store.OutboxEntry{ID: ev.ID, Notifier: name, Target: ev.Target, Created: ev.Time, Event: raw})
	}
	return &staged{ev: ev, names: names}, entries, nil
}

// unstage takes back the outbox entries of alerts whose transition did not
// happen.
func (d *Daemon) unstage(ctx context.Context, sts map[int]*staged) {
	for _, st := range sts {
		for _, name := range st.names {
			_ = d.cfg.Store.DeleteOutbox(ctx, st.ev.ID, name)
		}
	}
}

// dispatch hands a staged alert to the notifiers; it never blocks.
func (d *Daemon) dispatch(st *staged) {
	if len(st.names) == 0 {
		return
	}
	d.box.mu.Lock()
	for _, name := range st.names {
		d.box.inFlight[flightKey(st.ev.ID, name)] = true
	}
	d.box.mu.Unlock()
	d.mu.Lock()
	n := d.notifier
	d.mu.Unlock()
	n.SendTo(st.ev, st.names)
}

// alert writes one alert to the outbox and sends it (a note outside a
// watch transition: an override, a manual rollback, an alias moved back).
func (d *Daemon) alert(ctx context.Context, t *target, n watch.Note) {
	st, entries, err := d.stageOne(ctx, t, n)
	if err == nil && len(entries) > 0 {
		err = d.cfg.Store.PutOutbox(ctx, entries)
	}
	if err != nil {
		d.log.Error("alert not written to the outbox; sending it once", zap.String("target", n.Target), zap.Error(err))
	}
	if st != nil {
		d.dispatch(st)
	}
}

// delivered removes a delivered (or refused for good) alert from the
// outbox; one whose attempts ran out stays there for redelivery.
func (d *Daemon) delivered(o notify.Outcome) {
	if o.ID == "" {
		return
	}
	d.box.mu.Lock()
	delete(d.box.inFlight, flightKey(o.ID, o.Notifier))
	d.box.mu.Unlock()
	if !o.Delivered && !o.Permanent {
		return
	}
	if err := d.cfg.Store.DeleteOutbox(d.workCtx, o.ID, o.Notifier); err != nil {
		d.log.Warn("delivered alert still in the outbox", zap.String("alert", o.ID), zap.String("notifier", o.Notifier), zap.Error(err))
	}
}

// redeliver sends again what the outbox holds for the given targets and is
// not in flight here: at start, on lease take-over (all), and every
// redeliverAfter for entries older than that.
func (d *Daemon) redeliver(ctx context.Context, owned map[string]bool, olderThan time.Duration) {
	es, err := d.cfg.Store.ListOutbox(ctx)
	if err != nil {
		d.log.Error("list outbox", zap.Error(err))
		return
	}
	now := d.clock.Now()
	for _, e := range es {
		if !owned[e.Target] || now.Sub(e.Created) < olderThan {
			continue
		}
		d.box.mu.Lock()
		busy := d.box.inFlight[flightKey(e.ID, e.Notifier)]
		d.box.mu.Unlock()
		if busy {
			continue
		}
		d.mu.Lock()
		known := d.notifier.Knows(e.Notifier)
		d.mu.Unlock()
		if !known {
			d.log.Warn("alert for a notifier no longer configured; dropped", zap.String("alert", e.ID), zap.String("notifier", e.Notifier))
			_ = d.cfg.Store.DeleteOutbox(ctx, e.ID, e.Notifier)
			continue
		}
		var ev notify.Event
		if err := json.Unmarshal(e.Event, &ev); err != nil {
			d.log.Error("unreadable alert in the outbox; dropped", zap.String("alert", e.ID), zap.Error(err))
			_ = d.cfg.Store.DeleteOutbox(ctx, e.ID, e.Notifier)
			continue
		}
		d.log.Info("sending an alert again", zap.String("alert", e.ID), zap.String("notifier", e.Notifier))
		d.dispatch(&staged{ev: ev, names: []string{e.Notifier}})
	}
}

// redeliverDue runs redeliver for stale entries at most every redeliverAfter.
func (d *Daemon) redeliverDue(ctx context.Context) {
	now := d.clock.Now()
	d.box.mu.Lock()
	due := now.Sub(d.box.lastScan) >= redeliverAfter
	if due {
		d.box.lastScan = now
	}
	d.box.mu.Unlock()
	if due {
		d.redeliver(ctx, d.ownedNames(), redeliverAfter)
	}
}
