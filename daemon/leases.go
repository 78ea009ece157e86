package daemon

import (
	"context"
)

// refreshLeases takes or renews the ownership lease of every target (see
// package lease) and returns the targets whose lease this replica newly
// took: their unfinished work is resumed, and their watches are this
// replica's to judge now.
func (d *Daemon) refreshLeases(ctx context.Context) map[string]bool {
	conf, _, order := d.snapshot()
	taken := d.leases.Refresh(ctx, order, conf.Daemon.ReplicaID, conf.Store.LeaseTTL.Duration)
	if len(taken) > 0 {
		d.store.Invalidate()
	}
	d.metrics.OwnedTargets.Set(float64(d.leases.Len()))
	return taken
}
