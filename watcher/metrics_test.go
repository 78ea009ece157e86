package watcher

import (
	"testing"

	"github.com/canaryd/canaryd/sample"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsBoundedLabelsAndPreinitialised(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.sample(sample.Sample{Kind: sample.KindMetric, Outcome: sample.OutcomeSourceError})
	if got := testutil.ToFloat64(m.Samples.WithLabelValues("metric", "source_error")); got != 1 {
		t.Fatalf("samples{metric,source_error} = %v", got)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "target" || l.GetName() == "function" {
					t.Errorf("%s has an unbounded label %q", f.GetName(), l.GetName())
				}
			}
		}
	}
	for _, want := range []string{"canaryd_watcher_samples_total", "canaryd_watcher_aws_calls_total",
		"canaryd_watcher_deploys_detected_total", "canaryd_watcher_poll_errors_total"} {
		if !names[want] {
			t.Errorf("family %s missing before first use", want)
		}
	}
	if n := testutil.CollectAndCount(m.Samples); n != 8 {
		t.Errorf("samples_total has %d series, want 8 pre-initialised", n)
	}
	// A second registration on the same registry is a programming error.
	defer func() {
		if recover() == nil {
			t.Error("registering twice did not panic")
		}
	}()
	NewMetrics(reg)
}
