package overrides

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/knownbad"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
)

// ClearKnownBad applies, on the targets owns says this replica owns, the
// overrides in force (active) that mark a version good: the incidents that
// rolled it back are marked cleared (package knownbad), so the version may
// be deployed again. An override that names no version under watch (among
// watches) is then used up; one that does is also the life cycle's, which
// uses it on that watch. It returns the overrides still in force.
func (k *Keeper) ClearKnownBad(ctx context.Context, active []store.Override, watches []store.Watch, owns func(target string) bool) []store.Override {
	kept := active[:0:0]
	for _, o := range active {
		if !knownbad.Clears(o) || !owns(o.Target) {
			kept = append(kept, o)
			continue
		}
		n, err := knownbad.Clear(ctx, k.cfg.Store, o, k.cfg.Clock.Now())
		if err != nil {
			k.cfg.Logger.Error("clear known-bad version", zap.String("override", o.ID), zap.Error(err))
			kept = append(kept, o)
			continue
		}
		if underWatch(o, watches) {
			kept = append(kept, o)
			continue
		}
		if err := k.cfg.Store.DeleteOverride(ctx, o.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			k.cfg.Logger.Error("use up mark-good override", zap.String("override", o.ID), zap.Error(err))
		}
		ts, _ := k.cfg.Targets()
		oc := o
		k.cfg.Note(ctx, ts[o.Target], watch.Note{Kind: event.OverrideUsed, Severity: event.Info, Target: o.Target, Override: &oc,
			Message: fmt.Sprintf("version %s of %s marked good by %s (%d incident(s) cleared): it may be deployed again", o.Version, o.Target, o.Actor, n)})
	}
	return kept
}

// underWatch reports whether the version o names is judged in one of ws.
func underWatch(o store.Override, ws []store.Watch) bool {
	for _, w := range ws {
		if w.Target == o.Target && w.NewVersion == o.Version && watch.Judged(w.Phase) {
			return true
		}
	}
	return false
}
