package policy

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"
)

func TestHistoryReplacesByKey(t *testing.T) {
	h := NewHistory(time.Hour)
	h.Add(met("Invocations", "", 0, 10))
	h.Add(met("Errors", "", 0, 1))
	h.Add(met("Invocations", "2", 0, 7)) // another version: another key
	h.Add(met("Invocations", "", 0, 25)) // late data for the same period
	if h.Len() != 3 {
		t.Fatalf("len %d, want 3", h.Len())
	}
	for _, s := range h.Samples() {
		if s.Metric == "Invocations" && s.Version == "" && s.Value != 25 {
			t.Fatalf("re-read did not replace: %+v", s)
		}
	}
}

// Samples is a snapshot: later Adds (replacements, prunes) do not change it.
func TestHistorySamplesIsASnapshot(t *testing.T) {
	h := NewHistory(10 * time.Minute)
	h.Add(met("Invocations", "", 0, 10))
	snap := h.Samples()
	h.Add(met("Invocations", "", 0, 99))
	for i := 1; i < 100; i++ {
		h.Add(met("Invocations", "", i, 1))
	}
	if len(snap) != 1 || snap[0].Value != 10 || snap[0].Time != at(0) {
		t.Fatalf("snapshot changed: %+v", snap)
	}
}

func TestHistoryPrunes(t *testing.T) {
	h := NewHistory(10 * time.Minute)
	for i := 0; i < 200; i++ {
		h.Add(met("Invocations", "", i, float64(i)))
	}
	oldest := at(1000)
	for _, s := range h.Samples() {
		if s.Time.Before(oldest) {
			oldest = s.Time
		}
	}
	// Pruning has hysteresis: nothing older than keep*1.25 before the newest.
	if lim := at(199).Add(-10*time.Minute - 10*time.Minute/4); oldest.Before(lim) || h.Len() > 20 {
		t.Fatalf("oldest %s (limit %s), len %d", oldest, lim, h.Len())
	}
	// A sample too old to matter is not even stored.
	n := h.Len()
	h.Add(met("Errors", "", 0, 1))
	if h.Len() != n {
		t.Fatal("stored a sample older than keep")
	}
	// Replacement still works after a prune rebuilt the index.
	h.Add(met("Invocations", "", 199, -1))
	if h.Len() != n {
		t.Fatalf("replacement after prune added a sample: %d != %d", h.Len(), n)
	}
	h.Prune(at(500))
	if h.Len() != 0 {
		t.Fatalf("Prune(now) kept %d samples", h.Len())
	}
}

func TestHistoryKeepsEverythingWithoutKeep(t *testing.T) {
	h := NewHistory(0)
	for i := 0; i < 100; i++ {
		h.Add(sample.Sample{Kind: sample.KindProbe, Source: "health", Time: at(i), Outcome: sample.OutcomeOK})
	}
	h.Prune(at(1000))
	if h.Len() != 100 {
		t.Fatalf("len %d", h.Len())
	}
}

// The History feeds Evaluate directly: same verdict as the raw samples.
func TestHistoryFeedsEvaluate(t *testing.T) {
	p, err := Compile(target(10*time.Minute, errRate, health))
	if err != nil {
		t.Fatal(err)
	}
	h := NewHistory(p.Lookback())
	raw := cat(rate("", 0, 12, 1000, 5), probes("health", 0, strings20('.')))
	for _, s := range raw {
		h.Add(s)
	}
	in := Input{WatchStart: t0, NewVersion: "2", KnownGood: "1"}
	in.Samples = raw
	a := p.Evaluate(in, at(10))
	in.Samples = h.Samples()
	b := p.Evaluate(in, at(10))
	if a.Kind != Promote || b.Kind != a.Kind || a.Summary != b.Summary {
		t.Fatalf("raw %s / history %s", a.Summary, b.Summary)
	}
}

// A PreparedBaseline gives the same verdicts as the raw baseline, and a
// pooled context reused across both kinds never leaks one into the other.
func TestPreparedBaselineSameVerdict(t *testing.T) {
	p, err := Compile(exampleTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range []bool{false, true} {
		in := benchInput(split)
		in.Samples = append(in.Samples, rate("", 30, 31, 1000, 400)...) // something to fail on
		raw := in
		prep := in
		prep.Prepared = p.PrepareBaseline(in.Baseline)
		other := in
		other.Baseline = rate("", -30, 0, 1000, 300) // a different, bad baseline
		for now := 5; now <= 31; now++ {
			a, b := p.Evaluate(raw, at(now)), p.Evaluate(prep, at(now))
			c := p.Evaluate(other, at(now))
			if d := p.Evaluate(prep, at(now)); dump(a) != dump(b) || dump(b) != dump(d) {
				t.Fatalf("split=%v +%dm: raw %q / prepared %q / again %q", split, now, dump(a), dump(b), dump(d))
			}
			if !split && dump(c) == dump(a) && now > 10 {
				t.Fatalf("+%dm: a different baseline gave the same verdict: %s", now, dump(c))
			}
		}
	}
}

func strings20(c byte) string {
	b := make([]byte, 24)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
