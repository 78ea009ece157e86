package watcher

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/robfig/cron/v3"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

const pollEvery = 15 * time.Second

type detectorEnv struct {
	t       *testing.T
	clk     *clockwork.FakeClock
	sim     *awssim.Sim
	store   store.Store
	det     *Detector
	metrics *Metrics

	mu      sync.Mutex
	started []store.Watch
	supers  []*store.Watch
	ended   []store.Watch
	updated []store.Watch
}

// newDetectorEnv serves awssim with function "api", alias "live" on
// version 5, a bolt store, and a detector for target "api" that has
// already observed the alias once (so 5 is known-good).
func newDetectorEnv(t *testing.T, fastRetries bool) *detectorEnv {
	t.Helper()
	clk, sim, awsCfg, st := simAndStore(t, awssim.Options{FastRetries: fastRetries})
	sim.CreateAlias("api", "live", "5")
	var err error
	e := &detectorEnv{t: t, clk: clk, sim: sim, store: st, metrics: NewMetrics(prometheus.NewRegistry())}
	client := lambda.NewFromConfig(awsCfg)
	e.det, err = NewDetector(DetectorConfig{
		Targets:      []config.Target{{Name: "api", Function: "api", Alias: "live"}},
		Clients:      func(string) *lambda.Client { return client },
		Store:        st,
		Clock:        clk,
		Metrics:      e.metrics,
		PollInterval: pollEvery,
		OnWatch: func(w store.Watch, sup *store.Watch) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.started = append(e.started, w)
			e.supers = append(e.supers, sup)
		},
		OnEnd:    func(w store.Watch) { e.mu.Lock(); e.ended = append(e.ended, w); e.mu.Unlock() },
		OnUpdate: func(w store.Watch) { e.mu.Lock(); e.updated = append(e.updated, w); e.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := e.det.Sweep(context.Background()); s.Errors != 0 || s.Detected != 0 {
		t.Fatalf("initial sweep: %+v", s)
	}
	return e
}

// simAndStore starts awssim (opts, on a fake clock) and opens a bolt
// store on the same clock.
func simAndStore(t *testing.T, opts awssim.Options) (*clockwork.FakeClock, *awssim.Sim, aws.Config, *boltstore.Store) {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	opts.Clock = clk
	sim, awsCfg := awssim.Start(t, opts)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "canaryd.db"), boltstore.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return clk, sim, awsCfg, st
}

func (e *detectorEnv) state() store.TargetState {
	e.t.Helper()
	st, err := e.store.GetTarget(context.Background(), "api")
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *detectorEnv) watch(id string) store.Watch {
	e.t.Helper()
	w, err := e.store.GetWatch(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

func (e *detectorEnv) watches() []store.Watch {
	e.t.Helper()
	ws, err := e.store.ListWatches(context.Background(), store.WatchFilter{Target: "api"})
	if err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// pollUntilDetected steps the clock one second at a time, ticking, and
// returns how long it took for a watch to start.
func (e *detectorEnv) pollUntilDetected(limit time.Duration) (store.Watch, time.Duration) {
	e.t.Helper()
	for waited := time.Duration(0); waited <= limit; waited += time.Second {
		if s := e.det.Tick(context.Background()); s.Detected > 0 {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.started[len(e.started)-1], waited
		}
		e.clk.Advance(time.Second)
	}
	e.t.Fatalf("no deploy detected within %v", limit)
	return store.Watch{}, 0
}

func TestFirstObservationAdoptsLiveVersion(t *testing.T) {
	e := newDetectorEnv(t, false)
	st := e.state()
	if st.KnownGood != "5" || st.Version != "5" || st.ActiveWatch != "" {
		t.Fatalf("state after first sight: %+v", st)
	}
	if len(e.watches()) != 0 || len(e.started) != 0 {
		t.Fatalf("first observation started a watch")
	}
}

func TestDeployDetectedWithinOnePollInterval(t *testing.T) {
	e := newDetectorEnv(t, false)
	rev := e.sim.Deploy("api", "live", "6", nil)
	deployedAt := e.clk.Now()
	w, took := e.pollUntilDetected(2 * pollEvery)
	if took > pollEvery {
		t.Fatalf("detected after %v, want within one poll interval (%v)", took, pollEvery)
	}
	if w.NewVersion != "6" || w.KnownGood != "5" || w.RevisionID != rev || w.Phase != store.PhaseBaking ||
		w.Source != SourcePoll || !w.DetectedAt.Equal(deployedAt.Add(took)) {
		t.Fatalf("watch: %+v", w)
	}
	if got := e.watch(w.ID); got.NewVersion != "6" {
		t.Fatalf("stored watch: %+v", got)
	}
	st := e.state()
	if st.Version != "6" || st.RevisionID != rev || st.ActiveWatch != w.ID || st.KnownGood != "5" {
		t.Fatalf("state: %+v", st)
	}
	if got := testutil.ToFloat64(e.metrics.DeploysDetected.WithLabelValues(SourcePoll)); got != 1 {
		t.Fatalf("deploys_detected{poll} = %v", got)
	}
	// Nothing changes on later polls.
	e.clk.Advance(pollEvery)
	if s := e.det.Tick(context.Background()); s.Polled != 1 || s.Detected != 0 {
		t.Fatalf("second poll: %+v", s)
	}
}

// A watch's baseline starts no earlier than the version before its
// deploy was first seen serving alone: unknown for the version the first
// observation found, the first read that found it for a later one, and
// unknown again after a split.
func TestWatchBaselineSinceWhenVersionBeforeServedAlone(t *testing.T) {
	e := newDetectorEnv(t, false)
	if st := e.state(); !st.AloneSince.IsZero() {
		t.Fatalf("first observation: alone since %v, want unknown", st.AloneSince)
	}
	e.sim.Deploy("api", "live", "6", nil)
	w6, _ := e.pollUntilDetected(pollEvery)
	if !w6.BaselineSince.IsZero() {
		t.Fatalf("watch(6).BaselineSince = %v, want zero (5 served since before the first observation)", w6.BaselineSince)
	}
	since6 := e.state().AloneSince
	if !since6.Equal(w6.DetectedAt) {
		t.Fatalf("6 alone since %v, want its detection %v", since6, w6.DetectedAt)
	}
	e.clk.Advance(20 * time.Minute) // polls that find 6 again keep since6
	for range 3 {
		e.det.Tick(context.Background())
		e.clk.Advance(pollEvery)
	}
	e.sim.Deploy("api", "live", "7", nil)
	w7, _ := e.pollUntilDetected(pollEvery)
	if !w7.BaselineSince.Equal(since6) {
		t.Fatalf("watch(7).BaselineSince = %v, want %v (6 first seen alone)", w7.BaselineSince, since6)
	}
	e.sim.Deploy("api", "live", "7", map[string]float64{"8": 0.1})
	for range 2 {
		e.clk.Advance(pollEvery)
		e.det.Tick(context.Background())
	}
	if st := e.state(); !st.AloneSince.IsZero() || len(st.Weights) == 0 {
		t.Fatalf("split: %+v, want alone since unknown", st)
	}
	e.sim.Deploy("api", "live", "9", nil)
	w9, _ := e.pollUntilDetected(pollEvery)
	if !w9.BaselineSince.IsZero() {
		t.Fatalf("watch(9) after a split: BaselineSince %v, want zero", w9.BaselineSince)
	}
}

func TestDeployDuringWatchRecordsLastPromotedKnownGood(t *testing.T) {
	ctx := context.Background()
	e := newDetectorEnv(t, false)
	e.sim.Deploy("api", "live", "6", nil)
	w6, _ := e.pollUntilDetected(pollEvery)

	e.sim.Deploy("api", "live", "7", nil)
	w7, _ := e.pollUntilDetected(pollEvery)
	if w7.NewVersion != "7" || w7.KnownGood != "5" {
		t.Fatalf("watch(7): new %s known-good %s; want 7 over 5 (6 was never promoted)", w7.NewVersion, w7.KnownGood)
	}
	old := e.watch(w6.ID)
	if old.Phase != store.PhaseSuperseded || old.SupersededBy != w7.ID || old.EndedAt.IsZero() {
		t.Fatalf("watch(6) after deploy of 7: %+v", old)
	}
	e.mu.Lock()
	sup := e.supers[len(e.supers)-1]
	e.mu.Unlock()
	if sup == nil || sup.ID != w6.ID || sup.Phase != store.PhaseSuperseded {
		t.Fatalf("OnWatch superseded = %+v, want watch(6)", sup)
	}

	// 7 is promoted (the daemon's job), then 8 is deployed: 7 is known-good.
	if _, err := e.store.UpdateWatch(ctx, w7.ID, func(w *store.Watch) error { w.Phase = store.PhasePromoted; return nil }); err != nil {
		t.Fatal(err)
	}
	st := e.state()
	st.KnownGood = "7"
	if err := e.store.PutTarget(ctx, st); err != nil {
		t.Fatal(err)
	}
	e.sim.Deploy("api", "live", "8", nil)
	w8, _ := e.pollUntilDetected(pollEvery)
	if w8.KnownGood != "7" {
		t.Fatalf("watch(8).KnownGood = %q, want 7", w8.KnownGood)
	}
	if got := e.watch(w7.ID); got.Phase != store.PhaseSuperseded {
		t.Fatalf("promoted watch(7) not superseded: %s", got.Phase)
	}
	if n := len(e.watches()); n != 3 {
		t.Fatalf("%d watches, want 3", n)
	}
}

func TestManualRollbackEndsWatchWithoutNewOne(t *testing.T) {
	e := newDetectorEnv(t, false)
	e.sim.Deploy("api", "live", "6", nil)
	w6, _ := e.pollUntilDetected(pollEvery)
	e.sim.Deploy("api", "live", "5", nil) // someone rolled back by hand
	e.clk.Advance(pollEvery)
	if s := e.det.Tick(context.Background()); s.Detected != 0 || s.Polled != 1 {
		t.Fatalf("tick: %+v", s)
	}
	got := e.watch(w6.ID)
	if got.Phase != store.PhaseSuperseded || got.SupersededBy != "" || !strings.Contains(got.Reason, "known-good version 5") {
		t.Fatalf("watch(6): %+v", got)
	}
	if st := e.state(); st.ActiveWatch != "" || st.Version != "5" {
		t.Fatalf("state: %+v", st)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.ended) != 1 || e.ended[0].ID != w6.ID || len(e.started) != 1 {
		t.Fatalf("callbacks: ended %d started %d", len(e.ended), len(e.started))
	}
}

func TestActuatorRollbackStartsNoWatch(t *testing.T) {
	for _, tc := range []struct {
		name         string
		stateUpdated bool // the actuator recorded the alias before the poll
	}{{"state updated first", true}, {"poll races the actuator", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newDetectorEnv(t, false)
			e.sim.Deploy("api", "live", "6", nil)
			w6, _ := e.pollUntilDetected(pollEvery)
			if _, err := e.store.UpdateWatch(ctx, w6.ID, func(w *store.Watch) error { w.Phase = store.PhaseRollingBack; return nil }); err != nil {
				t.Fatal(err)
			}
			rev := e.sim.Deploy("api", "live", "5", nil) // the actuator's UpdateAlias
			if tc.stateUpdated {
				st := e.state()
				st.Version, st.Weights, st.RevisionID = "5", nil, rev
				if err := e.store.PutTarget(ctx, st); err != nil {
					t.Fatal(err)
				}
			}
			e.clk.Advance(pollEvery)
			if s := e.det.Tick(ctx); s.Detected != 0 || s.Errors != 0 {
				t.Fatalf("tick after rollback: %+v", s)
			}
			if got := e.watch(w6.ID); got.Phase != store.PhaseRollingBack {
				t.Fatalf("detector touched the actuator's watch: %s", got.Phase)
			}
			if n := len(e.watches()); n != 1 {
				t.Fatalf("%d watches, want 1", n)
			}
		})
	}
}

func TestTrafficShiftUpdatesTheSameWatch(t *testing.T) {
	e := newDetectorEnv(t, false)
	e.sim.Deploy("api", "live", "5", map[string]float64{"6": 0.1})
	w, _ := e.pollUntilDetected(pollEvery)
	if w.NewVersion != "6" || w.KnownGood != "5" || w.Weights["6"] != 0.1 {
		t.Fatalf("canary watch: %+v", w)
	}
	e.sim.Deploy("api", "live", "5", map[string]float64{"6": 0.5})
	e.clk.Advance(pollEvery)
	e.det.Tick(context.Background())
	e.sim.Deploy("api", "live", "6", nil)
	e.clk.Advance(pollEvery)
	e.det.Tick(context.Background())

	got := e.watch(w.ID)
	if got.Phase != store.PhaseBaking || len(got.Weights) != 0 {
		t.Fatalf("watch after full shift: %+v", got)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.started) != 1 || len(e.updated) != 2 || e.updated[0].Weights["6"] != 0.5 {
		t.Fatalf("started %d updated %d (%v); want 1 watch updated twice", len(e.started), len(e.updated), e.updated)
	}
}

func TestPollErrorsNeverStartOrEndWatches(t *testing.T) {
	ctx := context.Background()
	e := newDetectorEnv(t, true)
	e.sim.Deploy("api", "live", "6", nil)
	e.sim.InjectFault(awssim.Fault{API: "GetAlias", Kind: awssim.Fault5xx, Rate: 1})
	e.clk.Advance(pollEvery)
	s := e.det.Tick(ctx)
	if s.Errors != 1 || s.Detected != 0 {
		t.Fatalf("tick under faults: %+v", s)
	}
	if n := len(e.watches()); n != 0 {
		t.Fatalf("a failed poll started %d watches", n)
	}
	if got := testutil.ToFloat64(e.metrics.PollErrors); got != 1 {
		t.Fatalf("poll_errors_total = %v", got)
	}
	// Retries back off (1 s, 2 s, 4 s ... up to the poll interval): an
	// unreachable account is neither hammered every tick nor forgotten.
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		due, _ := e.det.NextPoll("api")
		if got := due.Sub(e.clk.Now()); got != want {
			t.Fatalf("retry %d scheduled in %v, want %v", i+1, got, want)
		}
		if s := e.det.Tick(ctx); s.Polled != 0 {
			t.Fatalf("polled again before the backoff ended: %+v", s)
		}
		e.clk.Advance(want)
		if i < 2 {
			if s := e.det.Tick(ctx); s.Errors != 1 {
				t.Fatalf("retry %d: %+v", i+1, s)
			}
		}
	}
	e.sim.ClearFaults()
	if s := e.det.Tick(ctx); s.Detected != 1 {
		t.Fatalf("retry tick: %+v", s)
	}
}

func TestAnnounce(t *testing.T) {
	ctx := context.Background()
	e := newDetectorEnv(t, false)

	res, err := e.det.Announce(ctx, "api", "9")
	if err != nil || res.Status != AnnounceStale || !strings.Contains(res.Message, "not announced version 9") {
		t.Fatalf("stale: %+v %v", res, err)
	}
	if res, _ := e.det.Announce(ctx, "api", "5"); res.Status != AnnounceKnownGood {
		t.Fatalf("known-good: %+v", res)
	}
	rev := e.sim.Deploy("api", "live", "6", nil)
	res, err = e.det.Announce(ctx, "api", "6")
	if err != nil || res.Status != AnnounceStarted || res.WatchID == "" {
		t.Fatalf("start: %+v %v", res, err)
	}
	w := e.watch(res.WatchID)
	if w.Source != SourceAnnounce || w.NewVersion != "6" || w.KnownGood != "5" || w.RevisionID != rev || !w.DetectedAt.Equal(e.clk.Now()) {
		t.Fatalf("announced watch: %+v", w)
	}
	dup, err := e.det.Announce(ctx, "api", "6")
	if err != nil || dup.Status != AnnounceDuplicate || dup.WatchID != res.WatchID {
		t.Fatalf("duplicate: %+v %v", dup, err)
	}
	if res, _ := e.det.Announce(ctx, "api", "7"); res.Status != AnnounceStale {
		t.Fatalf("announce of a version not live: %+v", res)
	}
	e.clk.Advance(pollEvery)
	if s := e.det.Tick(ctx); s.Detected != 0 {
		t.Fatalf("poll after announcement started another watch: %+v", s)
	}
	if n := len(e.watches()); n != 1 {
		t.Fatalf("%d watches, want 1", n)
	}
	if st := e.state(); st.ActiveWatch != res.WatchID {
		t.Fatalf("state: %+v", st)
	}
	if _, err := e.det.Announce(ctx, "nope", "1"); !errors.Is(err, ErrUnknownTarget) {
		t.Fatalf("unknown target: %v", err)
	}
}

func TestAnnounceCanarySplit(t *testing.T) {
	ctx := context.Background()
	e := newDetectorEnv(t, false)
	e.sim.Deploy("api", "live", "5", map[string]float64{"6": 0.1})
	if res, _ := e.det.Announce(ctx, "api", "5"); res.Status != AnnounceKnownGood {
		t.Fatalf("announcing the known-good side: %+v", res)
	}
	res, err := e.det.Announce(ctx, "api", "6")
	if err != nil || res.Status != AnnounceStarted {
		t.Fatalf("canary: %+v %v", res, err)
	}
	if w := e.watch(res.WatchID); w.Weights["6"] != 0.1 || w.KnownGood != "5" {
		t.Fatalf("watch: %+v", w)
	}
}

func TestSweepReadsEveryAliasAndSchedules(t *testing.T) {
	e := newDetectorEnv(t, false)
	e.sim.Deploy("api", "live", "6", nil)
	s := e.det.Sweep(context.Background()) // no clock advance: not due for a poll
	if s.Detected != 1 {
		t.Fatalf("sweep: %+v", s)
	}
	if w := e.watches()[0]; w.Source != SourceSweep {
		t.Fatalf("source %q", w.Source)
	}
	c := cron.New()
	if err := e.det.ScheduleSweep(context.Background(), c, "@every 5m"); err != nil || len(c.Entries()) != 1 {
		t.Fatalf("schedule: %v, %d entries", err, len(c.Entries()))
	}
	if err := e.det.ScheduleSweep(context.Background(), c, "every five minutes"); err == nil {
		t.Fatal("bad cron spec accepted")
	}
}

func TestOwnsLimitsPollingNotAnnouncements(t *testing.T) {
	ctx := context.Background()
	e := newDetectorEnv(t, false)
	e.det.cfg.Owns = func(string) bool { return false } // another replica holds the lease
	e.sim.Deploy("api", "live", "6", nil)
	e.clk.Advance(pollEvery)
	if s := e.det.Tick(ctx); s.Polled != 0 {
		t.Fatalf("polled a target this replica does not own: %+v", s)
	}
	if s := e.det.Sweep(ctx); s.Polled != 0 {
		t.Fatalf("swept a target this replica does not own: %+v", s)
	}
	if res, err := e.det.Announce(ctx, "api", "6"); err != nil || res.Status != AnnounceStarted {
		t.Fatalf("announce: %+v %v", res, err)
	}
}

func TestAnnounceWhenAliasUnreadable(t *testing.T) {
	e := newDetectorEnv(t, true)
	e.sim.Deploy("api", "live", "6", nil)
	e.sim.InjectFault(awssim.Fault{API: "GetAlias", Kind: awssim.FaultThrottle, Rate: 1})
	if _, err := e.det.Announce(context.Background(), "api", "6"); err == nil {
		t.Fatal("announcement accepted without reading the alias")
	}
	if n := len(e.watches()); n != 0 {
		t.Fatalf("%d watches started while the alias was unreadable", n)
	}
}

func TestRunTicksOnTheInjectedClock(t *testing.T) {
	e := newDetectorEnv(t, false)
	got := make(chan store.Watch, 1)
	e.det.cfg.OnWatch = func(w store.Watch, _ *store.Watch) { got <- w }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.det.Run(ctx, time.Second); close(done) }()
	if err := e.clk.BlockUntilContext(ctx, 1); err != nil { // the ticker is registered
		t.Fatal(err)
	}
	e.sim.Deploy("api", "live", "6", nil)
	for i := 0; i < int(pollEvery/time.Second); i++ {
		e.clk.Advance(time.Second)
		select {
		case w := <-got:
			if w.NewVersion != "6" {
				t.Fatalf("watch %+v", w)
			}
			cancel()
			waitFor(t, done, "Run to return")
			return
		default:
		}
	}
	w := waitFor(t, got, "a watch from Run")
	cancel()
	waitFor(t, done, "Run to return")
	if w.NewVersion != "6" {
		t.Fatalf("watch %+v", w)
	}
}

func TestMaxPollRateStretchesInterval(t *testing.T) {
	var targets []config.Target
	for i := 0; i < 30; i++ {
		targets = append(targets, config.Target{Name: fmt.Sprintf("t%d", i), Function: "f", Alias: "a"})
	}
	for _, tc := range []struct {
		name string
		rate float64
		want time.Duration
	}{
		{"unlimited", 0, 15 * time.Second},
		{"fits", 2, 15 * time.Second},
		{"stretched", 1, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDetector(DetectorConfig{Targets: targets, Clients: func(string) *lambda.Client { return nil },
				Store: nopStore{}, Clock: clockwork.NewFakeClock(), PollInterval: 15 * time.Second, MaxPollRate: tc.rate})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.PollInterval(); got != tc.want {
				t.Fatalf("interval %v, want %v", got, tc.want)
			}
		})
	}
}

// nopStore satisfies store.Store for constructor-only tests; any use fails.
type nopStore struct{ store.Store }

// TestSweepMissedReadsOnlyWhatPollsMissedPaced: the cron sweep reads the
// aliases whose polls did not succeed within an interval, at most
// MaxPollRate a second, and skips while a sweep is still pacing.
func TestSweepMissedReadsOnlyWhatPollsMissedPaced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clk, sim, awsCfg, st := simAndStore(t, awssim.Options{})
	var targets []config.Target
	for i := range 6 {
		name := fmt.Sprintf("fn%d", i)
		sim.CreateAlias(name, "live", "1")
		targets = append(targets, config.Target{Name: name, Function: name, Alias: "live"})
	}
	var skip atomic.Value // target names the polls must leave out
	skip.Store(map[string]bool{})
	client := lambda.NewFromConfig(awsCfg)
	det, err := NewDetector(DetectorConfig{
		Targets: targets, Clients: func(string) *lambda.Client { return client }, Store: st, Clock: clk,
		PollInterval: pollEvery, MaxPollRate: 2,
		Owns: func(name string) bool { return !skip.Load().(map[string]bool)[name] },
	})
	if err != nil {
		t.Fatal(err)
	}
	reads := func() int { return sim.CallCount("GetAlias") }

	// Polls read all but fn0 and fn1 (their reads failing, say).
	clk.Advance(pollEvery + missedAfter + time.Second)
	skip.Store(map[string]bool{"fn0": true, "fn1": true})
	if s := det.Tick(ctx); s.Polled != 4 || s.Errors != 0 {
		t.Fatalf("tick: %+v, want 4 polled", s)
	}
	skip.Store(map[string]bool{})
	before := reads()
	if s := det.SweepMissed(ctx); s.Polled != 2 || reads()-before != 2 {
		t.Fatalf("sweep: %+v, %d reads; want the 2 aliases the polls missed", s, reads()-before)
	}
	if s := det.SweepMissed(ctx); s.Polled != 0 {
		t.Fatalf("second sweep: %+v, want nothing (every alias read just now)", s)
	}

	// Nothing polled for an interval: all six are missed, and read two a
	// second (MaxPollRate 2), not in one burst.
	clk.Advance(pollEvery + missedAfter + time.Second)
	before = reads()
	done := make(chan TickStats, 1)
	go func() { done <- det.SweepMissed(ctx) }()
	for step := 1; step <= 2; step++ {
		// The sweep waits for the next second only once its burst's
		// reads have returned.
		if err := clk.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if got := reads() - before; got != 2*step {
			t.Fatalf("second %d: %d reads, want %d", step, got, 2*step)
		}
		if s := det.SweepMissed(ctx); s.Polled != 0 {
			t.Fatalf("a sweep while one is pacing read %d aliases", s.Polled)
		}
		clk.Advance(time.Second)
	}
	select {
	case s := <-done:
		if s.Polled != 6 || s.Errors != 0 {
			t.Fatalf("paced sweep: %+v, want 6 polled", s)
		}
	case <-ctx.Done():
		t.Fatal("paced sweep did not finish")
	}
}
