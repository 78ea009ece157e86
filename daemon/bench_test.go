package daemon

import (
	"testing"
	"time"
)

// BenchmarkDetectionToRevert measures, on the fake clock, the time from the
// first failing health probe to the alias pointing back at the known-good
// version, in units of the probe interval. Target (issue 7): at most
// consecutive_failures x interval + 1 s. The wall time per op is the real
// work of the ticks from the deploy to the revert (probes, store, AWS calls
// through the SDK); the plan's own step time is in actuator's benchmarks.
func BenchmarkDetectionToRevert(b *testing.B) {
	const interval = 5 * time.Second
	const needed = 3
	var fakeTotal time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b, harnessOpts{})
		h.deployGood()
		b.StartTimer()
		h.sim.Deploy(fn, alias, "3", nil)
		for n := 0; n < 200 && len(h.sim.Calls("UpdateAlias")) == 0; n++ {
			h.step(time.Second) // the daemon's real tick period
			h.waitPlansIdle(time.Now().Add(time.Second))
		}
		b.StopTimer()
		calls := h.sim.Calls("UpdateAlias")
		if len(calls) == 0 {
			b.Fatal("no rollback")
		}
		h.mu.Lock()
		first := h.firstFail
		h.mu.Unlock()
		fakeTotal += calls[0].Time.Sub(first)
		h.stop()
	}
	n := float64(b.N)
	b.ReportMetric(fakeTotal.Seconds()/n, "s-first-fail-to-revert")
	b.ReportMetric(fakeTotal.Seconds()/n/interval.Seconds(), "probe-intervals")
	b.ReportMetric((needed*interval + time.Second).Seconds(), "s-target")
}
