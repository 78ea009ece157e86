// Package daemon wires watcher → policy → watch → actuator into the process
// users run: it owns the run loop (one Tick at a time, which judges every
// active watch and computes its transition), leases, reload and the
// store's marker. The parts it wires do the rest: effects applies a
// transition, runner runs plans and rollout steps in the background,
// control is the admin API's face.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/effects"
	evseries "github.com/canaryd/canaryd/evidence"
	"github.com/canaryd/canaryd/lease"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/observe"
	"github.com/canaryd/canaryd/overrides"
	"github.com/canaryd/canaryd/runner"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/watchcache"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
	"github.com/canaryd/canaryd/watcher"
)

// Config is what a Daemon is built from.
type Config struct {
	Conf   *config.Config
	Store  store.Store
	Clock  clockwork.Clock // default: real
	Logger *zap.Logger     // default: no-op
	// Registry collects every part's metrics and is served on /metrics;
	// default: a fresh registry with Go and process collectors.
	Registry *prometheus.Registry
	// AWS is the base for every target's AWS options: tests and the demo
	// pass static credentials here. Region, role and endpoint come from
	// the config.
	AWS awsclient.Options
	// HTTPClient is used by probes (default watcher.DefaultProbeClient)
	// and by notifiers and webhooks (default http.DefaultClient).
	ProbeClient *http.Client
	HTTPClient  *http.Client
	// DryRun forces alert-only on top of the config (the --dry-run flag).
	DryRun bool
	// TickEvery is how often Run calls Tick; default 1s.
	TickEvery time.Duration
	// Synchronous makes Tick wait for the probes and the metric cycle it
	// started (tests step the daemon with a fake clock). In production they
	// run in the background: a slow probe or a throttled CloudWatch must
	// not hold up the other targets' verdicts.
	Synchronous bool
}

// Daemon runs every target's watch life cycle.
type Daemon struct {
	cfg      Config
	store    *watchcache.Store // cfg.Store, caching the active watches between changes
	resumed  bool              // unfinished plans were looked for (first Tick)
	clock    clockwork.Clock
	log      *zap.Logger
	reg      *prometheus.Registry
	metrics  *Metrics
	wmetrics *watcher.Metrics
	stalls   *watcher.StallMeter    // runs (real clock) while Run does; probes ask it
	traces   *observe.TraceRecorder // daemon.trace_dir; nil: no traces
	ametrics *actuator.Metrics
	nmetrics *notify.Metrics
	awsm     *awsclient.Metrics

	mu       sync.Mutex // guards the fields below
	conf     *config.Config
	targets  map[string]*targets.Target
	order    []string      // target names in config order
	parts    parts         // the components every target shares (targets.go)
	observed observe.Parts // what obs reads through (apply)

	loop     loopWatch
	marker   string    // the store's marker last read (run loop only)
	markerAt time.Time // when
	// lostAt is when the last marker check found the store's data lost
	// (run loop only): for daemon.lost_sweep after it, incidents other replicas
	// record again are looked for every tick (runner.ResumeLost).
	lostAt time.Time
	// orphansAt is when the last orphan sweep ran (run loop only).
	orphansAt time.Time
	// pauses are the pauses the overrides' last read before the last
	// marker check that found the same store saw in force (run loop
	// only): written back if it loses its data.
	pauses    []store.Override
	box       *notify.Outbox
	leases    *lease.Table       // the targets this replica owns
	obs       *observe.Observer  // feeds every watch's evidence
	events    eventsState        // the deploy event consumer (events.go)
	evid      *evseries.Recorder // per-watch evidence series for the charts (evidence.go)
	effects   *effects.Applier   // applies the life cycle's transitions
	overrides *overrides.Keeper  // the overrides in force; their expiry and announcements
	// runner runs plans, traffic shifts and hooks off the run loop, and
	// knows what this process has under way: what it re-records if the
	// store loses its data (runner.Replant).
	runner *runner.Runner
}

// New builds a daemon from a loaded config. It creates AWS clients and
// notifiers but makes no network call.
func New(c Config) (*Daemon, error) {
	if c.Conf == nil || c.Store == nil {
		return nil, errors.New("daemon: Conf and Store are required")
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
		c.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.TickEvery <= 0 {
		c.TickEvery = time.Second
	}
	d := &Daemon{
		cfg:      c,
		clock:    c.Clock,
		log:      c.Logger,
		reg:      c.Registry,
		metrics:  NewMetrics(c.Registry),
		wmetrics: watcher.NewMetrics(c.Registry),
		ametrics: actuator.NewMetrics(c.Registry),
		nmetrics: notify.NewMetrics(c.Registry),
		awsm:     awsclient.NewMetrics(c.Registry),
	}
	d.stalls = watcher.NewStallMeter(nil, d.wmetrics.Stalls)
	d.leases = lease.New(c.Store, c.Clock, c.Logger.Named("lease"))
	d.store = watchcache.New(c.Store)
	d.cfg.Store = d.store // every part writes watches through it
	d.box = notify.NewOutbox(notify.OutboxConfig{Store: d.cfg.Store, Clock: d.clock, Logger: d.log.Named("outbox"),
		Dispatcher: func() *notify.Dispatcher { return d.current().notifier }})
	d.overrides = overrides.New(overrides.Config{Store: d.cfg.Store, Clock: d.clock, Logger: d.log, Active: d.metrics.Overrides,
		Targets: func() (map[string]*targets.Target, []string) { _, ts, order := d.snapshot(); return ts, order },
		Note:    func(ctx context.Context, t *targets.Target, n watch.Note) { d.effects.Note(ctx, t, n) }})
	d.effects = effects.New(effects.Config{Store: d.cfg.Store, Outbox: d.box, Clock: d.clock, Logger: d.log,
		Incidents: d.metrics.Incidents, Rollbacks: d.metrics.Rollbacks, DetectToTrip: d.metrics.DetectToTrip,
		Redactor: func() *config.Redactor { return d.current().redactor },
		InForce:  d.overrides.InForce, SetKnownGood: d.setKnownGood,
		Start: func(ctx context.Context, t *targets.Target, w store.Watch, e watch.Effect) {
			d.runner.Start(ctx, t, w, e)
		}})
	d.runner = runner.New(runner.Config{Store: d.cfg.Store, Clock: d.clock, Logger: d.log, Leases: d.leases, Effects: d.effects,
		Actuator:     func() runner.Actuator { return d.current().act },
		Targets:      func() map[string]*targets.Target { _, ts, _ := d.snapshot(); return ts },
		TripToRevert: d.metrics.TripToRevert, Synchronous: c.Synchronous})
	if dir := c.Conf.Daemon.TraceDir; dir != "" { // read at start, like daemon.listen
		var err error
		if d.traces, err = observe.NewTraceRecorder(dir, c.Conf.Daemon.TraceKeep, c.Logger.Named("trace")); err != nil {
			return nil, fmt.Errorf("daemon.%w", err)
		}
	}
	d.obs = observe.New(observe.Config{Clock: c.Clock, Logger: c.Logger, Owns: d.leases.Owns, Background: d.runner.Background,
		Parts: func() observe.Parts { d.mu.Lock(); defer d.mu.Unlock(); return d.observed }, Traces: d.traces})
	d.evid = evseries.New(evseries.Config{Store: d.cfg.Store, Logger: d.log.Named("evidence")})
	if err := d.apply(c.Conf); err != nil {
		return nil, err
	}
	return d, nil
}

// dryRun reports whether target t is alert-only by flag or config.
func (d *Daemon) dryRun(conf *config.Config, t config.Target) bool {
	return d.cfg.DryRun || conf.Daemon.DryRun || t.DryRun
}

// Registry is the registry served on /metrics.
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// Ready reports whether the daemon can do its job: the run loop is not
// stuck in a tick, and the store answers.
func (d *Daemon) Ready() error {
	if stuck := d.loop.stuck(d.clock.Now()); stuck > stuckAfter {
		return fmt.Errorf("run loop stuck in one tick for %s", stuck.Truncate(time.Second))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := d.cfg.Store.ListOverrides(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// current returns the components every target shares, as of now.
func (d *Daemon) current() parts {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.parts
}

// snapshot returns the current config and component set.
func (d *Daemon) snapshot() (*config.Config, map[string]*targets.Target, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conf, d.targets, d.order
}
