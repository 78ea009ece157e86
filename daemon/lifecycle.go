package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/canaryd/canaryd/event"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

var errNotActive = errors.New("watch is no longer baking or promoted")

// step advances one active watch: window expiry, operator overrides, then
// the policy's verdict and what follows from it.
func (d *Daemon) step(ctx context.Context, w store.Watch, ovs []store.Override) error {
	_, targets, _ := d.snapshot()
	t := targets[w.Target]
	if t == nil {
		return nil // target removed from config: leave its watch alone
	}
	switch w.Phase {
	case store.PhaseTripped, store.PhaseRollingBack:
		return d.ensurePlan(ctx, t, w)
	case store.PhaseBaking, store.PhasePromoted:
	default:
		return nil
	}
	d.adopt(ctx, t, w)
	now := d.clock.Now()
	if w.Phase == store.PhasePromoted && !now.Before(w.PromotedAt.Add(t.conf.RollbackWindow.Duration)) {
		return d.endWatch(ctx, w, store.PhaseEnded, fmt.Sprintf("promoted; rollback window of %s closed", t.conf.RollbackWindow))
	}
	if o, ok := d.consume(ctx, ovs, w, store.OverrideForceRollback); ok {
		d.log.Info("operator forced a rollback", zap.String("target", w.Target), zap.String("watch", w.ID), zap.String("actor", o.Actor))
		return d.trip(ctx, t, w, tripCause{trigger: "operator", actor: o.Actor, reason: "forced by " + o.Actor + ": " + o.Reason, toVersion: o.Version})
	}
	if o, ok := d.consume(ctx, ovs, w, store.OverrideMarkGood); ok {
		return d.promote(ctx, t, w, fmt.Sprintf("marked good by %s: %s", o.Actor, o.Reason))
	}
	v := d.evaluate(t, w)
	d.metrics.Verdicts.WithLabelValues(string(v.Kind)).Inc()
	if err := d.recordVerdict(ctx, t, w, v); err != nil {
		return err
	}
	switch v.Kind {
	case policy.Promote:
		if w.Phase == store.PhaseBaking {
			if d.failedBefore(ctx, w) {
				return d.holdPromotion(ctx, t, w)
			}
			return d.promote(ctx, t, w, v.Summary)
		}
	case policy.Failing:
		return d.onFailing(ctx, t, w, v, ovs)
	}
	return nil
}

// evaluate runs the target's policy over the watch's samples.
func (d *Daemon) evaluate(t *target, w store.Watch) policy.Verdict {
	t.mu.Lock()
	samples := t.history(w.ID).Samples()
	baseline, prepared := t.baseline[w.ID], t.prepared[w.ID]
	t.mu.Unlock()
	return t.policy.Evaluate(policy.Input{
		WatchStart: w.DetectedAt, KnownGood: w.KnownGood, NewVersion: w.NewVersion,
		Split: len(w.Weights) > 0, Promoted: w.Phase == store.PhasePromoted,
		Samples: samples, Baseline: baseline, Prepared: prepared,
	}, d.clock.Now())
}

// recordVerdict persists a verdict when its kind changes, with an event.
func (d *Daemon) recordVerdict(ctx context.Context, t *target, w store.Watch, v policy.Verdict) error {
	t.mu.Lock()
	prev, seen := t.verdicts[w.ID]
	t.verdicts[w.ID] = v
	t.mu.Unlock()
	if seen && prev.Kind == v.Kind {
		return nil
	}
	raw, _ := json.Marshal(v)
	if _, err := d.cfg.Store.UpdateWatch(ctx, w.ID, func(x *store.Watch) error {
		x.LastVerdict = raw
		return nil
	}); err != nil {
		return fmt.Errorf("record verdict: %w", err)
	}
	d.log.Info("verdict", zap.String("target", w.Target), zap.String("watch", w.ID),
		zap.String("verdict", string(v.Kind)), zap.String("why", v.Summary))
	d.event(ctx, store.Event{Target: w.Target, WatchID: w.ID, Type: "verdict",
		Message: v.Summary, Data: raw})
	return nil
}

// onFailing trips the watch, unless something says to alert only.
func (d *Daemon) onFailing(ctx context.Context, t *target, w store.Watch, v policy.Verdict, ovs []store.Override) error {
	var why string
	switch {
	case paused(ovs, w.Target) != nil:
		o := paused(ovs, w.Target)
		why = fmt.Sprintf("automatic actions paused by %s until %s: %s", o.Actor, o.ExpiresAt.Format("15:04:05Z07:00"), o.Reason)
	case w.KnownGood == "":
		why = "no known-good version recorded for this target: nothing safe to roll back to"
	case v.AlertOnly:
		why = "the known-good version was already failing before this deploy: rolling back would not help"
	}
	if why == "" {
		return d.trip(ctx, t, w, tripCause{trigger: "policy", verdict: &v, reason: v.Summary})
	}
	d.mu.Lock()
	already := d.alerted[w.ID]
	d.alerted[w.ID] = true
	d.mu.Unlock()
	if !already {
		d.log.Warn("failing verdict: alert only", zap.String("target", w.Target), zap.String("watch", w.ID), zap.String("why", why))
		d.event(ctx, store.Event{Target: w.Target, WatchID: w.ID, Type: "alert_only", Message: why})
		d.send(ctx, t, notify.Event{Type: event.AlertOnly, Severity: event.Critical, WatchID: w.ID,
			KnownGood: w.KnownGood, NewVersion: w.NewVersion, Verdict: &v, Message: "Deploy is failing; no automatic action: " + why})
	}
	return nil
}

// promote ends baking: the version becomes known-good. With a rollback
// window the watch stays under watch as promoted; without, it ends.
func (d *Daemon) promote(ctx context.Context, t *target, w store.Watch, why string) error {
	now := d.clock.Now()
	window := t.conf.RollbackWindow.Duration
	_, err := d.cfg.Store.UpdateWatch(ctx, w.ID, func(x *store.Watch) error {
		if x.Phase != store.PhaseBaking && x.Phase != store.PhasePromoted {
			return errNotActive
		}
		x.PromotedAt = now
		x.Phase = store.PhasePromoted
		x.Reason = "promoted: " + why
		if window <= 0 {
			x.Phase, x.EndedAt = store.PhaseEnded, now
		}
		return nil
	})
	if errors.Is(err, errNotActive) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	if err := d.setKnownGood(ctx, w.Target, w.NewVersion); err != nil {
		return err
	}
	d.log.Info("promoted", zap.String("target", w.Target), zap.String("watch", w.ID), zap.String("version", w.NewVersion))
	d.event(ctx, store.Event{Target: w.Target, WatchID: w.ID, Type: "promoted", Message: fmt.Sprintf("version %s promoted: %s", w.NewVersion, why)})
	d.send(ctx, t, notify.Event{Type: event.Promoted, Severity: event.Info, WatchID: w.ID,
		KnownGood: w.KnownGood, NewVersion: w.NewVersion,
		Message: fmt.Sprintf("Version %s of %s is promoted (%s)", w.NewVersion, w.Target, why)})
	return nil
}

// failedBefore reports whether the watch was failing while canaryd could
// only alert (paused, no known-good, baseline already bad): a version that
// failed is not promoted on its own once it looks healthy again; an
// operator marks it good. The history is the record, so this survives
// restarts.
func (d *Daemon) failedBefore(ctx context.Context, w store.Watch) bool {
	d.mu.Lock()
	known := d.alerted[w.ID] || d.alerted["hold|"+w.ID] // seen here: no need to read the history
	d.mu.Unlock()
	if known {
		return true
	}
	evs, err := d.cfg.Store.Events(ctx, store.EventFilter{Target: w.Target, WatchID: w.ID})
	if err != nil {
		return true // unsure: do not promote
	}
	for _, e := range evs {
		if e.Type == "alert_only" {
			return true
		}
	}
	return false
}

// holdPromotion says once that a healthy-again watch waits for an operator.
func (d *Daemon) holdPromotion(ctx context.Context, t *target, w store.Watch) error {
	key := "hold|" + w.ID
	d.mu.Lock()
	already := d.alerted[key]
	d.alerted[key] = true
	d.mu.Unlock()
	if already {
		return nil
	}
	msg := fmt.Sprintf("version %s looks healthy after baking but failed earlier; not promoting on its own: mark it good or roll back", w.NewVersion)
	d.event(ctx, store.Event{Target: w.Target, WatchID: w.ID, Type: "promotion_held", Message: msg})
	d.send(ctx, t, notify.Event{Type: event.AlertOnly, Severity: event.Warning, WatchID: w.ID,
		KnownGood: w.KnownGood, NewVersion: w.NewVersion, Message: msg})
	return nil
}

// setKnownGood records version as the target's known-good.
func (d *Daemon) setKnownGood(ctx context.Context, name, version string) error {
	st, err := d.cfg.Store.GetTarget(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("get target %s: %w", name, err)
	}
	st.Name = name
	st.KnownGood, st.KnownGoodAt = version, d.clock.Now()
	if err := d.cfg.Store.PutTarget(ctx, st); err != nil {
		return fmt.Errorf("set known-good of %s: %w", name, err)
	}
	return nil
}

func (d *Daemon) endWatch(ctx context.Context, w store.Watch, phase store.Phase, why string) error {
	_, err := d.cfg.Store.UpdateWatch(ctx, w.ID, func(x *store.Watch) error {
		if x.Phase.Final() {
			return errNotActive
		}
		x.Phase, x.EndedAt, x.Reason = phase, d.clock.Now(), why
		return nil
	})
	if errors.Is(err, errNotActive) {
		return nil
	}
	if err == nil {
		d.event(ctx, store.Event{Target: w.Target, WatchID: w.ID, Type: "ended", Message: why})
	}
	return err
}
