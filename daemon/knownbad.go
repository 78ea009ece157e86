package daemon

import (
	"context"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/knownbad"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
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
