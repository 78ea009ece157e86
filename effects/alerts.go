package effects

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// This file writes the life cycle's notes to the history and the log, and
// turns its alerts into notify events. Alerts go through the outbox
// (notify.Outbox): written to the store before the transition they report
// is applied, redelivered with the same ID after a crash or a lease
// take-over.

// Note writes one thing that happened to the history and the log and, when
// it is an alert, writes it to the outbox and hands it to the notifiers (a
// note outside a watch transition: an override, a manual rollback, a
// brown-out). t is nil for a target no longer configured.
func (a *Applier) Note(ctx context.Context, t *targets.Target, n watch.Note) {
	a.record(ctx, n)
	if n.Alert == "" {
		return
	}
	if err := a.cfg.Outbox.Send(ctx, a.alertEvent(ctx, t, n)); err != nil {
		a.cfg.Logger.Error("alert not written to the outbox; sent once", zap.String("target", n.Target), zap.Error(err))
	}
}

// record writes a note to the history and the log.
func (a *Applier) record(ctx context.Context, n watch.Note) {
	now := a.cfg.Clock.Now()
	if err := a.cfg.Store.AppendEvent(ctx, store.Event{Time: now, Target: n.Target, WatchID: n.WatchID,
		IncidentID: n.IncidentID, Type: n.Kind, Message: n.Message, Data: n.Data}); err != nil {
		a.cfg.Logger.Error("append event", zap.String("target", n.Target), zap.String("type", string(n.Kind)), zap.Error(err))
	}
	fields := []zap.Field{zap.String("target", n.Target), zap.String("kind", string(n.Kind))}
	if n.WatchID != "" {
		fields = append(fields, zap.String("watch", n.WatchID))
	}
	if n.IncidentID != "" {
		fields = append(fields, zap.String("incident", n.IncidentID))
	}
	if n.Severity == event.Info {
		a.cfg.Logger.Info(n.Message, fields...)
	} else {
		a.cfg.Logger.Warn(n.Message, fields...)
	}
}

// stage writes the alerts among effs to the outbox, in one write, and
// returns them by their position in effs.
func (a *Applier) stage(ctx context.Context, t *targets.Target, effs []watch.Effect) (map[int]*notify.Staged, error) {
	var evs []notify.Event
	var at []int
	for i, e := range effs {
		if n, ok := e.(watch.Note); ok && n.Alert != "" {
			evs, at = append(evs, a.alertEvent(ctx, t, n)), append(at, i)
		}
	}
	out := map[int]*notify.Staged{}
	if len(evs) == 0 {
		return out, nil
	}
	sts, err := a.cfg.Outbox.Stage(ctx, evs)
	if err != nil {
		return nil, err
	}
	for j, st := range sts {
		out[at[j]] = st
	}
	return out, nil
}

// alertEvent is the notify.Event of an alert note: everything an alert
// carries (function, alias, overrides in force, next steps), secrets
// redacted, and its ID.
func (a *Applier) alertEvent(ctx context.Context, t *targets.Target, n watch.Note) notify.Event {
	now := a.cfg.Clock.Now()
	ev := notify.Event{ID: AlertID(n, now), Type: n.Alert, Severity: n.Severity, Time: now, Target: n.Target,
		WatchID: n.WatchID, IncidentID: n.IncidentID, KnownGood: n.KnownGood, NewVersion: n.NewVersion,
		Verdict: n.Verdict, Actions: actionResults(n.Actions), Override: n.Override, DryRun: n.DryRun, Message: n.Message}
	if t != nil {
		ev.Target, ev.Function, ev.Alias = t.Conf.Name, t.Conf.Function, t.Conf.Alias
	}
	if ovs, err := a.cfg.InForce(ctx, ev.Target); err == nil {
		ev.Overrides = ovs
	}
	ev.NextSteps = notify.DefaultNextSteps(ev)
	red := a.cfg.Redactor()
	ev.Message = red.Redact(ev.Message)
	for i := range ev.Actions {
		ev.Actions[i].Detail, ev.Actions[i].Error = red.Redact(ev.Actions[i].Detail), red.Redact(ev.Actions[i].Error)
	}
	return ev
}

// AlertID is an alert's dedup key: what it is about and what happened, so
// the same transition computed again (after a crash) has the same key.
func AlertID(n watch.Note, now time.Time) string {
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

// Delivered records in the history how an alert's delivery ended (the
// postmortem lists alerts that really went out) and tells the outbox. It
// is the dispatcher's OnOutcome (on the notifier's worker, never on the
// actuation path); ctx outlives a tick.
func (a *Applier) Delivered(ctx context.Context, o notify.Outcome) {
	a.cfg.Outbox.Delivered(ctx, o)
	typ, msg := event.AlertSent, fmt.Sprintf("%s delivered to %s", o.Type, o.Notifier)
	if !o.Delivered {
		typ, msg = event.AlertFailed, fmt.Sprintf("%s to %s failed after %d attempts: %s", o.Type, o.Notifier, o.Attempts, o.Error)
	} else if o.Attempts > 1 {
		msg += fmt.Sprintf(" after %d attempts", o.Attempts)
	}
	if err := a.cfg.Store.AppendEvent(ctx, store.Event{Time: o.Time, Target: o.Target, WatchID: o.WatchID,
		IncidentID: o.IncidentID, Type: typ, Message: msg}); err != nil {
		a.cfg.Logger.Error("append event", zap.String("target", o.Target), zap.Error(err))
	}
}
