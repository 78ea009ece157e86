package evidence

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// BenchmarkObserve is one evaluation of one watch among 10,000, as the
// daemon's tick adds it (no store write: the verdict does not turn).
func BenchmarkObserve(b *testing.B) {
	r := New(Config{})
	ctx := context.Background()
	ws := make([]store.Watch, 10000)
	for i := range ws {
		ws[i] = store.Watch{ID: "w-" + strconv.Itoa(i), Target: "t-" + strconv.Itoa(i), NewVersion: "2", KnownGood: "1"}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at := t0.Add(time.Duration(i/len(ws)) * time.Second)
		r.Observe(ctx, ws[i%len(ws)], time.Minute, verdict(policy.Healthy, at, 0.01, 2, false))
	}
}
