package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
)

// Callbacks from the detector, and the actuator's verifier (its other
// callbacks are the runner's).

// onWatch is called by the detector when a deploy starts a watch.
func (d *Daemon) onWatch(w store.Watch, superseded *store.Watch) {
	ctx := d.runner.Context()
	_, ts, _ := d.snapshot()
	t := ts[w.Target]
	if t == nil {
		return
	}
	if err := d.effects.Apply(ctx, t, w, watch.Started(w, superseded)); err != nil {
		d.log.Error("announce watch failed", zap.String("incident", ""), zap.Error(err))
	}
	d.obs.Adopt(ctx, w)
}

// onWatchEnd is called when the alias went back to known-good by hand.
func (d *Daemon) onWatchEnd(w store.Watch) {
	_, ts, _ := d.snapshot()
	d.effects.Note(d.runner.Context(), ts[w.Target], watch.Note{Kind: event.Ended, Severity: event.Info, Target: w.Target,
		WatchID: w.ID, KnownGood: w.KnownGood, NewVersion: w.NewVersion, Message: w.Reason})
}

// setKnownGood records version as the target's known-good, through the
// detector (which serialises it with its own writes of the target's state).
func (d *Daemon) setKnownGood(ctx context.Context, name, version string) error {
	return d.current().detector.SetKnownGood(ctx, name, version)
}

// verify is the actuator's Verifier, on the prober in use.
func (d *Daemon) verify(ctx context.Context, t config.Target, window time.Duration) (bool, string, error) {
	return d.current().prober.Verify(ctx, t, window)
}
