package awsclient

import (
	"context"
	"errors"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics counts every AWS API call canaryd makes, by service, operation
// and outcome, whichever part made it (watcher, actuator, notify). Label
// values are bounded: the operations canaryd calls, three outcomes.
type Metrics struct {
	Calls    *prometheus.CounterVec
	Duration *prometheus.HistogramVec
}

// NewMetrics registers the AWS call metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		Calls: f.NewCounterVec(prometheus.CounterOpts{Name: "canaryd_aws_calls_total",
			Help: "AWS API calls (after the SDK's retries) by service, operation and outcome (ok, throttled, timeout, error)."},
			[]string{"service", "operation", "outcome"}),
		Duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "canaryd_aws_call_duration_seconds",
			Help: "AWS API call latency including the SDK's retries.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)},
			[]string{"service", "operation"}),
	}
}

// Outcome classifies an AWS call's error: ok, throttled, timeout (cut off
// at its deadline) or error.
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	if IsTimeout(err) {
		return "timeout"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if strings.Contains(code, "Throttl") || code == "TooManyRequestsException" || code == "RequestLimitExceeded" {
			return "throttled"
		}
	}
	return "error"
}

// middleware returns an API option that records each operation.
func (m *Metrics) middleware() func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("canarydMetrics",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				svc, op := awsmiddleware.GetServiceID(ctx), middleware.GetOperationName(ctx)
				m.Calls.WithLabelValues(svc, op, Outcome(err)).Inc()
				m.Duration.WithLabelValues(svc, op).Observe(time.Since(start).Seconds())
				return out, md, err
			}), middleware.Before)
	}
}
