package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/store/redisstore"
)

// backends opens each backend fresh for one benchmark.
var backends = []struct {
	name string
	open func(b *testing.B) store.Store
}{
	{"bolt", func(b *testing.B) store.Store {
		s, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"), boltstore.Options{Clock: clockwork.NewFakeClock()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"redis", func(b *testing.B) store.Store {
		s, err := redisstore.New(redisstore.Options{Client: testredis.Start(b).Client(b), Clock: clockwork.NewFakeClock()})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}},
}

// opsPerSec reports the benchmark's throughput as a metric.
func opsPerSec(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkUpdateWatch measures read-modify-write of one watch, serially
// and from 8×GOMAXPROCS goroutines on the same watch (the contended case).
func BenchmarkUpdateWatch(b *testing.B) {
	ctx := context.Background()
	for _, be := range backends {
		for _, par := range []int{1, 8} {
			goroutines := 1
			if par > 1 {
				goroutines = par * runtime.GOMAXPROCS(0)
			}
			b.Run(fmt.Sprintf("%s/goroutines=%d", be.name, goroutines), func(b *testing.B) {
				s := be.open(b)
				w := store.Watch{ID: "w1", Target: "api", Phase: store.PhaseBaking, DetectedAt: time.Now()}
				if err := s.CreateWatch(ctx, w); err != nil {
					b.Fatal(err)
				}
				inc := func(w *store.Watch) error { w.Reason = fmt.Sprint(w.Revision); return nil }
				b.SetParallelism(par)
				b.ResetTimer()
				if par == 1 {
					for i := 0; i < b.N; i++ {
						if _, err := s.UpdateWatch(ctx, "w1", inc); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := s.UpdateWatch(ctx, "w1", inc); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				opsPerSec(b)
			})
		}
	}
}

// BenchmarkAppendJournal measures journal appends, unfenced and fenced
// (lease check atomic with the write).
func BenchmarkAppendJournal(b *testing.B) {
	ctx := context.Background()
	for _, be := range backends {
		for _, fenced := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/fenced=%t", be.name, fenced), func(b *testing.B) {
				s := be.open(b)
				var f store.Fence
				if fenced {
					var err error
					if f, err = s.AcquireLease(ctx, "api", "bench", time.Hour); err != nil {
						b.Fatal(err)
					}
				}
				e := store.JournalEntry{PlanID: "inc-1", Target: "api", Name: "lambda-alias", Status: store.StepDone,
					Time: time.Now(), Detail: []byte(`{"revision_id":"abc"}`)}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					e.Step = i
					if err := s.AppendJournal(ctx, e, f); err != nil {
						b.Fatal(err)
					}
				}
				opsPerSec(b)
			})
		}
	}
}
