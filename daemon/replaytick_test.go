package daemon

import (
	"testing"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/replay"
)

// TestRecordedTraceReplaysToTheTick: a probe result that arrives after its
// tick's evaluation, at the same instant (the daemon does not wait for its
// probes; here the clock has not moved meanwhile), is first judged at the
// next tick. The trace records it as delivered then, so the recorded trace
// replays to the very instant the daemon tripped at, not a tick before.
func TestRecordedTraceReplaysToTheTick(t *testing.T) {
	pb := newProbeBaselineWorld(t, map[string]bool{"2": true})
	v := pb.deployAndJudge("2", func(v policy.Verdict) bool { return v.Kind == policy.Failing })
	for range 5 { // the incident is opened by the tick that tripped
		pb.step()
	}
	incs, err := pb.st.ListIncidents(pb.ctx, "api", 1)
	if err != nil || len(incs) == 0 {
		t.Fatalf("failing (%s), but no incident: %v", v.Summary, err)
	}
	res := pb.replayTrace()
	if res.Outcome != replay.RolledBack || !res.DecidedAt.Equal(incs[0].OpenedAt) {
		t.Fatalf("the recorded trace replays to %s at %s, the daemon tripped at %s", res.Outcome,
			res.DecidedAt.Format("15:04:05.000"), incs[0].OpenedAt.Format("15:04:05.000"))
	}
}
