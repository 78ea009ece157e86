package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/canaryd/canaryd/awssim"
)

// TestAlertsSurviveACrash: the on-call webhook is down while a bad deploy
// trips and is rolled back; then canaryd crashes. After the restart the
// page and its resolve are delivered, once each, with the dedup key they
// were first sent with (issue #13: a kill at the trip lost the page, a kill
// after the plan lost rollback_done, so the incident never resolved).
func TestAlertsSurviveACrash(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	h.mu.Lock()
	h.hookDown = true
	h.mu.Unlock()
	h.sim.Deploy(fn, alias, "3", nil) // bad: its health fails
	h.until("rollback of 3", 150, func() bool { return h.incident().Outcome == "rolled_back" })
	inc := h.incident()
	pending, err := h.store.ListOutbox(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range pending {
		ids[e.ID] = true
	}
	for _, want := range []string{inc.ID + "/tripped", inc.ID + "/rollback_done"} {
		if !ids[want] {
			t.Fatalf("outbox before the crash lacks %s: %v", want, ids)
		}
	}
	h.stop() // the crash: whatever the dispatcher held in memory is gone
	h.mu.Lock()
	h.hookDown = false
	h.alerts = nil
	h.mu.Unlock()
	h.start(false)
	h.step(time.Second) // the first tick redelivers
	deadline := time.Now().Add(10 * time.Second)
	for { // the notifier's worker delivers in real time
		es, err := h.store.ListOutbox(h.ctx)
		if err == nil && len(es) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox after the restart: %d entries left", len(es))
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := map[string]int{}
	h.mu.Lock()
	for _, a := range h.alerts {
		got[fmt.Sprint(a["id"])]++
	}
	h.mu.Unlock()
	for _, want := range []string{inc.ID + "/tripped", inc.ID + "/rollback_done"} {
		if got[want] != 1 {
			t.Errorf("after the restart %s was delivered %d times, want 1 (received %v)", want, got[want], got)
		}
	}
}

// TestBrownOutPagesOnceAndResolves: UpdateAlias fails for a while during a
// rollback. On-call gets one rollback_retrying page, folded into the
// incident (same PagerDuty dedup key), and the rollback_done that resolves
// it once AWS answers again (issue #13: the plan gave up after 12 calls).
func TestBrownOutPagesOnceAndResolves(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	// More refusals than one round's attempts: the step goes into rounds.
	h.sim.InjectFault(awssim.Fault{API: "UpdateAlias", Kind: awssim.Fault5xx, Status: 503, Count: 60})
	h.sim.Deploy(fn, alias, "3", nil) // bad: its health fails
	h.until("rollback of 3 through the brown-out", 300, func() bool { return h.incident().Outcome != "" })
	inc := h.incident()
	if inc.Outcome != "rolled_back" {
		t.Fatalf("incident %+v", inc)
	}
	count := func() map[string]int {
		c := map[string]int{}
		for _, typ := range h.alertTypes() {
			c[typ]++
		}
		return c
	}
	deadline := time.Now().Add(10 * time.Second) // the notifier's worker delivers in real time
	for c := count(); c["rollback_done"] == 0 && time.Now().Before(deadline); c = count() {
		time.Sleep(5 * time.Millisecond)
	}
	if c := count(); c["rollback_retrying"] != 1 || c["rollback_done"] != 1 {
		t.Fatalf("alerts %v: want one rollback_retrying and one rollback_done", h.alertTypes())
	}
	if !alertMentions(h, "rollback_retrying", inc.ID) {
		t.Fatal("the retrying page does not carry the incident (its dedup key)")
	}
}
