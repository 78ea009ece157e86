// Package storetest is the conformance suite every store.Store backend
// passes. A backend's test calls Run with an opener:
//
//	storetest.Run(t, func(t *testing.T, clk *clockwork.FakeClock) store.Store {
//		s, err := boltstore.Open(filepath.Join(dir, storetest.Key(t)+".db"), boltstore.Options{Clock: clk})
//		...
//	})
//
// The opener must give each distinct t its own empty storage, and the same
// storage again when called a second time with the same t (the suite
// closes the first Store before, to test persistence). Key(t) gives a
// stable, unique name per t for that purpose. Stores must judge lease
// expiry with clk.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/store"
)

// Opener opens the storage belonging to t (see the package doc).
type Opener func(t *testing.T, clk *clockwork.FakeClock) store.Store

// T0 is the fake clock's start: the suite's records are timed from it.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// Run runs the conformance suite against the backend open returns.
func Run(t *testing.T, open Opener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"targets", testTargets},
		{"watch_create_get", testWatchCreateGet},
		{"watch_update", testWatchUpdate},
		{"watch_update_concurrent", testWatchUpdateConcurrent},
		{"watch_list", testWatchList},
		{"incidents", testIncidents},
		{"incident_create_once_concurrent", testIncidentCreateOnce},
		{"incident_list", testIncidentList},
		{"journal_order", testJournalOrder},
		{"journal_fenced", testJournalFenced},
		{"journal_fence_race", testJournalFenceRace},
		{"overrides", testOverrides},
		{"lease_takeover", testLeaseTakeover},
		{"lease_release", testLeaseRelease},
		{"lease_expiry_fences", testLeaseExpiryFences},
		{"lease_invalid_args", testLeaseInvalidArgs},
		{"events", testEvents},
		{"outbox", testOutbox},
		{"marker", testMarker},
		{"persistence", testPersistence},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clockwork.NewFakeClockAt(T0)
			h := &harness{t: t, open: open, clk: clk, ctx: context.Background()}
			h.s = open(t, clk)
			t.Cleanup(func() { _ = h.s.Close() })
			tc.fn(t, h)
		})
	}
}

// harness is one subtest's store, clock and opener.
type harness struct {
	t    *testing.T
	open Opener
	clk  *clockwork.FakeClock
	s    store.Store
	ctx  context.Context
}

// reopen closes the store and opens the same storage again.
func (h *harness) reopen() {
	h.t.Helper()
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.s = h.open(h.t, h.clk)
}

var (
	keysMu sync.Mutex
	keys   = map[*testing.T]string{}
	unsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)
)

// Key returns a name unique to t and stable across calls with the same t,
// made of [A-Za-z0-9_-]: a file name or key prefix for t's storage.
func Key(t *testing.T) string {
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[t]; ok {
		return k
	}
	k := fmt.Sprintf("%s-%d", unsafe.ReplaceAllString(t.Name(), "_"), len(keys))
	keys[t] = k
	t.Cleanup(func() {
		keysMu.Lock()
		delete(keys, t)
		keysMu.Unlock()
	})
	return k
}

// at is T0 plus d.
func at(d time.Duration) time.Time { return T0.Add(d) }

// sameJSON fails unless got and want encode to the same JSON: records are
// stored as JSON, so that is the equality that matters (it ignores time
// zones and monotonic readings, which storage cannot keep).
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: marshal got: %v", what, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("%s: marshal want: %v", what, err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// must fails the test on err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// isErr fails unless errors.Is(err, want).
func isErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}
