package daemon

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/store"
)

// refreshLeases takes or renews the ownership lease of every target. A
// target whose lease another replica holds is left to it; its fencing token
// guards every actuation step (promise 3 across replicas).
//
// The embedded bolt store is one file locked by one process: this process
// owns every target without a lease (renewing 10,000 leases would cost
// 10,000 fsyncs every few seconds), and journal appends are unfenced.
func (d *Daemon) refreshLeases(ctx context.Context) {
	conf, _, order := d.snapshot()
	if d.local {
		d.mu.Lock()
		for _, name := range order {
			d.owned[name] = store.Fence{Target: name, Holder: conf.Daemon.ReplicaID}
		}
		for name := range d.owned {
			if _, ok := d.targets[name]; !ok {
				delete(d.owned, name)
			}
		}
		d.metrics.OwnedTargets.Set(float64(len(d.owned)))
		d.mu.Unlock()
		return
	}
	ttl := conf.Store.LeaseTTL.Duration
	for _, name := range order {
		d.mu.Lock()
		held, ok := d.owned[name]
		renewAt := d.renewAt[name]
		d.mu.Unlock()
		if ok && d.clock.Now().Before(renewAt) {
			continue
		}
		fence, err := d.cfg.Store.AcquireLease(ctx, name, conf.Daemon.ReplicaID, ttl)
		d.mu.Lock()
		switch {
		case err == nil:
			if !ok || held.Token != fence.Token {
				d.log.Info("target lease acquired", zap.String("target", name), zap.Int64("token", fence.Token))
			}
			d.owned[name] = fence
			d.renewAt[name] = d.clock.Now().Add(ttl / 3)
		case errors.Is(err, store.ErrLeaseHeld):
			if ok {
				d.log.Warn("target lease lost to another replica", zap.String("target", name))
			}
			delete(d.owned, name)
		default:
			d.log.Error("lease", zap.String("target", name), zap.Error(err))
		}
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.metrics.OwnedTargets.Set(float64(len(d.owned)))
	d.mu.Unlock()
}

// ownedWatches keeps the watches of targets this replica owns.
func (d *Daemon) ownedWatches(ws []store.Watch) []store.Watch {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := ws[:0]
	for _, w := range ws {
		if _, ok := d.owned[w.Target]; ok {
			out = append(out, w)
		}
	}
	return out
}
