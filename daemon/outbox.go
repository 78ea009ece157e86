package daemon

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// Alerts go through the outbox (notify.Outbox): written to the store before
// the transition they report is applied, redelivered with the same ID after
// a crash or a lease take-over. This file builds them from the life
// cycle's notes.

// alertEvent is the notify.Event of an alert note: everything an alert
// carries (function, alias, overrides in force, next steps), secrets
// redacted, and its ID.
func (d *Daemon) alertEvent(ctx context.Context, t *targets.Target, n watch.Note) notify.Event {
	now := d.clock.Now()
	ev := notify.Event{ID: alertID(n, now), Type: n.Alert, Severity: n.Severity, Time: now, Target: n.Target,
		WatchID: n.WatchID, IncidentID: n.IncidentID, KnownGood: n.KnownGood, NewVersion: n.NewVersion,
		Verdict: n.Verdict, Actions: actionResults(n.Actions), Override: n.Override, DryRun: n.DryRun, Message: n.Message}
	if t != nil {
		ev.Target, ev.Function, ev.Alias = t.Conf.Name, t.Conf.Function, t.Conf.Alias
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
func (d *Daemon) stage(ctx context.Context, t *targets.Target, effs []watch.Effect) (map[int]*notify.Staged, error) {
	var evs []notify.Event
	var at []int
	for i, e := range effs {
		if n, ok := e.(watch.Note); ok && n.Alert != "" {
			evs, at = append(evs, d.alertEvent(ctx, t, n)), append(at, i)
		}
	}
	out := map[int]*notify.Staged{}
	if len(evs) == 0 {
		return out, nil
	}
	sts, err := d.box.Stage(ctx, evs)
	if err != nil {
		return nil, err
	}
	for j, st := range sts {
		out[at[j]] = st
	}
	return out, nil
}

// alert writes one alert to the outbox and sends it (a note outside a
// watch transition: an override, a manual rollback, a brown-out).
func (d *Daemon) alert(ctx context.Context, t *targets.Target, n watch.Note) {
	if err := d.box.Send(ctx, d.alertEvent(ctx, t, n)); err != nil {
		d.log.Error("alert not written to the outbox; sent once", zap.String("target", n.Target), zap.Error(err))
	}
}

// owns is the outbox's view of the targets this replica owns.
func (d *Daemon) ownsTarget(names map[string]bool) func(string) bool {
	return func(target string) bool { return names[target] }
}
