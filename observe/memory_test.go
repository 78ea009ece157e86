package observe

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// TestProbeMemoryAcrossARollback: a probe result that measured the version
// being rolled back but arrives after the watch ended (a probe in flight
// across the revert) must not join the next watch's probe baseline; one
// taken after the target settled does. (A failing result of the bad
// version counted as the known-good failing made the next bad deploy look
// no worse than its known-good: TestTwoReplicasOneRollback failed 1 in 20.)
func TestProbeMemoryAcrossARollback(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	probe := func(at time.Duration, failed bool) sample.Sample {
		v := 0.0
		if failed {
			v = 1
		}
		return sample.Sample{Target: "api", Kind: sample.KindProbe, Time: t0.Add(at), Value: v}
	}
	tg := NewMemory(config.Target{}, nil)
	tg.remember(probe(0, false))
	tg.SetSettled(true, t0.Add(time.Second))
	if len(tg.recent) != 1 {
		t.Fatalf("settled from the start: %d results kept, want 1", len(tg.recent))
	}
	tg.SetSettled(false, t0.Add(10*time.Second)) // a deploy is watched, trips, rolls back
	if len(tg.recent) != 0 {
		t.Fatalf("results from before a deploy kept while it is judged: %d", len(tg.recent))
	}
	tg.remember(probe(11*time.Second, true))
	tg.SetSettled(true, t0.Add(20*time.Second)) // the watch ended
	tg.remember(probe(15*time.Second, true))    // started before the revert, delivered after
	if len(tg.recent) != 0 {
		t.Fatalf("a result of the rolled-back version joined the probe memory: %+v", tg.recent)
	}
	tg.remember(probe(21*time.Second, false))
	tg.SetSettled(true, t0.Add(22*time.Second))
	if len(tg.recent) != 1 || tg.recent[0].Value != 0 {
		t.Fatalf("after settling: %+v, want the one passing result", tg.recent)
	}
}

// TestProbeMemoryIsBounded: a target's probe memory holds its newest
// probeMemory results in one array that stops growing, however long the
// target stays settled and however often its deploys unsettle it (the soak
// of 2026-11-30 saw (*Memory).remember's in-use bytes creep for its first
// two hours, as targets' arrays reached that size, and then stay flat).
func TestProbeMemoryIsBounded(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	m := NewMemory(config.Target{}, nil)
	at := t0
	probe := func() sample.Sample {
		at = at.Add(10 * time.Second)
		return sample.Sample{Target: "api", Kind: sample.KindProbe, Time: at}
	}
	m.SetSettled(false, t0)
	m.SetSettled(true, t0)
	for range probeMemory {
		m.remember(probe())
	}
	full := cap(m.recent)
	for cycle := range 50 { // settled for 100 results, then a deploy unsettles it
		for range 2 * probeMemory {
			m.remember(probe())
		}
		if len(m.recent) != probeMemory || cap(m.recent) != full {
			t.Fatalf("cycle %d: %d results in an array of %d, want %d in the array of %d it had when first full",
				cycle, len(m.recent), cap(m.recent), probeMemory, full)
		}
		if !m.recent[probeMemory-1].Time.Equal(at) || !m.recent[0].Time.Equal(at.Add(-time.Duration(probeMemory-1)*10*time.Second)) {
			t.Fatalf("cycle %d: kept %s..%s, want the newest %d up to %s", cycle,
				m.recent[0].Time, m.recent[probeMemory-1].Time, probeMemory, at)
		}
		m.SetSettled(false, at)
		m.SetSettled(true, at)
	}
}
