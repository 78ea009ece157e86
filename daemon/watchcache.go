package daemon

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canaryd/canaryd/store"
)

// watchRefresh bounds how stale the list of active watches may be when
// nothing in this process changed a watch: other replicas' changes (an
// announcement that landed elsewhere) are seen within it.
const watchRefresh = 5 * time.Second

// trackedStore is the store as the daemon's parts use it: every watch this
// process creates or updates (detector, actuator, daemon) marks the active
// watch list stale, so Tick re-reads it only when something changed or
// watchRefresh has passed. At 10,000 targets on Redis, re-reading every
// watch every second was a fifth of the daemon's CPU.
type trackedStore struct {
	store.Store
	dirty atomic.Bool
}

func (s *trackedStore) CreateWatch(ctx context.Context, w store.Watch) error {
	defer s.dirty.Store(true)
	return s.Store.CreateWatch(ctx, w)
}

func (s *trackedStore) UpdateWatch(ctx context.Context, id string, fn func(*store.Watch) error) (store.Watch, error) {
	defer s.dirty.Store(true)
	return s.Store.UpdateWatch(ctx, id, fn)
}

// watchList caches the active watches between ticks.
type watchList struct {
	mu      sync.Mutex
	watches []store.Watch
	fetched time.Time
}

// activeWatches returns every active watch, from the cache when nothing
// changed since the last read and it is younger than watchRefresh. The
// slice is the caller's to keep or filter.
func (d *Daemon) activeWatches(ctx context.Context) ([]store.Watch, error) {
	now := d.clock.Now()
	c := &d.watchCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fetched.IsZero() || d.store.dirty.Load() || now.Sub(c.fetched) >= watchRefresh {
		d.store.dirty.Store(false) // before the read: a change during it marks it stale again
		ws, err := d.store.ListWatches(ctx, store.WatchFilter{ActiveOnly: true})
		if err != nil {
			d.store.dirty.Store(true)
			return nil, err
		}
		c.watches, c.fetched = ws, now
	}
	return append([]store.Watch(nil), c.watches...), nil
}

// stuckAfter is how long one tick may run before /readyz fails: every
// external call has a deadline, so a tick this long means a bug or a
// dependency without one.
const stuckAfter = 30 * time.Second

// loopWatch times the run loop's ticks.
type loopWatch struct {
	mu      sync.Mutex
	started time.Time // the tick in progress; zero between ticks
}

func (l *loopWatch) begin(now time.Time) {
	l.mu.Lock()
	l.started = now
	l.mu.Unlock()
}

// end closes the tick in progress and returns how long it took.
func (l *loopWatch) end(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := now.Sub(l.started)
	l.started = time.Time{}
	return d
}

// stuck is how long the tick in progress has run (0 between ticks).
func (l *loopWatch) stuck(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started.IsZero() {
		return 0
	}
	return now.Sub(l.started)
}
