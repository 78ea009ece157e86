package daemon

import (
	"context"
	"time"

	"github.com/canaryd/canaryd/config"
)

// verify is the actuator's Verifier, on the prober in use.
func (d *Daemon) verify(ctx context.Context, t config.Target, window time.Duration) (bool, string, error) {
	d.mu.Lock()
	prober := d.prober
	d.mu.Unlock()
	return prober.Verify(ctx, t, window)
}
