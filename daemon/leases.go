package daemon

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/store"
)

// refreshLeases takes or renews the ownership lease of every target and
// returns the targets whose lease this replica newly took (their unfinished
// work is resumed). A target whose lease another replica holds is left to
// it; its fencing token guards every actuation step (promise 3 across
// replicas).
//
// The embedded bolt store is one file locked by one process: this process
// owns every target without a lease (renewing 10,000 leases would cost
// 10,000 fsyncs every few seconds), and journal appends are unfenced.
func (d *Daemon) refreshLeases(ctx context.Context) map[string]bool {
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
		return nil
	}
	ttl := conf.Store.LeaseTTL.Duration
	now := d.clock.Now()
	var due []string
	d.mu.Lock()
	for _, name := range order {
		if _, ok := d.owned[name]; !ok || !now.Before(d.renewAt[name]) {
			due = append(due, name)
		}
	}
	d.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	fences, errs := d.acquire(ctx, due, conf.Daemon.ReplicaID, ttl)
	taken := map[string]bool{}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, name := range due {
		held, had := d.owned[name]
		if f, ok := fences[name]; ok {
			if !had || held.Token != f.Token {
				d.log.Info("target lease acquired", zap.String("target", name), zap.Int64("token", f.Token))
				d.store.dirty.Store(true) // its watches are ours to judge now
				taken[name] = true
			}
			d.owned[name] = f
			d.renewAt[name] = now.Add(ttl / 3)
			continue
		}
		switch err := errs[name]; {
		case errors.Is(err, store.ErrLeaseHeld):
			if had {
				d.log.Warn("target lease lost to another replica", zap.String("target", name))
			}
			delete(d.owned, name)
		default:
			d.log.Error("lease", zap.String("target", name), zap.Error(err))
		}
	}
	d.metrics.OwnedTargets.Set(float64(len(d.owned)))
	return taken
}

// ownedNames returns the targets this replica owns now.
func (d *Daemon) ownedNames() map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]bool, len(d.owned))
	for name := range d.owned {
		out[name] = true
	}
	return out
}

// acquire takes or renews leases, in one batch when the store can.
func (d *Daemon) acquire(ctx context.Context, names []string, holder string, ttl time.Duration) (map[string]store.Fence, map[string]error) {
	if lb, ok := d.store.Store.(store.LeaseBatcher); ok {
		return lb.AcquireLeases(ctx, names, holder, ttl)
	}
	fences, errs := map[string]store.Fence{}, map[string]error{}
	for _, name := range names {
		f, err := d.cfg.Store.AcquireLease(ctx, name, holder, ttl)
		if err != nil {
			errs[name] = err
			continue
		}
		fences[name] = f
	}
	return fences, errs
}

// owns reports whether this replica holds target's lease (the detector
// polls only those).
func (d *Daemon) owns(target string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.owned[target]
	return ok
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
