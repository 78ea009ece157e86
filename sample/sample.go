// Package sample holds the observations the watcher hands to the policy:
// one Sample per probe result or CloudWatch datapoint. It is a leaf
// package: both stages import it, and it imports nothing heavy, so the pure
// decision code (policy, watch, replay) links no AWS SDK, store or
// Prometheus.
package sample

import "time"

// Kind says where a sample came from.
type Kind string

// Sample kinds.
const (
	KindProbe  Kind = "probe"  // an HTTP health probe result
	KindMetric Kind = "metric" // one CloudWatch datapoint for one complete period
)

// Outcome classifies a sample. Only OK and Fail are evidence about the
// target; NoData and SourceError describe the watchdog's own view and must
// never count as a breach on their own (promise 5).
type Outcome string

// Outcomes.
const (
	OutcomeOK          Outcome = "ok"           // probe passed / datapoint present
	OutcomeFail        Outcome = "fail"         // probe failed because of the target (5xx, timeout, body mismatch)
	OutcomeNoData      Outcome = "no_data"      // complete period with no datapoint
	OutcomeSourceError Outcome = "source_error" // AWS API error, throttling, our own failure
)

// SourceCloudWatch is the Source of every metric sample.
const SourceCloudWatch = "cloudwatch"

// MetricConcurrencyUse and MetricPoolUse are alias-level metric samples
// of the concurrency a function draws on, in use at its busiest in a
// period, as a share of its limit (the watcher reads the Maximum of
// Lambda's series over the limit): ConcurrencyUse for a function with
// reserved concurrency (its own ConcurrentExecutions over the
// reservation), PoolUse for one without (the account's
// UnreservedConcurrentExecutions over the unreserved pool, which every
// such function shares).
const (
	MetricConcurrencyUse = "ConcurrencyUse"
	MetricPoolUse        = "PoolUse"
)

// Sample is one observation with its time and source.
type Sample struct {
	Target  string        `json:"target"`
	Kind    Kind          `json:"kind"`
	Source  string        `json:"source"`            // probe name, or metric key (see Metric)
	Version string        `json:"version,omitempty"` // executed version; "" = the alias as a whole
	Time    time.Time     `json:"time"`              // probe: when it ran; metric: period start
	Period  time.Duration `json:"period,omitempty"`  // metric period; 0 for probes
	Outcome Outcome       `json:"outcome"`

	// Metric samples.
	Metric string  `json:"metric,omitempty"` // "Errors", "Invocations", "Throttles", "Duration.p99", or a rule's name for custom metrics
	Value  float64 `json:"value,omitempty"`

	// Probe samples.
	Status  int           `json:"status,omitempty"`
	Latency time.Duration `json:"latency,omitempty"`

	// Reason says why a probe failed or why a source errored.
	Reason string `json:"reason,omitempty"`
}

// Key identifies the observation a sample is about, so that a later re-read
// of the same period (late CloudWatch data) replaces the earlier value.
func (s Sample) Key() string {
	return string(s.Kind) + "|" + s.Source + "|" + s.Metric + "|" + s.Version + "|" + s.Time.UTC().Format(time.RFC3339Nano)
}
