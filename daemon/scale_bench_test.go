package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/redisstore"
)

// benchTargets is the size of BenchmarkDaemon10k; CANARYD_BENCH_TARGETS
// overrides it for a quicker look.
var benchTargets = envInt("CANARYD_BENCH_TARGETS", 10_000)

// benchWarmup is the seconds of daemon time BenchmarkDaemon10k runs before
// it measures; CANARYD_BENCH_WARMUP measures a later minute of the watches'
// lives (the default, 70, is the second minute after the deploys).
var benchWarmup = envInt("CANARYD_BENCH_WARMUP", 70)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkDaemon10k runs the whole daemon for 10,000 targets, each with a
// baking watch, a health probe every 10 s and two rules, on the shared
// Redis store (leases renewed as replicas do): one op is one minute of
// ticks (60 probes rounds' worth, one CloudWatch cycle of 80 calls, 60
// evaluations per watch). It reports the CPU a second of daemon time costs,
// as a share of one core, and memory per target.
func BenchmarkDaemon10k(b *testing.B) {
	n := benchTargets
	ctx := context.Background()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	sim, _ := awssim.Start(b, awssim.Options{Clock: clk})
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	b.Cleanup(health.Close)
	var src strings.Builder
	fmt.Fprintf(&src, "[daemon]\npoll_interval = \"15s\"\n[aws]\nregion = \"us-east-1\"\nendpoint_url = %q\nretry_mode = \"standard\"\n", sim.URL())
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc-%05d", i)
		sim.CreateFunction(name)
		sim.PublishVersion(name)
		sim.PublishVersion(name)
		sim.CreateAlias(name, "live", "2")
		fmt.Fprintf(&src, `[[target]]
name = %q
function = %q
alias = "live"
bake_time = "24h"
  [[target.probe]]
  name = "health"
  url = %q
  interval = "10s"
  [[target.rule]]
  name = "health"
  kind = "probe"
  probe = "health"
  [[target.rule]]
  name = "errors"
  kind = "error_rate"
  threshold = 0.05
`, name, name, health.URL+"/"+name)
	}
	conf, err := config.Parse([]byte(src.String()), "bench.toml", config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rs := testredis.Start(b)
	client := redis.NewClient(&redis.Options{Addr: rs.Addr, PoolSize: 32})
	b.Cleanup(func() { _ = client.Close() })
	st, err := redisstore.New(redisstore.Options{Client: client, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	now := clk.Now()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc-%05d", i)
		w := store.Watch{ID: fmt.Sprintf("w-%05d", i), Target: name, Phase: store.PhaseBaking, KnownGood: "1", NewVersion: "2", DetectedAt: now, Source: "poll"}
		if err := st.CreateWatch(ctx, w); err != nil {
			b.Fatal(err)
		}
		if err := st.PutTarget(ctx, store.TargetState{Name: name, KnownGood: "1", Version: "2", ActiveWatch: w.ID, ObservedAt: now}); err != nil {
			b.Fatal(err)
		}
	}
	d, err := New(Config{Conf: conf, Store: st, Clock: clk, Logger: zap.NewNop(), Synchronous: true,
		AWS: awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("A", "B", "")}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.runner.Cancel(); d.runner.Wait() })
	for i := 0; i < benchWarmup; i++ { // warm up: leases, detector, adoption, first cycle
		clk.Advance(time.Second)
		d.Tick(ctx)
	}
	calls0 := len(sim.Calls("GetMetricData"))
	b.Logf("warm-up: %d GetMetricData calls (baselines are read once per watch)", calls0)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for s := 0; s < 60; s++ {
			clk.Advance(time.Second)
			d.Tick(ctx)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perSecond := cpu / time.Duration(b.N*60)
	b.ReportMetric(perSecond.Seconds(), "cores")
	b.ReportMetric(float64(perSecond.Nanoseconds())/float64(n), "cpu-ns/target/s")
	// Live heap after a GC, awssim's recorded calls and the probe server
	// included: an upper bound on the daemon's own memory per target.
	b.ReportMetric(float64(after.HeapInuse)/float64(n), "heap-B/target")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(n)/float64(b.N), "heap-growth-B/target/min")
	b.ReportMetric(float64(len(sim.Calls("GetMetricData"))-calls0)/float64(b.N), "GetMetricData/min")
}

// cpuTime is the process's user+system CPU time (includes awssim, Redis
// client and the probe server, all in this process; redis-server is not).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
