package daemon

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/replay"
)

const throttlesShareRule = `
  [[target.rule]]
  name = "thr"
  kind = "throttles"
  threshold = 0.002
`

// TestNeighbourExhaustingThePool, end to end through the daemon, awssim
// and the real SDK clients: version 2 is deployed, and a minute later a
// third of the function's requests are throttled for four minutes,
// whichever version runs. When another function (no reservation either)
// has the account's unreserved pool all in use then, the daemon reads the
// pool's use (UnreservedConcurrentExecutions over GetAccountSettings'
// pool) in its cycles, leaves those minutes out and promotes 2; the same
// throttling with the pool free is 2's and rolls it back. The recorded
// trace replays to the daemon's decision either way.
func TestNeighbourExhaustingThePool(t *testing.T) {
	for _, neighbour := range []bool{true, false} {
		t.Run(fmt.Sprintf("neighbour=%v", neighbour), func(t *testing.T) {
			h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: throttlesShareRule,
				daemonTOML: fmt.Sprintf("trace_dir = %q", t.TempDir())})
			var from, to time.Time // the throttled minutes
			h.withTraffic(func(v string) awssim.Profile {
				p := awssim.HealthyProfile(int64(len(v)))
				p.InvocationsPerMin = 1000
				if !from.IsZero() && !h.lastMinute.Before(from) && h.lastMinute.Before(to) {
					p.ThrottleRate = 0.5
				}
				return p
			})
			h.until("version 1 adopted", 5, func() bool { return h.target().KnownGood == "1" })
			h.sim.Deploy(fn, alias, "2", nil)
			h.until("version 2 watched", 20, func() bool { return h.latestWatch().NewVersion == "2" })
			from = h.clk.Now().Truncate(time.Minute).Add(time.Minute)
			to = from.Add(4 * time.Minute)
			if neighbour {
				// 60,000 requests a minute of a second each: a peak of
				// 1,200 in flight, more than the account's 1,000.
				h.sim.CreateFunction("noisy")
				h.sim.LambdaTraffic("noisy", "live", "1", from, to, awssim.Profile{InvocationsPerMin: 60000, DurationMs: 1000, Seed: 9})
			}
			w := h.latestWatch()
			// Promoted after its minute of bake, 2 is watched for the
			// rollback window: step until the throttled minutes are read
			// final (metric_lag periods after them), one-second ticks as
			// the daemon's run loop (the grid the trace replays on).
			for end := to.Add(5 * time.Minute); h.clk.Now().Before(end) && len(h.sim.Calls("UpdateAlias")) == 0; {
				h.step(time.Second)
			}
			rolledBack := len(h.sim.Calls("UpdateAlias")) > 0
			data := h.recordedTrace(w)
			if rolledBack == neighbour {
				t.Fatalf("neighbour %v: rolled back %v (known-good %s, incident %s)", neighbour, rolledBack, h.target().KnownGood, h.incident().Verdict)
			}
			if !neighbour {
				if inc := h.incident(); !strings.Contains(string(inc.Verdict), "thr") {
					t.Fatalf("rolled back by something else: %s", inc.Verdict)
				}
				h.until("incident closed", 100, func() bool { return h.incident().Outcome != "" })
			}
			pooled := 0
			for _, line := range bytes.Split(data, []byte("\n")) {
				if bytes.Contains(line, []byte(`"metric":"PoolUse"`)) && !bytes.Contains(line, []byte(`"type":"baseline"`)) {
					pooled++
				}
			}
			if pooled == 0 {
				t.Fatal("the trace has no PoolUse read in the watch's cycles")
			}
			res, err := replay.Run(h.ctx, bytes.NewReader(data), h.conf.Targets[0], replay.Options{})
			if err != nil || (res.Outcome == replay.RolledBack) != rolledBack {
				t.Fatalf("the trace replays to %s (%v); the daemon rolled back: %v", res.Outcome, err, rolledBack)
			}
		})
	}
}
