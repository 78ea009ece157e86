package watcher

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
)

const benchTargets = 10000

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveHeap is the heap still reachable after a collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// peakRSS is the process's resident high-water mark (VmHWM), in MiB.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkProbeCycle10k: one op = one 10 s cycle in which each of 10,000
// targets is probed once against a local server. CPU includes the
// in-process server's share.
func BenchmarkProbeCycle10k(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	b.Cleanup(srv.Close)
	heap0 := liveHeap()
	clk := clockwork.NewFakeClock()
	var got, failed atomic.Int64
	pr := NewProber(ProberConfig{Clock: clk, Sink: func(s sample.Sample) {
		got.Add(1)
		if s.Outcome != sample.OutcomeOK {
			failed.Add(1)
		}
	}})
	targets := make([]config.Target, benchTargets)
	for i := range targets {
		targets[i] = config.Target{Name: fmt.Sprintf("t%05d", i), Probes: []config.Probe{{
			Name: "health", URL: srv.URL + "/health", Interval: dur(10 * time.Second), Timeout: dur(5 * time.Second),
			BodyMatch: `"status":"ok"`, MaxBodyBytes: 64 << 10,
		}}}
	}
	pr.SetActive(targets)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 0; i < b.N; i++ {
		clk.Advance(10 * time.Second)
		if n := pr.Tick(ctx); n != benchTargets {
			b.Fatalf("tick started %d probes", n)
		}
		pr.Wait()
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	b.StopTimer()
	if got.Load() != int64(b.N*benchTargets) || failed.Load() != 0 {
		b.Fatalf("%d samples (%d failed), want %d", got.Load(), failed.Load(), b.N*benchTargets)
	}
	perCycle := cpu / time.Duration(b.N)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchTargets), "cpu-ns/target")
	b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N*benchTargets), "wall-ns/target")
	b.ReportMetric(perCycle.Seconds()/10, "cores@10s")
	b.ReportMetric(float64(liveHeap()-heap0)/benchTargets, "heap-B/target")
	b.ReportMetric(peakRSS(), "peak-RSS-MiB")
	runtime.KeepAlive(pr)
}

// cloudwatchBench sets up awssim with Lambda traffic for n functions and the
// active watches on them.
func cloudwatchBench(b *testing.B, n int) (*awssim.Sim, *clockwork.FakeClock, *cloudwatch.Client, []ActiveWatch) {
	clk := clockwork.NewFakeClockAt(t0)
	sim, awsCfg := awssim.Start(b, awssim.Options{Clock: clk, HideFutureData: true})
	ws := make([]ActiveWatch, n)
	for i := range ws {
		tg := lambdaTarget(fmt.Sprintf("fn-%05d", i))
		ws[i] = activeWatch(tg, minute(10, 0), nil)
		sim.LambdaTraffic(tg.Name, "live", "6", minute(10, 0), minute(14, 0), awssim.Profile{InvocationsPerMin: 100, ErrorRate: 0.01, DurationMs: 80, DurationJitterMs: 20, Seed: int64(i)})
	}
	return sim, clk, cloudwatch.NewFromConfig(awsCfg), ws
}

// BenchmarkMetricCycle10k: one op = one CloudWatch cycle for 10,000
// watches against awssim over loopback (planning, calls, decoding). CPU
// includes the simulator's own share of the process.
func BenchmarkMetricCycle10k(b *testing.B) {
	sim, clk, client, ws := cloudwatchBench(b, benchTargets)
	heap0 := liveHeap()
	r, err := NewMetricReader(MetricReaderConfig{Clock: clk, Clients: func(string) *cloudwatch.Client { return client }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var stats CycleStats
	var samples int
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	sim.ResetCalls()
	for i := 0; i < b.N; i++ {
		clk.Advance(time.Minute)
		var ss []sample.Sample
		ss, stats = r.Cycle(ctx, ws)
		samples = len(ss)
		if stats.Errors != 0 {
			b.Fatalf("cycle errors: %+v", stats)
		}
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	calls := len(sim.Calls("GetMetricData")) / b.N
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchTargets), "cpu-ns/watch")
	b.ReportMetric(float64(calls), "calls/cycle")
	b.ReportMetric(float64(stats.Queries), "one-call-per-metric-calls/cycle")
	b.ReportMetric(float64(samples)/benchTargets, "samples/watch")
	b.ReportMetric(float64(liveHeap()-heap0)/benchTargets, "heap-B/watch")
	b.ReportMetric(cpu.Seconds()/float64(b.N)/60, "cores@60s")
	b.ReportMetric(peakRSS(), "peak-RSS-MiB")
	runtime.KeepAlive(r)
}

// BenchmarkMetricPlanDecode10k isolates canaryd's own work in a cycle:
// planning and packing the queries of 10,000 watches and decoding recorded
// GetMetricData results into samples, without the network or simulator.
func BenchmarkMetricPlanDecode10k(b *testing.B) {
	_, clk, client, ws := cloudwatchBench(b, benchTargets)
	r, err := NewMetricReader(MetricReaderConfig{Clock: clk, Clients: func(string) *cloudwatch.Client { return client }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := clk.Now()
	end := now.Truncate(time.Minute)
	start := end.Add(-3 * time.Minute)
	idx := make([]int, len(ws))
	for i := range idx {
		idx[i] = i
	}
	// Record one cycle's results.
	calls := packCalls(start, end, idx, r.planAll(ws, now))
	recorded := make([][]types.MetricDataResult, len(calls))
	for i, c := range calls {
		res := r.fetch(ctx, client, c.start, c.end, c.queries)
		if res.err != nil {
			b.Fatal(res.err)
		}
		recorded[i] = res.results
	}
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		plans := r.planAll(ws, now)
		cs := packCalls(start, end, idx, plans)
		out := make([]sample.Sample, 0, len(ws)*12)
		for j, c := range cs {
			out = r.decode(out, c, recorded[j], ws)
		}
		n = len(out)
	}
	b.StopTimer()
	if n != len(ws)*12 {
		b.Fatalf("%d samples, want %d", n, len(ws)*12)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchTargets), "ns/watch")
}
