package runner

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
// target.

// shiftTraffic moves a rollout's traffic to its current step's weight.
func (r *Runner) shiftTraffic(ctx context.Context, t *targets.Target, w store.Watch, e watch.SetTraffic) {
	key := w.ID + "/traffic"
	fence, ok := r.claim(w.Target, key)
	if !ok {
		return
	}
	act := r.cfg.Actuator()
	r.Background(ctx, func(ctx context.Context) {
		defer r.work.Release(key)
		res, err := act.ShiftTraffic(ctx, actuator.TrafficShift{Target: t.Conf, NewVersion: w.NewVersion, KnownGood: w.KnownGood,
			Weight: e.Weight, Revision: w.RevisionID}, fence)
		var f func(store.Watch) (store.Watch, []watch.Effect)
		switch {
		case err == nil:
			f = func(w store.Watch) (store.Watch, []watch.Effect) {
				now := r.cfg.Clock.Now()
				return watch.TrafficSet(w, e.Step, res.Weights, res.Revision, now, t.Memory.RolloutProbeBaseline(w.ID, now))
			}
		case errors.Is(err, actuator.ErrAliasMoved):
			f = func(w store.Watch) (store.Watch, []watch.Effect) {
				return watch.TrafficRefused(w, err.Error(), r.cfg.Clock.Now())
			}
		default:
			r.cfg.Logger.Warn("traffic shift failed; the next tick tries again", zap.String("target", w.Target),
				zap.String("watch", w.ID), zap.Float64("weight", e.Weight), zap.Error(err))
			return
		}
		r.logErr(r.cfg.Effects.Transit(ctx, t, w.ID, f), "record traffic shift", w.ID)
	})
}

// runTrafficHook runs a rollout's pre- or post-traffic hook.
func (r *Runner) runTrafficHook(t *targets.Target, w store.Watch, e watch.RunHook) {
	ro := t.Conf.Rollout
	if ro == nil {
		return
	}
	h := ro.PostTraffic
	if e.Pre {
		h = ro.PreTraffic
	}
	key := fmt.Sprintf("%s/hook/%v", w.ID, e.Pre)
	if h == nil {
		return
	}
	if _, ok := r.claim(w.Target, key); !ok {
		return
	}
	act := r.cfg.Actuator()
	r.goWork(func(ctx context.Context) { // a hook may wait on the clock (retries): never inline
		defer r.work.Release(key)
		ok, detail := act.RunTrafficHook(ctx, actuator.TrafficHookInput{Target: t.Conf, WatchID: w.ID,
			NewVersion: w.NewVersion, KnownGood: w.KnownGood, Pre: e.Pre}, *h)
		r.logErr(r.cfg.Effects.Transit(ctx, t, w.ID, func(w store.Watch) (store.Watch, []watch.Effect) {
			return watch.HookDone(w, e.Pre, ok, detail, r.cfg.Clock.Now())
		}), "record traffic hook", w.ID)
	})
}

// claim marks a piece of a target's work as running here, if this replica
// owns the target and it is not running already.
func (r *Runner) claim(target, key string) (store.Fence, bool) {
	fence, owned := r.cfg.Leases.Fence(target)
	return fence, owned && r.work.Claim(key)
}
