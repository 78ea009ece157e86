package watcher

import (
	"testing"

	"github.com/canaryd/canaryd/sample"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsTargetLabelAndPreinitialised: samples carry their target (the
// config bounds them); a target's series exist at zero once initialised;
// no other family carries a target or function label.
func TestMetricsTargetLabelAndPreinitialised(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.InitTarget("api")
	if n := testutil.CollectAndCount(m.Samples); n != 2 {
		t.Errorf("samples_total has %d series, want 2 (source_error of probes and metrics) pre-initialised for one target", n)
	}
	m.sample(sample.Sample{Target: "api", Kind: sample.KindMetric, Outcome: sample.OutcomeSourceError})
	m.sample(sample.Sample{Target: "api", Kind: sample.KindMetric, Outcome: sample.OutcomeSourceError})
	m.sample(sample.Sample{Target: "web", Kind: sample.KindProbe, Outcome: sample.OutcomeOK})
	if got := testutil.ToFloat64(m.Samples.WithLabelValues("api", "metric", "source_error")); got != 2 {
		t.Fatalf("samples{api,metric,source_error} = %v", got)
	}
	if got := testutil.ToFloat64(m.Samples.WithLabelValues("web", "probe", "ok")); got != 1 {
		t.Fatalf("samples{web,probe,ok} = %v", got)
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
				if (l.GetName() == "target" && f.GetName() != "canaryd_watcher_samples_total") || l.GetName() == "function" {
					t.Errorf("%s has label %q", f.GetName(), l.GetName())
				}
			}
		}
	}
	for _, want := range []string{"canaryd_watcher_samples_total", "canaryd_watcher_deploys_detected_total", "canaryd_watcher_poll_errors_total"} {
		if !names[want] {
			t.Errorf("family %s missing before first use", want)
		}
	}
	if names["canaryd_watcher_aws_calls_total"] {
		t.Error("canaryd_watcher_aws_calls_total duplicates canaryd_aws_calls_total")
	}
	// A second registration on the same registry is a programming error.
	defer func() {
		if recover() == nil {
			t.Error("registering twice did not panic")
		}
	}()
	NewMetrics(reg)
}
