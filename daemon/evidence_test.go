package daemon

import (
	"testing"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// TestTripKeepsTheEvidenceForTheCharts: the series of a bad deploy is held
// live while it is judged and written to the store once, when the verdict
// turns failing, with the breach that tripped it; a good deploy's once, at
// promotion. Nothing else is written for it.
func TestTripKeepsTheEvidenceForTheCharts(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	good := h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("the incident to close", 80, func() bool { return h.incident().Outcome != "" })
	bad := h.latestWatch()
	h.d.Evidence().Wait()

	for _, tc := range []struct {
		name  string
		w     store.Watch
		last  policy.Kind
		snaps int
	}{
		{"good deploy", good, policy.Promote, 1},
		{"bad deploy", bad, policy.Failing, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := h.store.Events(h.ctx, store.EventFilter{WatchID: tc.w.ID})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range evs {
				if e.Type == event.EvidenceSnapshot {
					n++
				}
			}
			if n != tc.snaps {
				t.Errorf("%d snapshots of watch %s, want %d", n, tc.w.ID, tc.snaps)
			}
			s, ok, err := h.d.Evidence().Get(h.ctx, tc.w.Target, tc.w.ID)
			if err != nil || !ok || len(s.Rules) == 0 {
				t.Fatalf("series ok=%v err=%v rules=%d", ok, err, len(s.Rules))
			}
			if got := s.Changes[len(s.Changes)-1].Kind; tc.last == policy.Failing && got != string(tc.last) {
				t.Errorf("last verdict %s, want %s", got, tc.last)
			}
			if tc.last != policy.Failing {
				return
			}
			breached := false
			for _, r := range s.Rules {
				for _, p := range r.Points {
					breached = breached || p.Breached
				}
			}
			if !breached {
				t.Errorf("no point of the tripped watch breached: %+v", s.Rules)
			}
		})
	}
}
