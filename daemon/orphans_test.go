package daemon

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

// TestOrphanIncidentRunByTheSweep: an unfinished incident without a watch
// that nothing runs (recorded again by a replica after the owner's minute
// of looking for them had passed, say) is run by the owner's orphan sweep
// within orphanSweep: its plan reverts the alias and closes it.
func TestOrphanIncidentRunByTheSweep(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	inc := store.Incident{ID: "orphan-1", Target: "api", OpenedAt: h.clk.Now(), FromVersion: "2", ToVersion: "1", Trigger: "policy"}
	if err := h.store.CreateIncident(h.ctx, inc); err != nil {
		t.Fatal(err)
	}
	closed := func() bool {
		got, err := h.store.GetIncident(h.ctx, inc.ID)
		return err == nil && got.Outcome != ""
	}
	// Younger than orphanAge: left alone (it may be on its way to its plan).
	for h.clk.Now().Before(inc.OpenedAt.Add(orphanAge)) {
		h.step(2 * time.Second)
		if closed() {
			t.Fatalf("the incident ran at %s, %s after it opened: younger than orphanAge", h.clk.Now(), h.clk.Now().Sub(inc.OpenedAt))
		}
	}
	h.until("the orphan incident closed", int(orphanSweep/(2*time.Second))+60, closed)
	got, _ := h.store.GetIncident(h.ctx, inc.ID)
	if got.Outcome != store.OutcomeRolledBack {
		t.Fatalf("the orphan incident closed %s, want rolled_back", got.Outcome)
	}
	if v, _, _ := h.sim.Alias(fn, alias); v != "1" {
		t.Fatalf("alias on %s after the orphan's plan, want 1", v)
	}
}
