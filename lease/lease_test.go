package lease

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// shared is the embedded store claiming to be shared, so that two tables
// in one test contend for real leases (bolt implements them like the
// shared backends: tokens grow, expiry by the store's clock).
type shared struct{ *boltstore.Store }

func (shared) Shared() bool { return true }

func open(t *testing.T, clock clockwork.Clock) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestTwoReplicasOneOwner(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	s := shared{open(t, clock)}
	a, b := New(s, clock, zap.NewNop()), New(s, clock, zap.NewNop())
	const ttl = 30 * time.Second
	names := []string{"api", "web"}

	if taken := a.Refresh(ctx, names, "a", ttl); len(taken) != 2 || !taken["api"] || !taken["web"] {
		t.Fatalf("a took %v, want both", taken)
	}
	if taken := b.Refresh(ctx, names, "b", ttl); len(taken) != 0 || b.Len() != 0 {
		t.Fatalf("b took %v (owns %d) while a holds both", taken, b.Len())
	}
	fa, ok := a.Fence("api")
	if !ok || fa.Holder != "a" || fa.Token == 0 {
		t.Fatalf("a's fence for api: %+v %v", fa, ok)
	}

	// Renewed before it is due: nothing new is taken, the token stays.
	clock.Advance(ttl / 3)
	if taken := a.Refresh(ctx, names, "a", ttl); len(taken) != 0 {
		t.Fatalf("a renewing took %v", taken)
	}
	if f, _ := a.Fence("api"); f.Token != fa.Token {
		t.Fatalf("renewal changed the token: %d -> %d", fa.Token, f.Token)
	}

	// a stops renewing (crashed, partitioned): after the ttl b takes over
	// with a larger token, and a, renewing late, learns it lost both.
	clock.Advance(ttl + time.Second)
	if taken := b.Refresh(ctx, names, "b", ttl); len(taken) != 2 {
		t.Fatalf("b took %v after a's leases expired, want both", taken)
	}
	fb, _ := b.Fence("api")
	if fb.Token <= fa.Token {
		t.Fatalf("new owner's token %d not above the old %d", fb.Token, fa.Token)
	}
	if taken := a.Refresh(ctx, names, "a", ttl); len(taken) != 0 || a.Owns("api") || a.Owns("web") {
		t.Fatalf("a after losing: took %v, owns %v", taken, a.Names())
	}
	if err := s.CheckFence(ctx, fa); err == nil {
		t.Fatal("the old owner's fence still checks")
	}

	ws := []store.Watch{{ID: "1", Target: "api"}, {ID: "2", Target: "other"}, {ID: "3", Target: "web"}}
	if got := b.Keep(ws); len(got) != 2 || got[0].ID != "1" || got[1].ID != "3" {
		t.Fatalf("Keep: %+v", got)
	}
}

func TestLocalStoreOwnsEveryTarget(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClock()
	tb := New(open(t, clock), clock, zap.NewNop())
	if taken := tb.Refresh(ctx, []string{"api", "web"}, "r1", time.Minute); taken != nil {
		t.Fatalf("a local store takes nothing to resume, got %v", taken)
	}
	if !tb.Owns("api") || !tb.Owns("web") || tb.Len() != 2 {
		t.Fatalf("owns %v", tb.Names())
	}
	// A target removed from the config by a reload is no longer owned.
	tb.Retain([]string{"web"})
	tb.Refresh(ctx, []string{"web"}, "r1", time.Minute)
	if tb.Owns("api") || !tb.Owns("web") {
		t.Fatalf("after reload owns %v", tb.Names())
	}
	if f, _ := tb.Fence("web"); f.Token != 0 || f.Holder != "r1" {
		t.Fatalf("local fence %+v: unfenced, holder r1", f)
	}
}
