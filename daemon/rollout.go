package daemon

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// This file carries out a rollout's effects: traffic shifts and traffic
// hooks. Each runs once at a time per watch, on the replica that owns the
// target, off the run loop (an AWS call or a hook never holds up other
// targets); its outcome goes back through the life cycle.

// shiftTraffic moves a rollout's traffic to its current step's weight.
func (d *Daemon) shiftTraffic(ctx context.Context, t *targets.Target, w store.Watch, e watch.SetTraffic) {
	key := w.ID + "/traffic"
	fence, ok := d.claimWork(w.Target, key)
	if !ok {
		return
	}
	d.mu.Lock()
	act := d.act
	d.mu.Unlock()
	work := func(ctx context.Context) {
		defer d.releaseWork(key)
		res, err := act.ShiftTraffic(ctx, actuator.TrafficShift{Target: t.Conf, NewVersion: w.NewVersion, KnownGood: w.KnownGood,
			Weight: e.Weight, Revision: w.RevisionID}, fence)
		var f func(store.Watch) (store.Watch, []watch.Effect)
		switch {
		case err == nil:
			f = func(w store.Watch) (store.Watch, []watch.Effect) {
				return watch.TrafficSet(w, e.Step, res.Weights, res.Revision, d.clock.Now())
			}
		case errors.Is(err, actuator.ErrAliasMoved):
			f = func(w store.Watch) (store.Watch, []watch.Effect) {
				return watch.TrafficRefused(w, err.Error(), d.clock.Now())
			}
		default:
			d.log.Warn("traffic shift failed; the next tick tries again", zap.String("target", w.Target),
				zap.String("watch", w.ID), zap.Float64("weight", e.Weight), zap.Error(err))
			return
		}
		d.logErr(d.transit(ctx, t, w.ID, f), "record traffic shift", w.ID)
	}
	d.background(ctx, work)
}

// runTrafficHook runs a rollout's pre- or post-traffic hook.
func (d *Daemon) runTrafficHook(t *targets.Target, w store.Watch, e watch.RunHook) {
	r := t.Conf.Rollout
	if r == nil {
		return
	}
	h := r.PostTraffic
	if e.Pre {
		h = r.PreTraffic
	}
	key := fmt.Sprintf("%s/hook/%v", w.ID, e.Pre)
	if h == nil {
		return
	}
	if _, ok := d.claimWork(w.Target, key); !ok {
		return
	}
	d.mu.Lock()
	act := d.act
	d.mu.Unlock()
	d.plans.Add(1)
	go func() { // a hook may wait on the clock (retries): never inline
		defer d.plans.Done()
		defer d.releaseWork(key)
		ctx := d.workCtx
		ok, detail := act.RunTrafficHook(ctx, actuator.TrafficHookInput{Target: t.Conf, WatchID: w.ID,
			NewVersion: w.NewVersion, KnownGood: w.KnownGood, Pre: e.Pre}, *h)
		d.logErr(d.transit(ctx, t, w.ID, func(w store.Watch) (store.Watch, []watch.Effect) {
			return watch.HookDone(w, e.Pre, ok, detail, d.clock.Now())
		}), "record traffic hook", w.ID)
	}()
}

// claimWork marks a piece of a target's work as running here, if this
// replica owns the target and it is not running already.
func (d *Daemon) claimWork(target, key string) (store.Fence, bool) {
	fence, owned := d.leases.Fence(target)
	return fence, owned && d.work.Claim(key)
}

func (d *Daemon) releaseWork(key string) { d.work.Release(key) }

// background runs work on the daemon's context, inline when Synchronous.
func (d *Daemon) background(ctx context.Context, work func(context.Context)) {
	if d.cfg.Synchronous {
		work(ctx)
		return
	}
	d.plans.Add(1)
	go func() { defer d.plans.Done(); work(d.workCtx) }()
}
