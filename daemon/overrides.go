package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/canaryd/canaryd/event"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/store"
)

// overrides returns the overrides in force, deleting expired ones. The
// replica whose delete succeeds announces the expiry, so it is announced
// once (promise 7: visible in status, metrics and alerts).
func (d *Daemon) overrides(ctx context.Context) []store.Override {
	all, err := d.cfg.Store.ListOverrides(ctx)
	if err != nil {
		d.log.Error("list overrides", zap.Error(err))
		return nil
	}
	now := d.clock.Now()
	var active []store.Override
	counts := map[store.OverrideKind]int{}
	for _, o := range all {
		if o.Active(now) {
			active = append(active, o)
			counts[o.Kind]++
			continue
		}
		if err := d.cfg.Store.DeleteOverride(ctx, o.ID); err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				d.log.Error("delete expired override", zap.String("override", o.ID), zap.Error(err))
			}
			continue
		}
		d.announceOverride(ctx, o, event.OverrideExpired, fmt.Sprintf("override %s (%s) on %s expired", o.ID, o.Kind, o.Target))
	}
	for _, k := range []store.OverrideKind{store.OverridePause, store.OverrideForceRollback, store.OverrideMarkGood} {
		d.metrics.Overrides.WithLabelValues(string(k)).Set(float64(counts[k]))
	}
	return active
}

// consume takes a one-shot override (force rollback, mark good) for the
// watch w. It applies only to a deploy that was under watch when it was set
// (detected before its CreatedAt): an operator's decision about one deploy
// never lands on a later one. A per-target one is claimed by deleting it,
// so one replica acts on it once; an all-targets ("*") one applies to each
// such deploy and lapses with its TTL.
func (d *Daemon) consume(ctx context.Context, ovs []store.Override, w store.Watch, kind store.OverrideKind) (store.Override, bool) {
	for _, o := range ovs {
		if o.Kind != kind || !o.Applies(w.Target) || w.DetectedAt.After(o.CreatedAt) {
			continue
		}
		if o.Target == "*" {
			d.event(ctx, store.Event{Target: w.Target, WatchID: w.ID, Type: "override_used", Message: fmt.Sprintf("%s of all targets by %s used: %s", o.Kind, o.Actor, o.Reason)})
			return o, true
		}
		if err := d.cfg.Store.DeleteOverride(ctx, o.ID); err != nil {
			continue // another replica took it
		}
		d.event(ctx, store.Event{Target: w.Target, WatchID: w.ID, Type: "override_used", Message: fmt.Sprintf("%s by %s used: %s", o.Kind, o.Actor, o.Reason)})
		return o, true
	}
	return store.Override{}, false
}

// inForce returns the overrides in force now, all of them or (target
// non-empty) those that apply to target.
func (d *Daemon) inForce(ctx context.Context, target string) ([]store.Override, error) {
	all, err := d.cfg.Store.ListOverrides(ctx)
	if err != nil {
		return nil, err
	}
	now := d.clock.Now()
	var out []store.Override
	for _, o := range all {
		if o.Active(now) && (target == "" || o.Applies(target)) {
			out = append(out, o)
		}
	}
	return out, nil
}

// paused returns the pause override in force for target, if any.
func paused(ovs []store.Override, target string) *store.Override {
	for i := range ovs {
		if ovs[i].Kind == store.OverridePause && ovs[i].Applies(target) {
			return &ovs[i]
		}
	}
	return nil
}

func (d *Daemon) announceOverride(ctx context.Context, o store.Override, typ event.Kind, msg string) {
	d.log.Info(msg, zap.String("override", o.ID), zap.String("target", o.Target), zap.String("kind", string(o.Kind)), zap.String("actor", o.Actor))
	conf, targets, _ := d.snapshot()
	for _, tc := range conf.Targets {
		if !o.Applies(tc.Name) {
			continue
		}
		oc := o
		d.event(ctx, store.Event{Target: tc.Name, Type: typ, Message: msg})
		d.send(ctx, targets[tc.Name], notify.Event{Type: typ, Severity: event.Warning, Override: &oc, Message: msg})
	}
}
