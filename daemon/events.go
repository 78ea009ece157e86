package daemon

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/store"
)

// event appends to the history; a failure is logged, never fatal.
func (d *Daemon) event(ctx context.Context, e store.Event) {
	if e.Time.IsZero() {
		e.Time = d.clock.Now()
	}
	if err := d.cfg.Store.AppendEvent(ctx, e); err != nil {
		d.log.Error("append event", zap.String("target", e.Target), zap.String("type", string(e.Type)), zap.Error(err))
	}
}

// send completes an event with what every alert carries (function, alias,
// overrides in force, next steps) and hands it to the dispatcher, which
// never blocks (promise 9). The hand-off is recorded in the history.
func (d *Daemon) send(ctx context.Context, t *target, ev notify.Event) {
	if t == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = d.clock.Now()
	}
	ev.Target, ev.Function, ev.Alias = t.conf.Name, t.conf.Function, t.conf.Alias
	if ovs, err := d.inForce(ctx, t.conf.Name); err == nil {
		ev.Overrides = ovs
	}
	if len(ev.NextSteps) == 0 {
		ev.NextSteps = notify.DefaultNextSteps(ev)
	}
	d.mu.Lock()
	n := d.notifier
	d.mu.Unlock()
	n.Send(ev)
}

// onDelivery records in the history how each alert's delivery ended (the
// postmortem lists alerts that really went out). It runs on the notifier's
// worker, never on the actuation path.
func (d *Daemon) onDelivery(o notify.Outcome) {
	typ, msg := event.AlertSent, fmt.Sprintf("%s delivered to %s", o.Type, o.Notifier)
	if !o.Delivered {
		typ, msg = event.AlertFailed, fmt.Sprintf("%s to %s failed after %d attempts: %s", o.Type, o.Notifier, o.Attempts, o.Error)
	} else if o.Attempts > 1 {
		msg += fmt.Sprintf(" after %d attempts", o.Attempts)
	}
	d.event(d.workCtx, store.Event{Time: o.Time, Target: o.Target, WatchID: o.WatchID, IncidentID: o.IncidentID, Type: typ, Message: msg})
}
