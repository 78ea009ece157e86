package policy

import (
	"testing"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// demand is Invocations and Throttles for minutes [from, to), a throttle
// in every other minute when thr is 0 (the known-good's own rare ones).
func demand(from, to int, inv, thr float64) []sample.Sample {
	var out []sample.Sample
	for i := from; i < to; i++ {
		x := thr
		if x == 0 && i%2 == 0 {
			x = 1
		}
		out = append(out, met("Invocations", "", i, inv), met("Throttles", "", i, x))
	}
	return out
}

// TestThrottlesBeyondCapacity: the throttles rule, as a share of requests,
// judges only the demand the known-good's capacity explains. A traffic
// spike beyond it throttles whichever version runs; a version that
// throttles at a demand the known-good served is judged on all of it.
func TestThrottlesBeyondCapacity(t *testing.T) {
	share := with(thr, func(r *config.Rule) { r.Threshold = 0.002 })
	steady := demand(-60, 0, 1000, 0)
	// The known-good's hour with a spike it could serve only 2,000 of a
	// minute: its capacity shows (1,600 with the margin).
	spiky := cat(demand(-60, -40, 1000, 0), demand(-40, -37, 2000, 2000), demand(-37, 0, 1000, 0))
	runEvalCases(t, []evalCase{
		{name: "a spike after the deploy beyond the known-good's capacity is not the new version's", rules: []config.Rule{share},
			in:  Input{Baseline: spiky, Samples: cat(demand(0, 3, 1000, 0), demand(3, 6, 2000, 3000), demand(6, 10, 1000, 0))},
			now: 10, want: Healthy, contains: "demand beyond 1600 requests a period not judged (0.8 of the fewest the known-good served in a period it throttled"},
		{name: "throttling at a demand the known-good served trips", rules: []config.Rule{share},
			in:  Input{Baseline: spiky, Samples: demand(0, 5, 800, 200)},
			now: 5, want: Failing, breached: []string{"thr"}},
		{name: "without capacity throttling before: demand beyond the most the known-good had is not judged", rules: []config.Rule{share},
			in:  Input{Baseline: steady, Samples: cat(demand(0, 3, 1000, 0), demand(3, 6, 1500, 1500), demand(6, 10, 1000, 0))},
			now: 10, want: Healthy, contains: "demand beyond 1001 requests a period not judged (the most the known-good had in a period)"},
		{name: "... and throttling within it is", rules: []config.Rule{share},
			in:  Input{Baseline: steady, Samples: demand(0, 5, 800, 200)},
			now: 5, want: Failing, breached: []string{"thr"}},
		{name: "the newest periods, partly delivered at the limit, wait", rules: []config.Rule{share},
			in:  Input{Baseline: spiky, Samples: cat(demand(0, 7, 1000, 0), demand(7, 10, 1000, 1000))},
			now: 10, want: Healthy, contains: "over 7m0s (7 samples"},
		{name: "the same counts once final are throttling below capacity", rules: []config.Rule{share},
			in:  Input{Baseline: spiky, Samples: demand(0, 10, 1000, 1000)},
			now: 10, want: Failing, breached: []string{"thr"}, contains: "over 7m0s (7 samples"},
	})
}
