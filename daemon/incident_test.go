package daemon

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/store"
)

// TestConcurrentManualRollbacksRunOnePlan: five operators press the button
// at once. One rollback runs — one alias update, one invalidation — and
// the others are told it is under way (issue #13: all five ran the plan).
func TestConcurrentManualRollbacksRunOnePlan(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	h.sim.Deploy(fn, alias, "4", nil)
	h.until("watch of 4", 5, func() bool { return h.latestWatch().NewVersion == "4" })
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		ok, taken int
		other     []error
	)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.d.Controller().Rollback(h.ctx, api.RollbackRequest{Target: "api", Actor: "op", Reason: "bad"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, api.ErrConflict):
				taken++
			default:
				other = append(other, err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			if time.Now().After(deadline) {
				t.Fatal("manual rollbacks did not return")
			}
			h.clk.Advance(time.Second)
			time.Sleep(2 * time.Millisecond)
		}
	}
	if ok != 1 || taken != 4 || len(other) > 0 {
		t.Fatalf("rollbacks: %d ran, %d told it is under way, errors %v", ok, taken, other)
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 1 {
		t.Fatalf("UpdateAlias calls = %d, want 1", n)
	}
	if n := len(h.sim.Invalidations(dist)); n != 1 {
		t.Fatalf("invalidations = %d, want 1", n)
	}
}

// TestTripWaitsForAnOpenManualRollback: while an operator's rollback of the
// target is open, a failing watch does not open a second incident.
func TestTripWaitsForAnOpenManualRollback(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	manual := store.Incident{ID: "manual-api-x", Target: "api", OpenedAt: h.clk.Now(), FromVersion: "3", ToVersion: "2", Trigger: "manual", Actor: "erin"}
	if err := h.store.CreateIncident(h.ctx, manual); err != nil {
		t.Fatal(err)
	}
	// Nobody owns that plan's execution here (it belongs to a replica that
	// is still working on it): keep this one from resuming it.
	h.d.runner.Book().Claim(manual.ID)
	h.sim.Deploy(fn, alias, "3", nil) // bad: its health fails
	for i := 0; i < 40; i++ {
		h.step(2 * time.Second)
	}
	incs, err := h.store.ListIncidents(h.ctx, "api", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 || incs[0].ID != manual.ID {
		t.Fatalf("incidents %+v: want only the open manual one", incs)
	}
	if w := h.latestWatch(); w.Phase != store.PhaseBaking || w.NewVersion != "3" {
		t.Fatalf("watch %s of %s: want it still baking (its trip waits)", w.Phase, w.NewVersion)
	}
}
