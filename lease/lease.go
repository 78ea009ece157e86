// Package lease keeps a replica's ownership of targets: which targets it
// holds the lease of, with which fencing token, and when each is due for
// renewal. Only the owner of a target judges its watches and acts on it;
// the fencing token guards every actuation step, so a replica that lost a
// lease cannot act on a stale belief (promise 3 across replicas).
//
// With a store one process has to itself (Table.Local, the embedded bolt
// file) every configured target is owned without a lease: renewing 10,000
// leases would cost 10,000 fsyncs every few seconds, and journal appends
// are unfenced.
package lease

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/store"
)

// Table is the set of targets a replica owns. Its methods are safe for
// concurrent use.
type Table struct {
	store store.Store
	clock clockwork.Clock
	log   *zap.Logger
	local bool

	mu      sync.Mutex
	owned   map[string]store.Fence
	renewAt map[string]time.Time
}

// New returns an empty table over s (a store that is not Shared is one
// process's alone: every target is owned without a lease).
func New(s store.Store, clock clockwork.Clock, log *zap.Logger) *Table {
	return &Table{store: s, clock: clock, log: log, local: !s.Shared(),
		owned: map[string]store.Fence{}, renewAt: map[string]time.Time{}}
}

// Refresh takes or renews, as holder, the lease of every target in names
// that is not held or is due (a third of ttl after it was last taken), and
// returns the targets whose lease
// it newly took (their unfinished work is to be resumed). A target whose
// lease another replica holds is left to it. With a local store it owns
// every target in names and returns nothing.
func (t *Table) Refresh(ctx context.Context, names []string, holder string, ttl time.Duration) map[string]bool {
	if t.local {
		t.mu.Lock()
		defer t.mu.Unlock()
		for _, name := range names {
			t.owned[name] = store.Fence{Target: name, Holder: holder}
		}
		return nil
	}
	now := t.clock.Now()
	var due []string
	t.mu.Lock()
	for _, name := range names {
		if _, ok := t.owned[name]; !ok || !now.Before(t.renewAt[name]) {
			due = append(due, name)
		}
	}
	t.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	fences, errs := t.acquire(ctx, due, holder, ttl)
	taken := map[string]bool{}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, name := range due {
		held, had := t.owned[name]
		if f, ok := fences[name]; ok {
			if !had || held.Token != f.Token {
				t.log.Info("target lease acquired", zap.String("target", name), zap.Int64("token", f.Token))
				taken[name] = true
			}
			t.owned[name] = f
			t.renewAt[name] = now.Add(ttl / 3)
			continue
		}
		switch err := errs[name]; {
		case errors.Is(err, store.ErrLeaseHeld):
			if had {
				t.log.Warn("target lease lost to another replica", zap.String("target", name))
			}
			delete(t.owned, name)
		default:
			t.log.Error("lease", zap.String("target", name), zap.Error(err))
		}
	}
	return taken
}

// Lost forgets every lease: the store lost its data (Redis back empty),
// and the leases with it. The next Refresh takes them again as new ones,
// so the daemon treats them as a take-over and resumes what the store
// holds now. Kept, a lease re-taken by the same replica in the empty
// store could get the token it had before, and nothing was resumed.
func (t *Table) Lost() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.local {
		return
	}
	clear(t.owned)
	clear(t.renewAt)
}

// Retain forgets the targets not in names (a reload removed them from
// the config); their leases expire in the store on their own.
func (t *Table) Retain(names []string) {
	keep := make(map[string]bool, len(names))
	for _, name := range names {
		keep[name] = true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for name := range t.owned {
		if !keep[name] {
			delete(t.owned, name)
			delete(t.renewAt, name)
		}
	}
}

// acquire takes or renews leases, in one batch when the store can.
func (t *Table) acquire(ctx context.Context, names []string, holder string, ttl time.Duration) (map[string]store.Fence, map[string]error) {
	if lb, ok := t.store.(store.LeaseBatcher); ok {
		return lb.AcquireLeases(ctx, names, holder, ttl)
	}
	fences, errs := map[string]store.Fence{}, map[string]error{}
	for _, name := range names {
		f, err := t.store.AcquireLease(ctx, name, holder, ttl)
		if err != nil {
			errs[name] = err
			continue
		}
		fences[name] = f
	}
	return fences, errs
}

// Owns reports whether the replica holds target's lease.
func (t *Table) Owns(target string) bool {
	_, ok := t.Fence(target)
	return ok
}

// Fence is target's fencing token, if the replica owns it.
func (t *Table) Fence(target string) (store.Fence, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.owned[target]
	return f, ok
}

// Names returns the targets the replica owns now.
func (t *Table) Names() map[string]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]bool, len(t.owned))
	for name := range t.owned {
		out[name] = true
	}
	return out
}

// Len is how many targets the replica owns.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.owned)
}

// Keep filters ws in place to the watches of targets the replica owns.
func (t *Table) Keep(ws []store.Watch) []store.Watch {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := ws[:0]
	for _, w := range ws {
		if _, ok := t.owned[w.Target]; ok {
			out = append(out, w)
		}
	}
	return out
}
