package history

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

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

	// Operator actions on the target during the incident belong in it;
	// before the deploy or after the close they do not.
	for _, e := range []store.Event{
		{Time: t0.Add(-time.Minute), Target: "checkout", Type: "override_set", Message: "before the deploy"},
		{Time: t0.Add(4 * time.Minute), Target: "checkout", Type: "override_set", Message: "pause by ana: investigating"},
		{Time: f.in.ClosedAt.Add(time.Minute), Target: "checkout", Type: "override_expired", Message: "after the close"},
		{Time: t0.Add(4 * time.Minute), Target: "search", Type: "override_set", Message: "other target"},
	} {
		if err := st.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	want := append(append([]store.Event{}, f.events[:2]...), store.Event{Time: t0.Add(4 * time.Minute), Message: "pause by ana: investigating"})
	want = append(want, f.events[2:]...)

	rec, err := Load(ctx, st, f.in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Incident.ID != f.in.ID || rec.Watch.ID != f.watch.ID || len(rec.Journal) != len(f.journal) {
		t.Fatalf("record: %+v", rec)
	}
	if len(rec.Events) != len(want) {
		t.Fatalf("events: got %d, want %d: %+v", len(rec.Events), len(want), rec.Events)
	}
	for i, e := range rec.Events {
		if e.Message != want[i].Message || !e.Time.Equal(want[i].Time) {
			t.Errorf("event %d: %+v, want %+v", i, e, want[i])
		}
	}
	if _, err := Load(ctx, st, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing incident: %v", err)
	}
}
