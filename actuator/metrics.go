package actuator

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/canaryd/canaryd/store"
)

// Metrics are the actuator's Prometheus metrics: its steps. How a rollback
// ended is counted once, by the daemon, when it closes the incident
// (canaryd_rollbacks_total).
type Metrics struct {
	StepDuration *prometheus.HistogramVec // by step kind
	StepOutcomes *prometheus.CounterVec   // by step kind and status
}

// NewMetrics registers the actuator's metrics on reg, every label value
// pre-initialised.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		StepDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "canaryd_rollback_step_duration_seconds",
			Help:    "Time a rollback step took to act, by step kind.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"kind"}),
		StepOutcomes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_rollback_steps_total",
			Help: "Rollback steps acted upon, by step kind and status.",
		}, []string{"kind", "status"}),
	}
	for _, k := range AllKinds {
		m.StepDuration.WithLabelValues(string(k))
		for _, st := range []store.StepStatus{store.StepDone, store.StepFailed, store.StepSkipped, store.StepAborted} {
			m.StepOutcomes.WithLabelValues(string(k), string(st))
		}
	}
	return m
}
