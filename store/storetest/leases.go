package storetest

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

const leaseTTL = 10 * time.Second

// acquire takes the lease and fails the test if it cannot.
func (h *harness) acquire(t *testing.T, target, holder string) store.Fence {
	t.Helper()
	f, err := h.s.AcquireLease(h.ctx, target, holder, leaseTTL)
	must(t, "AcquireLease "+target+" by "+holder, err)
	if f.Target != target || f.Holder != holder || f.Token <= 0 {
		t.Fatalf("AcquireLease(%s, %s) = %+v", target, holder, f)
	}
	return f
}

func testLeaseTakeover(t *testing.T, h *harness) {
	f1 := h.acquire(t, "api", "a")
	must(t, "CheckFence holder", h.s.CheckFence(h.ctx, f1))

	h.clk.Advance(5 * time.Second)
	if renewed := h.acquire(t, "api", "a"); renewed != f1 {
		t.Errorf("renewal changed the fence: %+v -> %+v", f1, renewed)
	}
	_, err := h.s.AcquireLease(h.ctx, "api", "b", leaseTTL)
	isErr(t, "AcquireLease by other while held", err, store.ErrLeaseHeld)
	other := h.acquire(t, "web", "b") // leases are per target
	must(t, "CheckFence on other target", h.s.CheckFence(h.ctx, other))

	h.clk.Advance(leaseTTL - time.Nanosecond) // renewed at +5s: still held until +15s
	_, err = h.s.AcquireLease(h.ctx, "api", "b", leaseTTL)
	isErr(t, "AcquireLease by other just before renewed expiry", err, store.ErrLeaseHeld)
	must(t, "CheckFence holder before expiry", h.s.CheckFence(h.ctx, f1))

	h.clk.Advance(time.Nanosecond)
	f2 := h.acquire(t, "api", "b")
	if f2.Token <= f1.Token {
		t.Errorf("new holder's token %d is not larger than %d", f2.Token, f1.Token)
	}
	isErr(t, "CheckFence of the old holder", h.s.CheckFence(h.ctx, f1), store.ErrFenced)
	isErr(t, "AppendJournal by the old holder",
		h.s.AppendJournal(h.ctx, entry("p1", "api", 0, store.StepIntent, at(0)), f1), store.ErrFenced)
	must(t, "CheckFence of the new holder", h.s.CheckFence(h.ctx, f2))
	_, err = h.s.AcquireLease(h.ctx, "api", "a", leaseTTL)
	isErr(t, "old holder re-acquiring", err, store.ErrLeaseHeld)
}

func testLeaseRelease(t *testing.T, h *harness) {
	f1 := h.acquire(t, "api", "a")
	must(t, "ReleaseLease by non-holder", h.s.ReleaseLease(h.ctx, "api", "b"))
	_, err := h.s.AcquireLease(h.ctx, "api", "b", leaseTTL)
	isErr(t, "AcquireLease after non-holder release", err, store.ErrLeaseHeld)
	must(t, "CheckFence after non-holder release", h.s.CheckFence(h.ctx, f1))

	must(t, "ReleaseLease by holder", h.s.ReleaseLease(h.ctx, "api", "a"))
	isErr(t, "CheckFence after release", h.s.CheckFence(h.ctx, f1), store.ErrFenced)
	f2 := h.acquire(t, "api", "b") // no waiting for the TTL after a release
	if f2.Token <= f1.Token {
		t.Errorf("token after release %d is not larger than %d", f2.Token, f1.Token)
	}
	must(t, "ReleaseLease of an unleased target", h.s.ReleaseLease(h.ctx, "nothing", "a"))
}

func testLeaseExpiryFences(t *testing.T, h *harness) {
	f1 := h.acquire(t, "api", "a")
	h.clk.Advance(leaseTTL)
	isErr(t, "CheckFence after expiry, nobody else holding", h.s.CheckFence(h.ctx, f1), store.ErrFenced)
	f2 := h.acquire(t, "api", "a")
	if f2.Token <= f1.Token {
		t.Errorf("re-acquire after expiry kept token %d (was %d): in-flight work under the old token would not be fenced", f2.Token, f1.Token)
	}
	isErr(t, "CheckFence of the expired term", h.s.CheckFence(h.ctx, f1), store.ErrFenced)
	must(t, "CheckFence of the new term", h.s.CheckFence(h.ctx, f2))
	isErr(t, "CheckFence with no lease ever", h.s.CheckFence(h.ctx, store.Fence{Target: "x", Holder: "a", Token: 1}), store.ErrFenced)
}

func testLeaseInvalidArgs(t *testing.T, h *harness) {
	for _, tc := range []struct {
		name, target, holder string
		ttl                  time.Duration
	}{
		{"zero ttl", "api", "a", 0},
		{"negative ttl", "api", "a", -time.Second},
		{"no holder", "api", "", time.Second},
		{"no target", "", "a", time.Second},
	} {
		_, err := h.s.AcquireLease(h.ctx, tc.target, tc.holder, tc.ttl)
		if err == nil {
			t.Errorf("%s: AcquireLease accepted it", tc.name)
		}
	}
	h.acquire(t, "api", "a") // the rejected calls left no lease behind
}
