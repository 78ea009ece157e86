package watchcache

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

func TestActiveIsReadAgainOnlyWhenStale(t *testing.T) {
	ctx := context.Background()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	s := New(bs)
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	active := func(at time.Time) []store.Watch {
		t.Helper()
		ws, err := s.Active(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	if ws := active(now); len(ws) != 0 {
		t.Fatalf("empty store: %d watches", len(ws))
	}
	// A watch created through the cache is seen at once.
	if err := s.CreateWatch(ctx, store.Watch{ID: "w1", Target: "api", Phase: store.PhaseBaking}); err != nil {
		t.Fatal(err)
	}
	if ws := active(now); len(ws) != 1 {
		t.Fatalf("after CreateWatch: %d watches, want 1", len(ws))
	}
	// Another replica's watch (written to the store underneath) is not
	// seen until Refresh has passed, or until Invalidate.
	if err := bs.CreateWatch(ctx, store.Watch{ID: "w2", Target: "web", Phase: store.PhaseBaking}); err != nil {
		t.Fatal(err)
	}
	if ws := active(now.Add(Refresh - time.Second)); len(ws) != 1 {
		t.Fatalf("within Refresh: %d watches, want the cached 1", len(ws))
	}
	if ws := active(now.Add(Refresh)); len(ws) != 2 {
		t.Fatalf("after Refresh: %d watches, want 2", len(ws))
	}
	if _, err := bs.UpdateWatch(ctx, "w2", func(w *store.Watch) error { w.Phase = store.PhaseSuperseded; return nil }); err != nil {
		t.Fatal(err)
	}
	s.Invalidate()
	ws := active(now.Add(Refresh + time.Second))
	if len(ws) != 1 || ws[0].ID != "w1" {
		t.Fatalf("after Invalidate: %+v, want only w1", ws)
	}
	// The slice is the caller's: changing it does not change the cache.
	ws[0].ID = "changed"
	if ws := active(now.Add(Refresh + time.Second)); ws[0].ID != "w1" {
		t.Fatalf("the cache was changed through a returned slice: %q", ws[0].ID)
	}
}
