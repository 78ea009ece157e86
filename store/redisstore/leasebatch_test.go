package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
)

// TestAcquireLeasesMatchesAcquireLease: the batched form takes free leases,
// renews its own (same token), refuses another holder's live lease, and
// takes expired ones with a larger token — as AcquireLease does.
func TestAcquireLeasesMatchesAcquireLease(t *testing.T) {
	rs := testredis.Start(t)
	clk := clockwork.NewFakeClock()
	a, _ := New(Options{Client: rs.Client(t), Clock: clk})
	b, _ := New(Options{Client: rs.Client(t), Clock: clk})
	ctx := context.Background()
	targets := make([]string, 50)
	for i := range targets {
		targets[i] = fmt.Sprintf("t%02d", i)
	}
	// b holds t00..t09 first.
	for _, tg := range targets[:10] {
		if _, err := b.AcquireLease(ctx, tg, "b", 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	fences, errs := a.AcquireLeases(ctx, targets, "a", 10*time.Second)
	if len(fences) != 40 || len(errs) != 10 {
		t.Fatalf("fences %d errs %d, want 40 and 10", len(fences), len(errs))
	}
	for _, tg := range targets[:10] {
		if !errors.Is(errs[tg], store.ErrLeaseHeld) {
			t.Errorf("%s: %v, want ErrLeaseHeld", tg, errs[tg])
		}
	}
	// Renewal keeps the token; the fence is current.
	again, errs := a.AcquireLeases(ctx, targets[10:], "a", 10*time.Second)
	if len(errs) != 0 {
		t.Fatalf("renewal errors %v", errs)
	}
	for tg, f := range again {
		if f.Token != fences[tg].Token {
			t.Errorf("%s: renewal changed the token %d -> %d", tg, fences[tg].Token, f.Token)
		}
		if err := a.CheckFence(ctx, f); err != nil {
			t.Errorf("%s: fresh fence rejected: %v", tg, err)
		}
	}
	// b's leases expire: a takes them with larger tokens than b had.
	clk.Advance(11 * time.Second)
	took, errs := a.AcquireLeases(ctx, targets[:10], "a", 10*time.Second)
	if len(errs) != 0 || len(took) != 10 {
		t.Fatalf("take-over: %d fences, errors %v", len(took), errs)
	}
	for tg, f := range took {
		if f.Token < 2 {
			t.Errorf("%s: token %d after take-over, want > b's", tg, f.Token)
		}
	}
}
