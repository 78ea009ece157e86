// Package overrides keeps operators' overrides (pause, force rollback, mark
// good, promote) as the daemon sees them in the store: those in force now,
// the expiry of the others — deleted, and announced once, by the replica
// whose delete succeeds — and the announcement of every change to each
// target it applies to (promise 7: the manual override is visible in
// status, metrics and alerts). What an override does to a watch is the
// life cycle's (package watch).
package overrides

import (
	"context"
	"errors"
	"fmt"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// Config is what a Keeper is built from.
type Config struct {
	Store  store.Store
	Clock  clockwork.Clock
	Logger *zap.Logger
	// Active is set, by kind, to the overrides in force at each Refresh
	// (nil: not measured).
	Active *prometheus.GaugeVec
	// Targets returns the targets in force, by name and in config order.
	Targets func() (map[string]*targets.Target, []string)
	// Note records a note and sends it as an alert (effects.Applier.Note).
	Note func(ctx context.Context, t *targets.Target, n watch.Note)
}

// Keeper reads, expires and announces overrides.
type Keeper struct {
	cfg Config
	// pauses are the pauses in force at the last Refresh that read the
	// store (run loop only).
	pauses []store.Override
}

// New builds a Keeper.
func New(c Config) *Keeper { return &Keeper{cfg: c} }

// kinds are the kinds the Active gauge reports.
var kinds = []store.OverrideKind{store.OverridePause, store.OverrideForceRollback, store.OverrideMarkGood}

// Refresh returns the overrides in force, deleting expired ones and
// announcing each expiry this replica deleted; nil when the store does
// not answer.
func (k *Keeper) Refresh(ctx context.Context) []store.Override {
	all, err := k.cfg.Store.ListOverrides(ctx)
	if err != nil {
		k.cfg.Logger.Error("list overrides", zap.Error(err))
		return nil
	}
	now := k.cfg.Clock.Now()
	var active, pauses []store.Override
	counts := map[store.OverrideKind]int{}
	for _, o := range all {
		if o.Active(now) {
			active = append(active, o)
			counts[o.Kind]++
			if o.Kind == store.OverridePause {
				pauses = append(pauses, o)
			}
			continue
		}
		if err := k.cfg.Store.DeleteOverride(ctx, o.ID); err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				k.cfg.Logger.Error("delete expired override", zap.String("override", o.ID), zap.Error(err))
			}
			continue
		}
		k.Announce(ctx, o, event.OverrideExpired, fmt.Sprintf("override %s (%s) on %s expired", o.ID, o.Kind, o.Target))
	}
	if k.cfg.Active != nil {
		for _, kind := range kinds {
			k.cfg.Active.WithLabelValues(string(kind)).Set(float64(counts[kind]))
		}
	}
	k.pauses = pauses
	return active
}

// Pauses are the pauses in force at the last Refresh that read the store
// (none before the first).
func (k *Keeper) Pauses() []store.Override { return k.pauses }

// InForce returns the overrides in force now, all of them or (target
// non-empty) those that apply to target.
func (k *Keeper) InForce(ctx context.Context, target string) ([]store.Override, error) {
	all, err := k.cfg.Store.ListOverrides(ctx)
	if err != nil {
		return nil, err
	}
	now := k.cfg.Clock.Now()
	var out []store.Override
	for _, o := range all {
		if o.Active(now) && (target == "" || o.Applies(target)) {
			out = append(out, o)
		}
	}
	return out, nil
}

// Announce tells every configured target o applies to what happened to o
// (kind, msg): one alert per target, in config order.
func (k *Keeper) Announce(ctx context.Context, o store.Override, kind event.Kind, msg string) {
	ts, order := k.cfg.Targets()
	for _, name := range order {
		if !o.Applies(name) {
			continue
		}
		oc := o
		k.cfg.Note(ctx, ts[name], watch.Note{Kind: kind, Alert: kind, Severity: event.Warning, Target: name,
			Override: &oc, Message: msg})
	}
}
