package control

import (
	"context"
	"fmt"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/knownbad"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// SetOverride persists an override and announces it; the next Tick of
// every replica applies it. A force-rollback or a mark-good needs a deploy
// under watch (or, for a mark-good naming a version, a known-bad version
// to clear).
func (c *Controller) SetOverride(ctx context.Context, o store.Override) (store.Override, error) {
	if o.Target != "*" {
		t, err := c.target(o.Target)
		if err != nil {
			return o, err
		}
		if o.Kind == store.OverrideForceRollback || o.Kind == store.OverrideMarkGood {
			if err := c.needsWatch(ctx, t, o); err != nil {
				return o, err
			}
		}
	}
	if err := c.cfg.Store.PutOverride(ctx, o); err != nil {
		return o, err
	}
	c.cfg.Overrides.Announce(ctx, o, event.OverrideSet, fmt.Sprintf("override %s set on %s by %s: %s", o.Kind, o.Target, o.Actor, o.Reason))
	return o, nil
}

// DeleteOverride removes one (resume).
func (c *Controller) DeleteOverride(ctx context.Context, id string) error {
	all, err := c.cfg.Store.ListOverrides(ctx)
	if err != nil {
		return err
	}
	if err := c.cfg.Store.DeleteOverride(ctx, id); err != nil {
		return err
	}
	for _, o := range all {
		if o.ID == id {
			c.cfg.Overrides.Announce(ctx, o, event.OverrideExpired, fmt.Sprintf("override %s on %s removed", o.Kind, o.Target))
		}
	}
	return nil
}

// needsWatch refuses (api.ErrConflict) override o of t when no deploy of
// t is under watch: a force-rollback or a mark-good applies to the deploy
// being watched, but a mark-good naming a version may clear a known-bad
// version with no deploy under watch.
func (c *Controller) needsWatch(ctx context.Context, t *targets.Target, o store.Override) error {
	ws, err := c.cfg.Store.ListWatches(ctx, store.WatchFilter{Target: o.Target, ActiveOnly: true})
	if err != nil {
		return err
	}
	active := false
	for _, w := range ws {
		active = active || watch.Judged(w.Phase)
	}
	if !active && o.Kind == store.OverrideMarkGood && o.Version != "" {
		_, bad, err := knownbad.ForTarget(ctx, c.cfg.Store, t.Conf, o.Version)
		if err != nil {
			return err
		}
		active = bad
	}
	if !active {
		return fmt.Errorf("%w: no deploy of %s is under watch; %s applies to the deploy being watched (use canaryd rollback to roll back now; mark-good --version V clears a rolled-back version)",
			api.ErrConflict, o.Target, o.Kind)
	}
	return nil
}
