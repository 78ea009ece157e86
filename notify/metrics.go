package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Delivery outcomes (label values of canaryd_notify_deliveries_total).
const (
	OutcomeSuccess = "success" // delivered
	OutcomeFailure = "failure" // permanent error, attempts exhausted, or abandoned at shutdown
)

// Attempt results (label values of canaryd_notify_attempts_total).
const (
	AttemptSuccess   = "success"
	AttemptRetryable = "retryable_error"
	AttemptPermanent = "permanent_error"
)

// Metrics are the notifier delivery metrics.
type Metrics struct {
	Deliveries *prometheus.CounterVec   // notifier, outcome
	Attempts   *prometheus.CounterVec   // notifier, result
	Dropped    *prometheus.CounterVec   // notifier
	Duration   *prometheus.HistogramVec // notifier
	QueueLen   *prometheus.GaugeVec     // notifier
}

// NewMetrics registers the notify metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		Deliveries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_notify_deliveries_total",
			Help: "Events whose delivery ended, by notifier and outcome (success, failure).",
		}, []string{"notifier", "outcome"}),
		Attempts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_notify_attempts_total",
			Help: "Delivery attempts, by notifier and result (success, retryable_error, permanent_error).",
		}, []string{"notifier", "result"}),
		Dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_notify_dropped_total",
			Help: "Events dropped without delivery because the notifier's queue was full or the dispatcher was closed.",
		}, []string{"notifier"}),
		Duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "canaryd_notify_delivery_duration_seconds",
			Help:    "Duration of one delivery attempt, by notifier.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"notifier"}),
		QueueLen: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "canaryd_notify_queue_length",
			Help: "Events waiting for delivery, by notifier.",
		}, []string{"notifier"}),
	}
}

// Init pre-creates every label combination for the named notifiers, so
// series exist (at zero) before the first event.
func (m *Metrics) Init(names ...string) {
	for _, n := range names {
		for _, o := range []string{OutcomeSuccess, OutcomeFailure} {
			m.Deliveries.WithLabelValues(n, o)
		}
		for _, r := range []string{AttemptSuccess, AttemptRetryable, AttemptPermanent} {
			m.Attempts.WithLabelValues(n, r)
		}
		m.Dropped.WithLabelValues(n)
		m.Duration.WithLabelValues(n)
		m.QueueLen.WithLabelValues(n)
	}
}
