package history

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// TestLoadFromBoltStore reads an incident back from a real bolt store and
// checks that events recorded under the watch, the incident or both come
// back once each, oldest first.
func TestLoadFromBoltStore(t *testing.T) {
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := newFixture(t)
	if err := st.CreateWatch(ctx, f.watch); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateIncident(ctx, f.in); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.journal {
		if err := st.AppendJournal(ctx, e, store.Fence{}); err != nil {
			t.Fatal(err)
		}
	}
	// Stored newest first to show Load orders them.
	for i := len(f.events) - 1; i >= 0; i-- {
		if err := st.AppendEvent(ctx, f.events[i]); err != nil {
			t.Fatal(err)
		}
	}
	// An event of another watch must not leak in.
	if err := st.AppendEvent(ctx, store.Event{Time: t0, Target: "checkout", WatchID: "w-other", Type: "watch_started", Message: "other"}); err != nil {
		t.Fatal(err)
	}

	rec, err := Load(ctx, st, f.in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Incident.ID != f.in.ID || rec.Watch.ID != f.watch.ID || len(rec.Journal) != len(f.journal) {
		t.Fatalf("record: %+v", rec)
	}
	if len(rec.Events) != len(f.events) {
		t.Fatalf("events: got %d, want %d: %+v", len(rec.Events), len(f.events), rec.Events)
	}
	for i, e := range rec.Events {
		if e.Message != f.events[i].Message || !e.Time.Equal(f.events[i].Time) {
			t.Errorf("event %d: %+v, want %+v", i, e, f.events[i])
		}
	}
	if _, err := Load(ctx, st, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing incident: %v", err)
	}
}
