package watcher

import (
	"github.com/canaryd/canaryd/sample"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the watcher's Prometheus families. Every label is bounded:
// kinds, outcomes, API names and detection sources, never a target name.
type Metrics struct {
	Samples         *prometheus.CounterVec // kind, source_kind (probe|cloudwatch), outcome
	AWSCalls        *prometheus.CounterVec // api, outcome (ok|error|throttled)
	DeploysDetected *prometheus.CounterVec // source (poll|sweep|announce)
	WatchesEnded    *prometheus.CounterVec // reason (superseded|manual_rollback)
	PollErrors      prometheus.Counter
	ProbeLatency    prometheus.Histogram
	MetricQueries   prometheus.Counter // GetMetricData queries planned

	byOutcome map[sampleClass]prometheus.Counter // pre-resolved Samples children
}

type sampleClass struct {
	kind    sample.Kind
	outcome sample.Outcome
}

// AWS call outcomes used as label values.
const (
	callOK        = "ok"
	callError     = "error"
	callThrottled = "throttled"
)

// NewMetrics registers the watcher's families on reg. A nil reg builds
// unregistered collectors (tests, or when metrics are not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		Samples: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "samples_total",
			Help: "Samples produced, by kind and outcome.",
		}, []string{"kind", "outcome"}),
		AWSCalls: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "canaryd", Subsystem: "watcher", Name: "aws_calls_total",
			Help: "AWS API calls made by the watcher, by API and outcome.",
		}, []string{"api", "outcome"}),
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
	}
	m.byOutcome = make(map[sampleClass]prometheus.Counter)
	for _, k := range []sample.Kind{sample.KindProbe, sample.KindMetric} {
		for _, o := range []sample.Outcome{sample.OutcomeOK, sample.OutcomeFail, sample.OutcomeNoData, sample.OutcomeSourceError} {
			m.byOutcome[sampleClass{k, o}] = m.Samples.WithLabelValues(string(k), string(o))
		}
	}
	for _, api := range []string{"GetAlias", "GetMetricData"} {
		for _, o := range []string{callOK, callError, callThrottled} {
			m.AWSCalls.WithLabelValues(api, o)
		}
	}
	for _, s := range []string{SourcePoll, SourceSweep, SourceAnnounce} {
		m.DeploysDetected.WithLabelValues(s)
	}
	for _, r := range []string{endSuperseded, endManualRollback} {
		m.WatchesEnded.WithLabelValues(r)
	}
	return m
}

func (m *Metrics) sample(s sample.Sample) {
	if c, ok := m.byOutcome[sampleClass{s.Kind, s.Outcome}]; ok {
		c.Inc()
		return
	}
	m.Samples.WithLabelValues(string(s.Kind), string(s.Outcome)).Inc()
}

func (m *Metrics) awsCall(api string, err error) {
	m.AWSCalls.WithLabelValues(api, callOutcome(err)).Inc()
}
