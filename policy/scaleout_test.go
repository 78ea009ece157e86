package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// A traffic spike starts execution environments, each serving one cold,
// slow invocation, whichever version runs (scaleout.go). A function of
// 1,000 invocations a minute at about a second each (p99 2 s) has some 17
// in flight; a spike of 10x fifteen minutes into the watch needs about
// 180 more environments, and 140 of their cold first invocations above
// 2.2 s join the 60 its warm ones have: without the allowance
// compare_latency rolled back there. The rest of the watch is judged as
// before: the same minute at the usual traffic trips, and a regression
// that starts with the spike, or traffic that stays half as high again
// and slow, trips at most a minute later than without the spike.
func TestCompareLatencyScaleOut(t *testing.T) {
	p := compareLatencyCold(t)
	var base []sample.Sample
	for i := -60; i < 0; i++ {
		base = append(base, latencyMinute(i, 1000, 10, 6)...)
	}
	// watch: minute 15 has spikeInv invocations, spikeSlow of them above
	// 440 ms; the later ones afterInv and afterSlow.
	watch := func(spikeInv, spikeSlow, afterInv, afterSlow float64) func(m int) []sample.Sample {
		return func(m int) []sample.Sample {
			var out []sample.Sample
			for i := 0; i < m; i++ {
				switch {
				case i == 15:
					out = append(out, latencyMinute(i, spikeInv, spikeSlow, spikeSlow)...)
				case i > 15:
					out = append(out, latencyMinute(i, afterInv, afterSlow, afterSlow)...)
				default:
					out = append(out, latencyMinute(i, 1000, 10, 6)...)
				}
			}
			return out
		}
	}
	if at := tripMinute(p, base, 30, watch(10000, 200, 1000, 6)); at != 0 {
		t.Errorf("a 10x spike's cold starts trip in minute %d", at)
	}
	// The finding says what it left out.
	in := Input{WatchStart: at(0), NewVersion: "2", KnownGood: "1", Baseline: base, Samples: watch(10000, 200, 1000, 6)(20)}
	if note := p.Evaluate(in, at(20).Add(10*time.Second)).Findings[0].Note; !strings.Contains(note, "1 period(s) after a rise in traffic not judged") {
		t.Errorf("the note does not name the spike's minute: %s", note)
	}
	if at := tripMinute(p, base, 30, watch(1000, 200, 1000, 6)); at != 16 {
		t.Errorf("the same slow count at the usual traffic trips in minute %d, want the 16th", at)
	}
	// A 4x slow share from minute 15 on trips some minutes later (the
	// later epochs', against a margin grown with the time since the
	// deploy: driftAt); the spike's minute costs at most one more.
	steady := tripMinute(p, base, 30, watch(1000, 24, 1000, 24))
	if steady == 0 {
		t.Fatal("a steady 4x slow share from minute 15 never trips")
	}
	if at := tripMinute(p, base, 30, watch(10000, 400, 1000, 24)); at == 0 || at > steady+1 {
		t.Errorf("a regression from the spike on trips in minute %d, the same without the spike in the %d", at, steady)
	}
	// Traffic that rises 1.55x (a rise whose first minute is not
	// judged, short of the busy periods load.go leaves out) and stays
	// 4x as slow.
	if at := tripMinute(p, base, 30, watch(1550, 37, 1550, 37)); at == 0 || at > steady {
		t.Errorf("traffic that rises 1.55x and stays 4x as slow trips in minute %d, at the usual traffic in the %d", at, steady)
	}
}

// latencyMinute is minute i's invocations, p99 2 s and counts above 2
// and 2.2 s.
func latencyMinute(i int, inv, over2000, over2200 float64) []sample.Sample {
	return []sample.Sample{met("Invocations", "", i, inv), met("Duration.p99", "", i, 2000),
		met("Duration.TC(2000:)", "", i, over2000), met("Duration.TC(2200:)", "", i, over2200)}
}
