package watcher

import (
	"sync"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/sample"
)

// Metrics are the watcher's Prometheus families. Labels are bounded:
// kinds, outcomes, detection sources, and the config's target names on
// samples (what on-call needs to alert per service on a blind watchdog).
// AWS calls are counted once, for every part, by awsclient
// (canaryd_aws_calls_total).
type Metrics struct {
	Samples         *prometheus.CounterVec // target, kind (probe|metric), outcome
	DeploysDetected *prometheus.CounterVec // source (poll|sweep|announce|event|...)
	WatchesEnded    *prometheus.CounterVec // reason (superseded|manual_rollback)
	PollErrors      prometheus.Counter
	ProbeLatency    prometheus.Histogram
	MetricQueries   prometheus.Counter // GetMetricData queries planned
	// Deploy events (events.go): messages by outcome, how late the watch
	// started after the event, and whether events flow (polls slowed).
	Events        *prometheus.CounterVec // outcome
	EventDelay    prometheus.Histogram
	EventsFlowing prometheus.Gauge
	// Stalls is how long canaryd's own process stood still (StallMeter).
	Stalls prometheus.Counter

	byOutcome sync.Map // sampleClass -> prometheus.Counter: resolved children
}

type sampleClass struct {
	target  string
	kind    sample.Kind
	outcome sample.Outcome
}

// NewMetrics registers the watcher's families on reg. A nil reg builds
// unregistered collectors (tests, or when metrics are not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		Samples: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "samples_total",
			Help: "Samples produced, by target, kind and outcome (source_error: the watchdog could not observe).",
		}, []string{"target", "kind", "outcome"}),
		DeploysDetected: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "deploys_detected_total",
			Help: "Deploys that started a watch, by how they were seen.",
		}, []string{"source"}),
		WatchesEnded: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "watches_ended_total",
			Help: "Watches the detector ended, by reason.",
		}, []string{"reason"}),
		PollErrors: f.NewCounter(prometheus.CounterOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "poll_errors_total",
			Help: "Alias reads that failed (retried on the next tick).",
		}),
		ProbeLatency: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "probe_duration_seconds",
			Help:    "Health probe latency.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		MetricQueries: f.NewCounter(prometheus.CounterOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "metric_queries_total",
			Help: "GetMetricData queries planned.",
		}),
		Events: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "deploy_events_total",
			Help: "Deploy event messages taken from the queue, by outcome (started, unchanged, late, duplicate, ignored, invalid, failed).",
		}, []string{"outcome"}),
		EventDelay: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "event_detection_delay_seconds",
			Help:    "From a deploy event's time (the alias change) to the watch it started.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900},
		}),
		EventsFlowing: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "events_flowing",
			Help: "1 while the deploy event queue answers (alias polls slowed to the events sweep), else 0.",
		}),
		Stalls: f.NewCounter(prometheus.CounterOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "stall_seconds_total",
			Help: "Time canaryd's own process stood still (a starved host or container, a long pause); probes that failed on time meanwhile are source errors, not evidence.",
		}),
	}
	for _, o := range EventOutcomes {
		m.Events.WithLabelValues(string(o))
	}
	for _, s := range []string{SourcePoll, SourceSweep, SourceAnnounce, SourceEvent} {
		m.DeploysDetected.WithLabelValues(s)
	}
	for _, r := range []string{endSuperseded, endManualRollback} {
		m.WatchesEnded.WithLabelValues(r)
	}
	return m
}

// InitTarget pre-creates at zero the sample series the blindness alert
// takes increase() of; the others appear with their first sample.
func (m *Metrics) InitTarget(name string) {
	for _, k := range []sample.Kind{sample.KindProbe, sample.KindMetric} {
		m.counter(sampleClass{name, k, sample.OutcomeSourceError})
	}
}

func (m *Metrics) counter(c sampleClass) prometheus.Counter {
	if v, ok := m.byOutcome.Load(c); ok {
		return v.(prometheus.Counter)
	}
	v, _ := m.byOutcome.LoadOrStore(c, m.Samples.WithLabelValues(c.target, string(c.kind), string(c.outcome)))
	return v.(prometheus.Counter)
}

func (m *Metrics) sample(s sample.Sample) {
	m.counter(sampleClass{s.Target, s.Kind, s.Outcome}).Inc()
}

// commonDefaults fills in what a part's config leaves out: the real
// clock, a no-op logger, metrics on no registry.
func commonDefaults(clock *clockwork.Clock, logger **zap.Logger, metrics **Metrics) {
	if *clock == nil {
		*clock = clockwork.NewRealClock()
	}
	if *logger == nil {
		*logger = zap.NewNop()
	}
	if *metrics == nil {
		*metrics = NewMetrics(nil)
	}
}
