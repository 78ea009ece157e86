package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/canaryd/canaryd/store"
)

// Metrics are the daemon's own families; the watcher, actuator and notify
// packages register theirs on the same registry. One family per fact: an
// incident opening (canaryd_incidents_total) and a rollback finishing
// (canaryd_rollbacks_total) are counted once each, where they happen
// (package effects, which the daemon hands these families). The target
// label is bounded by the config's targets, so on-call can alert per
// service.
type Metrics struct {
	ActiveWatches prometheus.Gauge
	OwnedTargets  prometheus.Gauge
	Verdicts      *prometheus.CounterVec // target, kind
	Incidents     *prometheus.CounterVec // target, trigger
	Rollbacks     *prometheus.CounterVec // target, outcome
	Overrides     *prometheus.GaugeVec
	WatchStarted  *prometheus.GaugeVec // target, phase: when each active watch was detected
	DetectToTrip  prometheus.Histogram
	TripToRevert  prometheus.Histogram
	ConfigReloads *prometheus.CounterVec
	TickDuration  prometheus.Histogram
	SlowTicks     prometheus.Counter
	StoreLost     prometheus.Counter

	watching map[[2]string]bool // WatchStarted series set last tick
}

// observeTick records one tick of the run loop; a tick longer than the
// loop's interval is slow (something held it up).
func (m *Metrics) observeTick(took, every time.Duration) {
	m.TickDuration.Observe(took.Seconds())
	if took > every {
		m.SlowTicks.Inc()
	}
}

// observeWatches sets the active-watch gauges from this tick's watches: the
// count, and per target and phase when the watch began (so a rule can see
// a watch stuck rolling back). Series of watches that ended are removed.
func (m *Metrics) observeWatches(ws []store.Watch) {
	m.ActiveWatches.Set(float64(len(ws)))
	now := make(map[[2]string]bool, len(ws))
	for _, w := range ws {
		k := [2]string{w.Target, string(w.Phase)}
		now[k] = true
		m.WatchStarted.WithLabelValues(k[0], k[1]).Set(float64(w.DetectedAt.UnixMilli()) / 1000)
	}
	for k := range m.watching {
		if !now[k] {
			m.WatchStarted.DeleteLabelValues(k[0], k[1])
		}
	}
	m.watching = now
}

// NewMetrics registers the daemon's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		ActiveWatches: f.NewGauge(prometheus.GaugeOpts{Name: "canaryd_active_watches",
			Help: "Watches being baked, in their rollback window, or rolling back, on targets this replica owns."}),
		OwnedTargets: f.NewGauge(prometheus.GaugeOpts{Name: "canaryd_owned_targets",
			Help: "Targets whose lease this replica holds."}),
		Verdicts: f.NewCounterVec(prometheus.CounterOpts{Name: "canaryd_verdicts_total",
			Help: "Policy verdicts by target and kind."}, []string{"target", "kind"}),
		Incidents: f.NewCounterVec(prometheus.CounterOpts{Name: "canaryd_incidents_total",
			Help: "Incidents opened, by target and trigger (policy: a tripped watch; operator: a forced rollback; manual: canaryd rollback)."}, []string{"target", "trigger"}),
		Rollbacks: f.NewCounterVec(prometheus.CounterOpts{Name: "canaryd_rollbacks_total",
			Help: "Rollbacks finished (incidents closed), by target and outcome of the plan."}, []string{"target", "outcome"}),
		Overrides: f.NewGaugeVec(prometheus.GaugeOpts{Name: "canaryd_overrides_active",
			Help: "Operator overrides in force, by kind."}, []string{"kind"}),
		WatchStarted: f.NewGaugeVec(prometheus.GaugeOpts{Name: "canaryd_watch_started_timestamp_seconds",
			Help: "When the active watch of a target was detected, by target and phase (baking, promoted, tripped, rolling_back...)."}, []string{"target", "phase"}),
		DetectToTrip: f.NewHistogram(prometheus.HistogramOpts{Name: "canaryd_detection_to_trip_seconds",
			Help: "Time from deploy detection to the tripping verdict.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		TripToRevert: f.NewHistogram(prometheus.HistogramOpts{Name: "canaryd_trip_to_alias_reverted_seconds",
			Help: "Time from the tripping verdict to the alias pointing at the known-good version.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
		ConfigReloads: f.NewCounterVec(prometheus.CounterOpts{Name: "canaryd_config_reloads_total",
			Help: "Config reloads (SIGHUP) by result."}, []string{"result"}),
		TickDuration: f.NewHistogram(prometheus.HistogramOpts{Name: "canaryd_tick_duration_seconds",
			Help: "Time one tick of the run loop took.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		SlowTicks: f.NewCounter(prometheus.CounterOpts{Name: "canaryd_slow_ticks_total",
			Help: "Ticks of the run loop that took longer than its interval."}),
		StoreLost: f.NewCounter(prometheus.CounterOpts{Name: "canaryd_store_lost_total",
			Help: "Times the store came back empty (its marker changed) while canaryd ran."}),
	}
	for _, k := range []string{"pause", "force_rollback", "mark_good"} {
		m.Overrides.WithLabelValues(k)
	}
	for _, r := range []string{"ok", "error"} {
		m.ConfigReloads.WithLabelValues(r)
	}
	return m
}

// RegisterBuildInfo registers canaryd_build_info, a constant 1 whose labels
// say which build runs (to join with other series, and to see a rollout of
// canaryd itself).
func RegisterBuildInfo(reg prometheus.Registerer, version, revision, goVersion string) {
	promauto.With(reg).NewGaugeFunc(prometheus.GaugeOpts{Name: "canaryd_build_info",
		Help:        "A constant 1 labelled with the running build's version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion}},
		func() float64 { return 1 })
}

// InitTarget pre-creates, at zero, a target's series that alert rules
// take increase() of — the first rollback of a target must not be lost to a
// series appearing at 1. Others appear with their first event: each series
// costs memory per target (10,000 targets).
func (m *Metrics) InitTarget(name string) {
	for _, o := range []store.Outcome{store.OutcomeRolledBack, store.OutcomeFailed, store.OutcomeUnhealthyAfter} {
		m.Rollbacks.WithLabelValues(name, string(o))
	}
	m.Incidents.WithLabelValues(name, "policy")
}
