package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/store/redisstore"
)

const (
	fn    = "api"
	alias = "live"
	dist  = "EDIST1"
)

// harness is a daemon against awssim, a real redis-server, a health
// endpoint whose answer depends on the live version, and a webhook
// receiver, all on one fake clock.
type harness struct {
	t          testing.TB
	ctx        context.Context
	clk        *clockwork.FakeClock
	sim        *awssim.Sim
	redis      *redis.Client
	store      store.Store
	d          *Daemon
	conf       *config.Config
	dbPath     string
	storeRedis string // when set, the store is redisstore on this server
	async      bool

	mu        sync.Mutex
	bad       map[string]bool // versions whose health endpoint fails
	firstFail time.Time       // fake time of the first failing health answer
	// traffic, when set, is written minute by minute for the version the
	// alias serves, as the clock passes each minute.
	traffic    func(version string) awssim.Profile
	lastMinute time.Time
	alerts     []map[string]any
	hookDown   bool // the on-call webhook answers 503
	health     *httptest.Server
	hook       *httptest.Server
}

type harnessOpts struct {
	hideFuture  bool   // awssim reveals datapoints only as the clock reaches them
	redisStore  bool   // use the shared Redis store (replicas) instead of bolt
	hangHook    bool   // the on-call webhook never answers
	extraTarget string // appended to the target block
	targetKeys  string // keys of the [[target]] table itself
	daemonTOML  string
	dryRun      bool
	async       bool // probes, alias reads and metric cycles in the background, as in production
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), bad: map[string]bool{"3": true}}
	h.clk = clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	h.sim, _ = awssim.Start(t, awssim.Options{Clock: h.clk, AutoCreateDistributions: true, HideFutureData: o.hideFuture})
	h.sim.CreateFunction(fn)
	for i := 0; i < 4; i++ {
		h.sim.PublishVersion(fn)
	}
	h.sim.CreateAlias(fn, alias, "1")

	rs := testredis.Start(t)
	h.redis = rs.Client(t)
	for i := 0; i < 50; i++ {
		h.redis.Set(h.ctx, fmt.Sprintf("api:resp:%d", i), "x", 0)
		h.redis.Set(h.ctx, fmt.Sprintf("session:%d", i), "keep", 0)
	}
	h.health = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v, _, _ := h.sim.Alias(fn, alias)
		h.mu.Lock()
		bad := h.bad[v]
		h.mu.Unlock()
		if bad {
			h.mu.Lock()
			if h.firstFail.IsZero() {
				h.firstFail = h.clk.Now()
			}
			h.mu.Unlock()
			http.Error(w, `{"status":"error"}`, http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	t.Cleanup(h.health.Close)
	hung := make(chan struct{})
	h.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.hangHook {
			select { // hang until the test ends or the client gives up
			case <-hung:
			case <-r.Context().Done():
			}
			return
		}
		h.mu.Lock()
		down := h.hookDown
		h.mu.Unlock()
		if down {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		var ev map[string]any
		_ = json.NewDecoder(r.Body).Decode(&ev)
		h.mu.Lock()
		h.alerts = append(h.alerts, ev)
		h.mu.Unlock()
	}))
	t.Cleanup(h.hook.Close)
	t.Cleanup(func() { close(hung) })

	src := fmt.Sprintf(`
[daemon]
poll_interval = "2s"
%s
[aws]
region = "us-east-1"
endpoint_url = %q
max_backoff = "10ms"
retry_mode = "standard"

[[notifier]]
name = "oncall"
type = "webhook"
url = %q

[[target]]
name = "api"
function = %q
alias = %q
bake_time = "1m"
rollback_window = "10m"
notify = ["oncall"]
%s

  [[target.probe]]
  name = "health"
  url = %q
  interval = "5s"
  timeout = "2s"

  [[target.rule]]
  name = "health-probe"
  kind = "probe"
  probe = "health"
  consecutive_failures = 3

  [[target.actions.cloudfront]]
  distribution = %q
  paths = ["/*"]

  [[target.actions.redis]]
  name = "cache"
  patterns = ["api:resp:*"]
    [target.actions.redis.conn]
    addrs = [%q]

  [target.actions.verify]
  window = "1m"
%s
`, o.daemonTOML, h.sim.URL(), h.hook.URL, fn, alias, o.targetKeys, h.health.URL, dist, rs.Addr, o.extraTarget)
	conf, err := config.Parse([]byte(src), "test.toml", config.Options{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h.conf = conf
	h.dbPath = filepath.Join(t.TempDir(), "canaryd.db")
	if o.redisStore {
		h.storeRedis = rs.Addr
	}
	h.async = o.async
	h.start(o.dryRun)
	return h
}

// start (re)creates the daemon over the harness's store file.
func (h *harness) start(dryRun bool) {
	st := h.openStore()
	h.store = st
	var err error
	h.d, err = New(Config{Conf: h.conf, Store: st, Clock: h.clk, Logger: zaptest.NewLogger(h.t),
		AWS:         awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")},
		Synchronous: !h.async, DryRun: dryRun})
	if err != nil {
		h.t.Fatalf("daemon: %v", err)
	}
	h.t.Cleanup(h.stop)
}

// openStore opens the harness's store: bolt, or a new client of the
// shared Redis (one per replica).
func (h *harness) openStore() store.Store {
	if h.storeRedis != "" {
		c := redis.NewClient(&redis.Options{Addr: h.storeRedis})
		h.t.Cleanup(func() { _ = c.Close() })
		st, err := redisstore.New(redisstore.Options{Client: c, Prefix: "test:", Clock: h.clk})
		if err != nil {
			h.t.Fatalf("redis store: %v", err)
		}
		return st
	}
	st, err := boltstore.Open(h.dbPath, boltstore.Options{Clock: h.clk})
	if err != nil {
		h.t.Fatalf("open store: %v", err)
	}
	return st
}

// stop waits for running plans, then closes the store (a restart).
func (h *harness) stop() {
	if h.d == nil {
		return
	}
	h.d.runner.Cancel()
	h.d.runner.Wait()
	dropNotifier(h.d)
	_ = h.store.Close()
	h.d = nil
}

// dropNotifier closes d's notifier at once (what it held in memory dies
// with it, as in a crash) and waits for its workers: their cancelled
// attempts log, and must not through a test's logger after the test.
func dropNotifier(d *Daemon) {
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	n := d.current().notifier
	_ = n.Close(dead)
	n.Wait()
}

// withTraffic writes an hour of version 1's traffic before now and has
// step write each minute's traffic from then on, by version.
func (h *harness) withTraffic(profile func(version string) awssim.Profile) {
	now := h.clk.Now()
	h.sim.LambdaTraffic(fn, alias, "1", now.Add(-time.Hour), now, profile("1"))
	h.traffic = profile
}

// step advances the clock by dt, writes the traffic of finished minutes,
// and runs one tick.
func (h *harness) step(dt time.Duration) {
	h.clk.Advance(dt)
	if h.traffic != nil {
		if h.lastMinute.IsZero() {
			h.lastMinute = h.clk.Now().Truncate(time.Minute)
		}
		for m := h.clk.Now().Truncate(time.Minute); h.lastMinute.Before(m); h.lastMinute = h.lastMinute.Add(time.Minute) {
			// Each version the alias serves gets its share of the traffic.
			v, weights, _ := h.sim.Alias(fn, alias)
			share := 1.0
			for av, w := range weights {
				p := h.traffic(av)
				p.InvocationsPerMin *= w
				h.sim.LambdaTraffic(fn, alias, av, h.lastMinute, h.lastMinute.Add(time.Minute), p)
				share -= w
			}
			p := h.traffic(v)
			p.InvocationsPerMin *= share
			h.sim.LambdaTraffic(fn, alias, v, h.lastMinute, h.lastMinute.Add(time.Minute), p)
		}
	}
	h.d.Tick(h.ctx)
}

// stepUntil steps the daemon (2 s of fake time per tick) until the clock
// reaches end.
func (h *harness) stepUntil(end time.Time) {
	for h.clk.Now().Before(end) {
		h.step(2 * time.Second)
	}
}

// until steps the daemon (2 s of fake time per tick) until cond holds, or
// fails after maxSteps ticks. Background plans also wait on the fake
// clock, so advancing it is what lets them finish.
func (h *harness) until(what string, maxSteps int, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < maxSteps; i++ {
		if cond() {
			return
		}
		h.step(2 * time.Second)
		// Plans run in goroutines; give them a bounded real-time chance
		// to reach the next clock wait before advancing again.
		h.waitPlansIdle(deadline)
	}
	if !cond() {
		h.t.Fatalf("timed out waiting for %s", what)
	}
}

// waitPlansIdle gives running plans a bounded real-time chance to reach
// their next wait on the fake clock: it polls until no plan runs, for at
// most 25 ms. Correctness does not depend on it (until's condition does),
// only how many fake seconds a test burns.
func (h *harness) waitPlansIdle(deadline time.Time) {
	end := time.Now().Add(25 * time.Millisecond)
	for time.Now().Before(end) && time.Now().Before(deadline) {
		n := h.d.runner.Book().Running()
		if n == 0 {
			return
		}
		runtime.Gosched()
	}
}

func (h *harness) target() store.TargetState {
	st, err := h.store.GetTarget(h.ctx, "api")
	if err != nil {
		return store.TargetState{}
	}
	return st
}

func (h *harness) latestWatch() store.Watch {
	ws, err := h.store.ListWatches(h.ctx, store.WatchFilter{Target: "api", Limit: 1})
	if err != nil || len(ws) == 0 {
		return store.Watch{}
	}
	return ws[0]
}

func (h *harness) incident() store.Incident {
	incs, err := h.store.ListIncidents(h.ctx, "api", 1)
	if err != nil || len(incs) == 0 {
		return store.Incident{}
	}
	return incs[0]
}

func (h *harness) alertTypes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, a := range h.alerts {
		out = append(out, fmt.Sprint(a["type"]))
	}
	return out
}

func (h *harness) setBad(v string, bad bool) {
	h.mu.Lock()
	h.bad[v] = bad
	h.mu.Unlock()
}

// deployGood adopts version 1, deploys 2 and bakes it to promotion.
func (h *harness) deployGood() store.Watch {
	h.t.Helper()
	h.until("version 1 adopted", 5, func() bool { return h.target().KnownGood == "1" })
	h.sim.Deploy(fn, alias, "2", nil)
	h.until("version 2 promoted", 150, func() bool { return h.target().KnownGood == "2" })
	return h.latestWatch()
}

// recordedTrace is the trace the daemon recorded of watch w (its
// daemon.trace_dir), once every queued line is written.
func (h *harness) recordedTrace(w store.Watch) []byte {
	h.t.Helper()
	if !h.d.traces.Flush(10 * time.Second) {
		h.t.Fatal("trace not written within 10 s")
	}
	f, _, err := h.d.Traces().OpenTrace(w)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		h.t.Fatal(err)
	}
	return data
}
