package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/watch"

	"go.uber.org/zap"

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

// announceOverride tells every target an override applies to (promise 7:
// visible in status, metrics and alerts).
func (d *Daemon) announceOverride(ctx context.Context, o store.Override, kind event.Kind, msg string) {
	conf, ts, _ := d.snapshot()
	for _, tc := range conf.Targets {
		if !o.Applies(tc.Name) {
			continue
		}
		oc := o
		d.effects.Note(ctx, ts[tc.Name], watch.Note{Kind: kind, Alert: kind, Severity: event.Warning, Target: tc.Name,
			Override: &oc, Message: msg})
	}
}
