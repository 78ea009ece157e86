package watcher

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

// TestWatchRecordsProbeBaseline: a new watch's record keeps the target's
// probe results from before the known-good was last seen alone (the
// hook is asked with KnownGoodCutoff); a hook with no results (a replica
// that does not probe the target received the deploy) records none, so
// that the owner judges with its own.
func TestWatchRecordsProbeBaseline(t *testing.T) {
	for _, n := range []int{0, 3} {
		e := newDetectorEnv(t, false)
		var asked time.Time
		e.det.cfg.ProbeBaseline = func(target string, before time.Time) *store.ProbeBaseline {
			asked = before
			var rs []store.ProbeResult
			for i := range n {
				rs = append(rs, store.ProbeResult{At: before.Add(-time.Duration(i+1) * 10 * time.Second), Probe: "health", Failed: i == 0})
			}
			return store.NewProbeBaseline(rs)
		}
		for range 40 { // polls find 5 alone
			e.det.Tick(t.Context())
			e.clk.Advance(time.Second)
		}
		e.sim.Deploy("api", "live", "6", nil)
		w, _ := e.pollUntilDetected(time.Minute)
		cut := e.det.KnownGoodCutoff("api", "5", w.DetectedAt)
		if cut.IsZero() || !asked.Equal(cut) || cut.After(w.DetectedAt.Add(-pollEvery)) {
			t.Fatalf("%d results: asked for results before %s, the known-good's cutoff %s, the deploy seen at %s", n, asked, cut, w.DetectedAt)
		}
		rs, err := e.watch(w.ID).ProbeBaseline.Results()
		if err != nil || len(rs) != n || (n > 0 && (!rs[0].Failed || rs[1].Failed || !rs[0].At.Before(cut))) {
			t.Fatalf("%d results: the record keeps %+v (%v)", n, rs, err)
		}
		if n == 0 && e.watch(w.ID).ProbeBaseline != nil {
			t.Fatalf("no results: the record keeps %+v, want none", e.watch(w.ID).ProbeBaseline)
		}
	}
}
