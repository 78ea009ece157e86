// Package inflight is the book of what one canaryd process has under way:
// pieces of work that must not run twice at once (a rollback plan, a
// rollout's traffic shift or hook), and the incidents whose plans it
// started and has not seen finish. The daemon consults it to start work,
// to find manual rollbacks that stopped unfinished (their journal write
// failed, or they were re-recorded after the store lost its data), and to
// re-record, after such a loss, the incidents it had in flight.
package inflight

import (
	"sync"
	"time"

	"github.com/canaryd/canaryd/store"
)

// Book is safe for concurrent use.
type Book struct {
	mu        sync.Mutex
	running   map[string]bool           // keys of work running here
	incidents map[string]store.Incident // incidents whose plans this process started, not seen finish
	nextSweep time.Time                 // when Stopped next looks
}

// New is an empty book.
func New() *Book {
	return &Book{running: map[string]bool{}, incidents: map[string]store.Incident{}}
}

// Claim marks work key as running here; false when it already is.
func (b *Book) Claim(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running[key] {
		return false
	}
	b.running[key] = true
	return true
}

// Release marks work key as no longer running.
func (b *Book) Release(key string) {
	b.mu.Lock()
	delete(b.running, key)
	b.mu.Unlock()
}

// Runs reports whether work key (an incident's plan: its ID) runs here now.
func (b *Book) Runs(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running[key]
}

// Running is how many pieces of work run here now.
func (b *Book) Running() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.running)
}

// Start claims incident in's plan (keyed by its ID) and records the
// incident as in flight; false when its plan already runs here.
func (b *Book) Start(in store.Incident) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running[in.ID] {
		return false
	}
	b.running[in.ID] = true
	b.incidents[in.ID] = in
	return true
}

// Finished records that in's plan finished and its outcome was recorded.
// An incident re-recorded meanwhile (Track: the store lost its data
// while the plan ran, so the outcome went to a watch that no longer
// exists) stays in flight for Stopped to report.
func (b *Book) Finished(in store.Incident) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur, ok := b.incidents[in.ID]; ok && cur.WatchID == in.WatchID {
		delete(b.incidents, in.ID)
	}
}

// Incident is the incident in flight with that ID, as this process
// recorded it.
func (b *Book) Incident(id string) (store.Incident, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	in, ok := b.incidents[id]
	return in, ok
}

// Forget drops an incident from those in flight (finished, here or
// elsewhere).
func (b *Book) Forget(id string) {
	b.mu.Lock()
	delete(b.incidents, id)
	b.mu.Unlock()
}

// Stopped returns, at most once every every (none in between), the
// incidents in flight without a watch (manual rollbacks, and incidents
// re-recorded after a store loss) whose plans are not running here: they
// stopped unfinished and nothing else would resume them before a restart
// or a lease take-over.
func (b *Book) Stopped(now time.Time, every time.Duration) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.nextSweep) {
		return nil
	}
	var ids []string
	for id, in := range b.incidents {
		if in.WatchID == "" && !b.running[id] {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		b.nextSweep = now.Add(every)
	}
	return ids
}

// InFlight returns the incidents in flight (to re-record after a store
// loss) and makes the next Stopped look at once.
func (b *Book) InFlight() []store.Incident {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]store.Incident, 0, len(b.incidents))
	for _, in := range b.incidents {
		out = append(out, in)
	}
	b.nextSweep = time.Time{}
	return out
}

// Track records in as in flight without starting its plan: an incident
// recorded again in an empty store without its watch (gone), or a manual
// rollback whose preparation failed. Stopped reports it once its plan does
// not run here.
func (b *Book) Track(in store.Incident) {
	b.mu.Lock()
	b.incidents[in.ID] = in
	b.mu.Unlock()
}

// Len is how many incidents are in flight.
func (b *Book) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.incidents)
}
