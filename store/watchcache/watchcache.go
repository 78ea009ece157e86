// Package watchcache is a store as the daemon's parts use it: the list of
// active watches is cached between ticks and read again only when this
// process created or updated a watch (detector, actuator, daemon), when
// Invalidate says another change may have happened (a lease taken over,
// an override), or after Refresh has passed (other replicas' changes). At
// 10,000 targets on Redis, re-reading every watch every second was a fifth
// of the daemon's CPU.
package watchcache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canaryd/canaryd/store"
)

// Refresh bounds how stale the list of active watches may be when nothing
// in this process changed a watch: other replicas' changes (an
// announcement that landed elsewhere) are seen within it.
const Refresh = 5 * time.Second

// Store wraps a store.Store; every method but the ones below passes
// through.
type Store struct {
	store.Store
	dirty atomic.Bool

	mu      sync.Mutex
	watches []store.Watch
	fetched time.Time
}

// New wraps s.
func New(s store.Store) *Store { return &Store{Store: s} }

// CreateWatch creates the watch and marks the cached list stale.
func (s *Store) CreateWatch(ctx context.Context, w store.Watch) error {
	defer s.dirty.Store(true)
	return s.Store.CreateWatch(ctx, w)
}

// UpdateWatch updates the watch and marks the cached list stale.
func (s *Store) UpdateWatch(ctx context.Context, id string, fn func(*store.Watch) error) (store.Watch, error) {
	defer s.dirty.Store(true)
	return s.Store.UpdateWatch(ctx, id, fn)
}

// Invalidate marks the cached list stale: the next Active reads the store.
func (s *Store) Invalidate() { s.dirty.Store(true) }

// Active returns every active watch, from the cache when nothing changed
// since the last read and it is younger than Refresh at now. The slice is
// the caller's to keep or filter.
func (s *Store) Active(ctx context.Context, now time.Time) ([]store.Watch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fetched.IsZero() || s.dirty.Load() || now.Sub(s.fetched) >= Refresh {
		s.dirty.Store(false) // before the read: a change during it marks it stale again
		ws, err := s.Store.ListWatches(ctx, store.WatchFilter{ActiveOnly: true})
		if err != nil {
			s.dirty.Store(true)
			return nil, err
		}
		s.watches, s.fetched = ws, now
	}
	return append([]store.Watch(nil), s.watches...), nil
}
