package daemon

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
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

// This file builds the soak benchmark's world (soak_bench_test.go): the
// targets' deploy schedule, awssim with every version and its traffic
// registered up front (so the simulator's state does not grow during the
// run, and its call log is off), a health endpoint failing for the bad
// versions, an on-call webhook, the Redis store and the daemon.

// deployKind is how a deploy behaves.
type deployKind int

const (
	deployGood      deployKind = iota
	deployProbeBad             // its health endpoint answers 500: a probe rule trips
	deployMetricBad            // 25% of its invocations fail: the error-rate rule trips
)

// soakDeploy is one scheduled deploy of one target.
type soakDeploy struct {
	at       time.Time
	target   int
	version  string
	kind     deployKind
	announce bool // the pipeline announces it; otherwise the alias poll finds it
}

// Deploy schedule: most targets deploy every soakCycle, a quarter of them
// every soakFastCycle — inside their rollback window (bake 10m + window
// 10m), so the new deploy supersedes a promoted watch.
const (
	soakCycle     = 30 * time.Minute
	soakFastCycle = 15 * time.Minute
)

// soakSchedule lists every deploy of every target over [start, end),
// sorted by time. Target i's first deploy is spread evenly over one cycle;
// one deploy in 16 fails its probes, one in 16 its error rate, four in
// five are announced.
func soakSchedule(n int, start, end time.Time) []soakDeploy {
	var out []soakDeploy
	for i := 0; i < n; i++ {
		cycle := soakCycle
		if i%4 == 3 {
			cycle = soakFastCycle
		}
		first := start.Add(time.Duration(int64(soakCycle)*int64(i)/int64(n)).Truncate(time.Second) % cycle)
		for k, at := 0, first; at.Before(end); k, at = k+1, at.Add(cycle) {
			h := soakHash(i, k)
			d := soakDeploy{at: at, target: i, version: fmt.Sprint(k + 2), announce: h%5 != 0}
			switch h % 16 {
			case 0:
				d.kind = deployProbeBad
			case 1:
				d.kind = deployMetricBad
			}
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].at.Before(out[b].at) })
	return out
}

func soakHash(i, k int) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%d", i, k)
	return h.Sum32()
}

func soakName(i int) string { return fmt.Sprintf("svc-%05d", i) }

// soakWorld is everything the soak runs against.
type soakWorld struct {
	clk    *clockwork.FakeClock
	sim    *awssim.Sim
	store  store.Store
	d      *Daemon
	alerts atomic.Int64 // alerts the on-call webhook received
	plan   []soakDeploy
	trend  *ownerTrend // the heap profile's owners over the measured part
}

// soakWorldConfig sizes a world.
type soakWorldConfig struct {
	targets    int
	start, end time.Time
	dirCache   int // the Redis store's DirCacheSize (0: default)
}

func newSoakWorld(b *testing.B, c soakWorldConfig) *soakWorld {
	n, start, end := c.targets, c.start, c.end
	w := &soakWorld{clk: clockwork.NewFakeClockAt(start), plan: soakSchedule(n, start, end), trend: newOwnerTrend()}
	w.sim, _ = awssim.Start(b, awssim.Options{Clock: w.clk, CallLogLimit: awssim.NoCallLog})
	bad := w.registerVersions(n, start, end)
	health := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fn := strings.TrimPrefix(r.URL.Path, "/")
		if v, _, _ := w.sim.Alias(fn, "live"); bad[fn+"/"+v] {
			http.Error(rw, "unhealthy", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(rw, "ok")
	}))
	b.Cleanup(health.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.alerts.Add(1)
	}))
	b.Cleanup(hook.Close)
	conf, err := config.Parse([]byte(soakTOML(n, w.sim.URL(), health.URL, hook.URL)), "soak.toml", config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	w.store = soakStore(b, w.clk, n, c.dirCache)
	w.d, err = New(Config{Conf: conf, Store: w.store, Clock: w.clk, Logger: zap.NewNop(), Synchronous: true,
		AWS: awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("A", "B", "")}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { // stop everything that would keep this world's heap alive
		w.d.runner.Cancel()
		w.d.runner.Wait()
		dropNotifier(w.d)
	})
	return w
}

// registerVersions publishes every version the schedule deploys and writes
// each version's traffic for the time it is deployed, before the run
// starts: the simulator holds the same state from the first minute to the
// last. It returns the versions whose health endpoint fails ("fn/v").
func (w *soakWorld) registerVersions(n int, start, end time.Time) map[string]bool {
	type live struct {
		version string
		kind    deployKind
		since   time.Time
	}
	cur := make([]live, n)
	for i := range n {
		name := soakName(i)
		w.sim.CreateFunction(name)
		w.sim.PublishVersion(name)
		w.sim.CreateAlias(name, "live", "1")
		w.sim.CreateDistribution(fmt.Sprintf("E%05d", i))
		cur[i] = live{version: "1", since: start.Add(-time.Hour)}
	}
	traffic := func(i int, until time.Time) {
		p := awssim.HealthyProfile(int64(i))
		if cur[i].kind == deployMetricBad {
			p.ErrorRate = 0.25
		}
		w.sim.LambdaTraffic(soakName(i), "live", cur[i].version, cur[i].since, until, p)
	}
	bad := map[string]bool{}
	for _, d := range w.plan {
		traffic(d.target, d.at)
		w.sim.PublishVersion(soakName(d.target))
		cur[d.target] = live{version: d.version, kind: d.kind, since: d.at}
		if d.kind == deployProbeBad {
			bad[soakName(d.target)+"/"+d.version] = true
		}
	}
	for i := range n {
		traffic(i, end.Add(time.Hour))
	}
	return bad
}

// soakTOML is the config of n targets: bake 10m, rollback window 10m, a
// health probe every 10s with its rule, an error-rate rule, a CloudFront
// invalidation and a verify window in the rollback, an on-call webhook.
func soakTOML(n int, simURL, healthURL, hookURL string) string {
	var src strings.Builder
	fmt.Fprintf(&src, `[daemon]
[aws]
region = "us-east-1"
endpoint_url = %q
retry_mode = "standard"
[[notifier]]
name = "oncall"
type = "webhook"
url = %q
`, simURL, hookURL)
	for i := range n {
		name := soakName(i)
		fmt.Fprintf(&src, `[[target]]
name = %q
function = %q
alias = "live"
bake_time = "10m"
rollback_window = "10m"
notify = ["oncall"]
  [[target.probe]]
  name = "health"
  url = %q
  interval = "10s"
  timeout = "2s"
  [[target.rule]]
  name = "health"
  kind = "probe"
  probe = "health"
  consecutive_failures = 3
  [[target.rule]]
  name = "errors"
  kind = "error_rate"
  threshold = 0.05
  [[target.actions.cloudfront]]
  distribution = "E%05d"
  paths = ["/*"]
  [target.actions.verify]
  window = "1m"
`, name, name, healthURL+"/"+name, i)
	}
	return src.String()
}

// soakStore is the shared Redis store with every target known (version 1
// known-good and live), as after a first start long ago.
func soakStore(b *testing.B, clk clockwork.Clock, n, dirCache int) store.Store {
	ctx := context.Background()
	rs := testredis.Start(b)
	client := redis.NewClient(&redis.Options{Addr: rs.Addr, PoolSize: 32})
	b.Cleanup(func() { _ = client.Close() })
	st, err := redisstore.New(redisstore.Options{Client: client, Clock: clk, DirCacheSize: dirCache})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		ts := store.TargetState{Name: soakName(i), KnownGood: "1", KnownGoodAt: clk.Now(), Version: "1", ObservedAt: clk.Now()}
		if err := st.PutTarget(ctx, ts); err != nil {
			b.Fatal(err)
		}
	}
	return st
}
