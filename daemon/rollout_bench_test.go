package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/canaryd/canaryd/awssim"
)

// BenchmarkBadCanaryStep measures, on the simulator's clock, how long a
// bad version's first rollout step (10 % of 1,000 invocations a minute)
// serves before canaryd sends its weight back to 0: from the UpdateAlias
// that set 10 % to the one that reverted it, in metric periods (60 s), by
// the canary's error rate against the known-good's 0.5 %. It is a
// decision-time benchmark, not a speed one: the figure is simulated time.
// past-10%/op is the share of runs whose canary reached the next step (50 %)
// before it tripped: its first step's 2-minute hold ended without enough
// evidence either way.
func BenchmarkBadCanaryStep(b *testing.B) {
	for _, rate := range []float64{0.20, 0.05, 0.02} {
		b.Run(fmt.Sprintf("errors=%g%%", rate*100), func(b *testing.B) {
			var total time.Duration
			beyond := 0
			for i := 0; b.Loop(); i++ {
				total += badCanaryStep(b, rate, int64(i), &beyond)
			}
			b.ReportMetric(total.Minutes()/float64(b.N), "periods/op")
			b.ReportMetric(float64(beyond)/float64(b.N), "past-10%/op")
		})
	}
}

func badCanaryStep(b *testing.B, rate float64, seed int64, beyond *int) time.Duration {
	h := newHarness(b, harnessOpts{hideFuture: true, extraTarget: compareErrorsRule + rolloutSteps})
	h.withTraffic(func(v string) awssim.Profile {
		p := awssim.HealthyProfile(int64(len(v)) + 7*seed)
		p.InvocationsPerMin, p.ErrorRate = 1000, 0.005
		if v == "3" {
			p.ErrorRate = rate
		}
		return p
	})
	h.deployGood()
	h.setBad("3", false) // only the canary's metrics show it
	if _, err := h.d.Controller().StartRollout(h.ctx, "api", "3"); err != nil {
		b.Fatal(err)
	}
	h.until("bad canary reverted", 2000, func() bool { return h.incident().Outcome != "" })
	var set, reverted time.Time
	for _, c := range h.sim.Calls("UpdateAlias") {
		if c.Err != "" {
			continue
		}
		if w, ok := c.Params["AdditionalVersionWeights"].(map[string]float64); ok && w["3"] > 0 && set.IsZero() {
			set = c.Time
		} else if !set.IsZero() && c.Params["FunctionVersion"] == "2" {
			reverted = c.Time
		}
	}
	for _, w := range weightsSeen(h, "3") {
		if w != "10" {
			*beyond++ // the step passed before the evidence was in: the canary reached the next step
			break
		}
	}
	if set.IsZero() || reverted.IsZero() {
		b.Fatalf("no 10 %% step and revert in %+v", h.sim.Calls("UpdateAlias"))
	}
	h.stop()
	return reverted.Sub(set)
}
