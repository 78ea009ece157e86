package watcher

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store/boltstore"
)

// BenchmarkDetectorPoll10k: one op = one 15 s poll interval in which each of
// 10,000 aliases is read once (GetAlias against awssim over loopback, target
// state from a bolt file). CPU includes the simulator's share.
func BenchmarkDetectorPoll10k(b *testing.B) {
	clk := clockwork.NewFakeClockAt(t0)
	sim, awsCfg := awssim.Start(b, awssim.Options{Clock: clk})
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"), boltstore.Options{Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	targets := make([]config.Target, benchTargets)
	for i := range targets {
		name := fmt.Sprintf("fn-%05d", i)
		targets[i] = config.Target{Name: name, Function: name, Alias: "live"}
		sim.CreateAlias(name, "live", "1")
	}
	client := lambda.NewFromConfig(awsCfg)
	det, err := NewDetector(DetectorConfig{Targets: targets, Clients: func(string) *lambda.Client { return client },
		Store: st, Clock: clk, PollInterval: 15 * time.Second, Concurrency: 16})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if s := det.Sweep(ctx); s.Errors != 0 { // first sight: adopt, one write per target
		b.Fatalf("sweep %+v", s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		clk.Advance(15 * time.Second)
		if s := det.Tick(ctx); s.Polled != benchTargets || s.Errors != 0 || s.Detected != 0 {
			b.Fatalf("tick %+v", s)
		}
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchTargets), "cpu-ns/poll")
	b.ReportMetric(cpu.Seconds()/float64(b.N)/15, "cores@15s")
}
