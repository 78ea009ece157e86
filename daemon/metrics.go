package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the daemon's own families; the watcher, actuator and notify
// packages register theirs on the same registry.
type Metrics struct {
	ActiveWatches prometheus.Gauge
	OwnedTargets  prometheus.Gauge
	Verdicts      *prometheus.CounterVec
	Rollbacks     *prometheus.CounterVec
	Overrides     *prometheus.GaugeVec
	DetectToTrip  prometheus.Histogram
	TripToRevert  prometheus.Histogram
	ConfigReloads *prometheus.CounterVec
	TickDuration  prometheus.Histogram
	SlowTicks     prometheus.Counter
	StoreLost     prometheus.Counter
}

// observeTick records one tick of the run loop; a tick longer than the
// loop's interval is slow (something held it up).
func (m *Metrics) observeTick(took, every time.Duration) {
	m.TickDuration.Observe(took.Seconds())
	if took > every {
		m.SlowTicks.Inc()
	}
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
			Help: "Policy verdicts by kind."}, []string{"kind"}),
		Rollbacks: f.NewCounterVec(prometheus.CounterOpts{Name: "canaryd_incidents_total",
			Help: "Incidents closed, by outcome of their rollback plan."}, []string{"outcome"}),
		Overrides: f.NewGaugeVec(prometheus.GaugeOpts{Name: "canaryd_overrides_active",
			Help: "Operator overrides in force, by kind."}, []string{"kind"}),
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
	for _, k := range []string{"healthy", "failing", "inconclusive", "promote"} {
		m.Verdicts.WithLabelValues(k)
	}
	for _, o := range []string{"rolled_back", "rollback_failed", "aborted", "not_executed", "unhealthy_after_rollback"} {
		m.Rollbacks.WithLabelValues(o)
	}
	for _, k := range []string{"pause", "force_rollback", "mark_good"} {
		m.Overrides.WithLabelValues(k)
	}
	for _, r := range []string{"ok", "error"} {
		m.ConfigReloads.WithLabelValues(r)
	}
	return m
}
