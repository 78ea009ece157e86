package actuator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/store"
)

// BenchmarkExecutePlan measures one rollback — alias revert, one
// CloudFront invalidation, SCAN+UNLINK of 10,000 matching keys among
// 10,000 others — end to end against awssim, a real redis-server and a
// bbolt journal (fsync per write). Per-step times are reported too, so the
// lead can put step time next to detection time.
func BenchmarkExecutePlan(b *testing.B) {
	e := newEnv(b, nil, func(c *Config) { c.Clock = clockwork.NewRealClock(); c.OnStep = nil })
	seed(b, e.rc, "session:", 10000)
	tg := e.target()
	tg.Actions.Redis[0].BatchSize = 500
	perKind := map[StepKind]time.Duration{}
	n := 0
	for ; b.Loop(); n++ {
		i := n
		b.StopTimer()
		rev := e.sim.Deploy(fnName, aliasNm, "2", nil)
		seed(b, e.rc, "page:", 10000)
		p := BuildPlan(tg, PlanInput{IncidentID: fmt.Sprintf("bench-%d", i), FromVersion: "2", ToVersion: "1", RevisionID: rev})
		b.StartTimer()
		res, err := e.act.Execute(context.Background(), p, store.Fence{})
		if err != nil || res.Outcome != OutcomeRolledBack {
			b.Fatalf("outcome %s (%s), err %v", res.Outcome, res.Reason, err)
		}
		for _, s := range res.Steps {
			perKind[s.Kind] += s.Duration
		}
	}
	for k, d := range perKind {
		b.ReportMetric(float64(d.Microseconds())/1000/float64(n), string(k)+"-ms/op")
	}
}
