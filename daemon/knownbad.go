package daemon

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/knownbad"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// checkKnownBad looks up, once per watch, whether a baking watch's version
// is known-bad (a store error is retried next tick; the policy judges
// meanwhile).
func (d *Daemon) checkKnownBad(ctx context.Context, t *targets.Target, w store.Watch) *store.Incident {
	checked, bad := t.Memory.KnownBad(w)
	if checked || w.Phase != store.PhaseBaking {
		return bad
	}
	in, isBad, err := knownbad.ForTarget(ctx, d.store, t.Conf, w.NewVersion)
	if err != nil {
		d.log.Warn("known-bad check failed; retried next tick", zap.String("watch", w.ID), zap.Error(err))
		return nil
	}
	if !isBad {
		t.Memory.SetKnownBad(w, nil)
		return nil
	}
	t.Memory.SetKnownBad(w, &in)
	d.log.Warn("deploy of a known-bad version", zap.String("target", w.Target), zap.String("watch", w.ID),
		zap.String("version", w.NewVersion), zap.String("incident", in.ID))
	return &in
}

// clearKnownBad applies the active mark-good overrides that name a
// version: the incidents that rolled it back are marked cleared, so the
// version may be deployed again. An override that names no version under
// watch is then used up (one that does is also the life cycle's, which
// uses it on that watch).
func (d *Daemon) clearKnownBad(ctx context.Context, active []store.Override, watches []store.Watch) []store.Override {
	kept := active[:0:0]
	for _, o := range active {
		if !knownbad.Clears(o) || !d.leases.Owns(o.Target) {
			kept = append(kept, o)
			continue
		}
		n, err := knownbad.Clear(ctx, d.store, o, d.clock.Now())
		if err != nil {
			d.log.Error("clear known-bad version", zap.String("override", o.ID), zap.Error(err))
			kept = append(kept, o)
			continue
		}
		watched := false
		for _, w := range watches {
			if w.Target == o.Target && w.NewVersion == o.Version && watch.Judged(w.Phase) {
				watched = true
			}
		}
		if watched {
			kept = append(kept, o)
			continue
		}
		if err := d.store.DeleteOverride(ctx, o.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			d.log.Error("use up mark-good override", zap.String("override", o.ID), zap.Error(err))
		}
		_, ts, _ := d.snapshot()
		oc := o
		d.effects.Note(ctx, ts[o.Target], watch.Note{Kind: event.OverrideUsed, Severity: event.Info, Target: o.Target, Override: &oc,
			Message: fmt.Sprintf("version %s of %s marked good by %s (%d incident(s) cleared): it may be deployed again", o.Version, o.Target, o.Actor, n)})
	}
	return kept
}
