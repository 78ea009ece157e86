package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/internal/redisserver"
	"github.com/canaryd/canaryd/internal/redistopo"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/store/redisstore"
)

// fnShop is the function every experiment deploys; others only add load.
const fnShop = "shop"

// worldOpts shapes a trial's world.
type worldOpts struct {
	replicas   int      // canaryd processes (default 1)
	bolt       bool     // the embedded store (one replica) instead of Redis
	persistent bool     // the store's Redis keeps an append-only file
	topology   string   // "" (one redis-server), "sentinel" (master, replica, 3 sentinels) or "cluster" (3 masters, 3 replicas)
	traffic    bool     // CloudWatch shows version 1 serving each alias over the last hours
	extra      []string // more targets besides shop
	retryMode  string   // aws.retry_mode; default adaptive (the daemon's real retryer)
	readTO     string   // aws.read_timeout; default 5s
	actionTO   string   // aws.action_timeout; default 5s
	retryFor   string   // the targets' actions.retry_for; default the daemon's (15m)
	// orphanSweep is daemon.orphan_sweep, how often the owner runs the
	// unfinished incidents nothing runs; default the daemon's (5m).
	orphanSweep string
	// orphanAge and lostSweep are daemon.orphan_age and daemon.lost_sweep
	// (how old an incident the orphan sweep runs must be; how long after
	// noticing a store loss a replica runs what others record again);
	// default the daemon's (1m each).
	orphanAge, lostSweep string
	// actionLatency delays every UpdateAlias and CreateInvalidation (and
	// hookDelay the webhook action), so that random kills land inside the
	// rollback's AWS calls and hooks, not only in its verify step.
	actionLatency time.Duration
	hookDelay     time.Duration
	// rollout is the targets' [target.rollout] table: canaryd shifts
	// their traffic itself when asked to deploy (experiment 7).
	rollout string
}

// secrets are the values canaryd must never log, journal or send.
type secrets struct{ admin, aws, store, alert, hook, probe string }

func (s secrets) all() []string { return []string{s.admin, s.aws, s.store, s.alert, s.hook, s.probe} }

// world is everything one trial runs against: the AWS simulator, the
// store's Redis (or bolt file), the cache Redis the rollback cleans, the
// health endpoint, the pager, the incident tool, and canaryd replicas.
type world struct {
	t       *trial
	o       worldOpts
	dir     string
	bin     string
	secrets secrets

	sim      *awssim.Sim
	simURL   string
	redis    *redisProc // store; nil with bolt or a topology
	sentinel *redistopo.Sentinel
	cluster  *redistopo.Cluster
	boltPath string
	cache    *redis.Client
	health   *health
	alerts   *alertSink
	hook     *hookSink
	replicas []*replica
	view     store.Store // the test's own view of the Redis store
	fns      []string
}

// newWorld builds a world and waits until every replica is ready and has
// adopted version 1 of every function as known-good.
func newWorld(tr *trial, o worldOpts) *world {
	tr.Helper()
	if o.replicas == 0 {
		o.replicas = 1
	}
	w := &world{t: tr, o: o, dir: tr.TempDir(), bin: binary(tr.T), fns: append([]string{fnShop}, o.extra...)}
	tr.w = w
	w.secrets = secrets{admin: w.secret("admin"), aws: w.secret("aws"), store: w.secret("store"),
		alert: w.secret("alert"), hook: w.secret("hook"), probe: w.secret("probe")}
	w.startAWS()
	w.startSinks()
	w.startStore()
	for i := range o.replicas {
		w.addReplica(fmt.Sprintf("replica-%c", 'a'+i))
	}
	for _, r := range w.replicas {
		r.start()
	}
	tr.Cleanup(func() {
		for _, r := range w.replicas {
			r.kill()
		}
	})
	w.eventually("replicas ready", 20*time.Second, func() bool {
		for _, r := range w.replicas {
			if r.restartIfPortTaken() || !r.serving(context.Background()) {
				return false
			}
		}
		return true
	})
	for _, fn := range w.fns {
		w.eventually(fn+": version 1 adopted", 20*time.Second, func() bool { return w.knownGood(fn) == "1" })
	}
	return w
}

func (w *world) secret(what string) string {
	return fmt.Sprintf("chaos-%s-secret-%08x", what, w.t.rng.Uint32())
}

func (w *world) startAWS() {
	w.sim = awssim.New(awssim.Options{AutoCreateDistributions: true})
	url, stop, err := w.sim.Serve("127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(stop)
	w.simURL = url
	now := time.Now()
	for _, fn := range w.fns {
		w.sim.CreateFunction(fn)
		for range 8 {
			w.sim.PublishVersion(fn)
		}
		w.sim.CreateAlias(fn, aliasName, "1")
		if w.o.traffic {
			w.sim.LambdaTraffic(fn, aliasName, "1", now.Add(-3*time.Hour), now, awssim.Profile{InvocationsPerMin: 120, Seed: 1})
		}
	}
	if w.o.actionLatency > 0 {
		for _, api := range []string{"UpdateAlias", "CreateInvalidation"} {
			w.sim.InjectFault(awssim.Fault{API: api, Kind: awssim.FaultLatency, Rate: 1, Latency: w.o.actionLatency})
		}
	}
}

func (w *world) startSinks() {
	w.health = newHealth(w.t, w.sim, w.secrets.probe)
	w.alerts = newAlertSink(w.t, w.secrets.alert)
	w.hook = newHookSink(w.t, w.o.hookDelay)
	w.cache = testredis.Start(w.t).Client(w.t)
}

func (w *world) startStore() {
	if w.o.bolt {
		w.boltPath = filepath.Join(w.dir, "canaryd.db")
		return
	}
	var client redis.UniversalClient
	switch w.o.topology {
	case "sentinel":
		w.sentinel = redistopo.StartSentinel(w.t, redistopo.SentinelOptions{Replicas: 1, Sentinels: 3, Password: w.secrets.store})
		client = w.sentinel.Client()
	case "cluster":
		w.cluster = redistopo.StartCluster(w.t, redistopo.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, Password: w.secrets.store})
		client = w.cluster.Client()
	default:
		w.redis = startRedis(w.t, filepath.Join(w.dir, "redis"), w.secrets.store, w.o.persistent)
		client = redis.NewClient(&redis.Options{Addr: w.redis.addr, Password: w.secrets.store})
	}
	w.t.Cleanup(func() { _ = client.Close() })
	st, err := redisstore.New(redisstore.Options{Client: client})
	if err != nil {
		w.t.Fatal(err)
	}
	w.view = st
}

func (w *world) addReplica(id string) {
	port, err := redisserver.FreePort()
	if err != nil {
		w.t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	tokenFile := filepath.Join(w.dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(w.secrets.admin+"\n"), 0o600); err != nil {
		w.t.Fatal(err)
	}
	d := configData{ID: id, Listen: addr, TokenFile: tokenFile, SimURL: w.simURL,
		RetryMode: or(w.o.retryMode, "adaptive"), ReadTimeout: or(w.o.readTO, "5s"), ActionTimeout: or(w.o.actionTO, "5s"),
		Backend: "redis", BoltPath: filepath.Join(w.dir, "unused.db"),
		AlertURL: w.alerts.srv.URL, HealthURL: w.health.srv.URL, HookURL: w.hook.srv.URL,
		CacheAddr: w.cache.Options().Addr, Functions: w.fns, Rollout: w.o.rollout, RetryFor: w.o.retryFor,
		OrphanSweep: w.o.orphanSweep, OrphanAge: w.o.orphanAge, LostSweep: w.o.lostSweep}
	switch {
	case w.o.bolt:
		d.Backend, d.BoltPath, d.StoreAddrs = "bolt", w.boltPath, []string{"127.0.0.1:1"}
	case w.sentinel != nil:
		d.StoreAddrs, d.MasterName = w.sentinel.Addrs(), redistopo.MasterName
	case w.cluster != nil:
		d.StoreAddrs, d.Cluster = w.cluster.Addrs(), true
	default:
		d.StoreAddrs = []string{w.redis.addr}
	}
	cfg := filepath.Join(w.dir, id+".toml")
	writeConfig(w.t, cfg, d)
	w.replicas = append(w.replicas, newReplica(w, id, addr, cfg, d))
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// deploy fills fn's cache with pages the rollback must clear, then moves
// the alias to version v (the pipeline's deploy).
func (w *world) deploy(fn, v string) {
	w.fillCache(fn)
	w.sim.Deploy(fn, aliasName, v, nil)
}

// fillCache puts pages a rollback must clear in fn's cache, and a key it
// must keep.
func (w *world) fillCache(fn string) {
	ctx := context.Background()
	for i := range 10 {
		w.cache.Set(ctx, fmt.Sprintf("%s:page:%d", fn, i), "x", 0)
	}
	w.cache.Set(ctx, fn+":session:1", "keep", 0)
}

// alias is the version fn's alias serves ("" when it splits traffic).
func (w *world) alias(fn string) string {
	v, weights, _ := w.sim.Alias(fn, aliasName)
	if len(weights) > 0 {
		return ""
	}
	return v
}

// live returns the replicas whose process runs (and is not frozen).
func (w *world) live() []*replica {
	var out []*replica
	for _, r := range w.replicas {
		if r.alive() && !r.isFrozen() {
			out = append(out, r)
		}
	}
	return out
}

// owner waits until one live replica holds fn's lease and returns it.
func (w *world) owner(fn string) *replica {
	var o *replica
	w.eventually(fn+": a live replica owns it", 20*time.Second, func() bool {
		for _, r := range w.live() {
			if r.owns(context.Background(), fn) {
				o = r
				return true
			}
		}
		return false
	})
	return o
}

// knownGood is fn's known-good version as a live replica reports it.
func (w *world) knownGood(fn string) string {
	for _, r := range w.live() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := r.client.Status(ctx)
		cancel()
		if err != nil {
			continue
		}
		for _, ts := range st.Targets {
			if ts.Name == fn {
				return ts.KnownGood
			}
		}
	}
	return ""
}

// incident is fn's incident id as the store holds it.
func (w *world) incident(fn, id string) store.Incident {
	for _, inc := range w.incidents(fn) {
		if inc.ID == id {
			return inc
		}
	}
	w.t.Fatalf("incident %s of %s not in the store", id, fn)
	return store.Incident{}
}

// waitClosed waits until fn's incident id has its outcome and returns it.
func (w *world) waitClosed(fn, id string, within time.Duration) store.Incident {
	w.t.Helper()
	var inc store.Incident
	w.eventually("incident "+id+" closes", within, func() bool {
		inc = w.incident(fn, id)
		return inc.Outcome != ""
	})
	return inc
}

// incidents lists fn's incidents, newest first: from the Redis store, or
// from a live replica's API with bolt.
func (w *world) incidents(fn string) []store.Incident {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if w.view != nil {
		incs, _ := w.view.ListIncidents(ctx, fn, 0)
		return incs
	}
	for _, r := range w.live() {
		if views, err := r.client.Incidents(ctx, fn, 100); err == nil {
			incs := make([]store.Incident, len(views))
			for i, v := range views {
				incs[i] = v.Incident
			}
			return incs
		}
	}
	return nil
}

// settled reports whether fn's alias serves want and every incident the
// pager or the store knows of is closed and resolved.
func (w *world) settled(fn, want string) bool {
	if w.alias(fn) != want {
		return false
	}
	incs := w.incidents(fn)
	for _, inc := range incs {
		if inc.Outcome == "" || !w.alerts.has(resolveKind(inc.Outcome), inc.ID) {
			return false
		}
	}
	return true
}

// openStore opens the store for the final checks: the Redis view, or the
// bolt file once every replica has stopped.
func (w *world) openStore() store.Store {
	if w.view != nil {
		return w.view
	}
	st, err := boltstore.Open(w.boltPath, boltstore.Options{Timeout: 5 * time.Second})
	if err != nil {
		w.t.Fatalf("open the bolt store: %v", err)
	}
	w.t.Cleanup(func() { _ = st.Close() })
	return st
}

// stopAll stops every live replica with SIGTERM; each must exit 0. A
// replica is first given time to finish starting: before its signal
// handler is installed, SIGTERM kills a process (Go's default), which is
// not what this checks.
func (w *world) stopAll() {
	for _, r := range w.live() {
		w.waitFor(r.id+" ready before SIGTERM", 10*time.Second, func() bool { return r.ready(context.Background()) })
		if err := r.stop(); err != nil {
			w.t.Errorf("graceful stop: %v", err)
		}
	}
}

// waitFor is eventually that reports a timeout as a failure and goes on.
func (w *world) waitFor(what string, within time.Duration, cond func() bool) bool {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Errorf("timed out after %s waiting for %s", within, what)
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
	return true
}

// eventually polls cond until it holds or the deadline passes (the
// daemon is another process on the real clock: there is no event to wait
// on).
func (w *world) eventually(what string, within time.Duration, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// callLog is the simulator's call log, one call a line.
func (w *world) callLog() string {
	var b strings.Builder
	for _, c := range w.sim.Calls("") {
		keys := make([]string, 0, len(c.Params))
		for k := range c.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "%s %s err=%q status=%d", c.Time.Format("15:04:05.000"), c.API, c.Err, c.Status)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%v", k, c.Params[k])
		}
		fmt.Fprintf(&b, " result=%v\n", c.Result)
	}
	return b.String()
}
