package daemon

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/canaryd/canaryd/store"
)

// TestWatchStartedFollowsTheActiveWatches: one series per active watch,
// labelled with its target and phase, removed when the watch ends.
func TestWatchStartedFollowsTheActiveWatches(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	m.observeWatches([]store.Watch{{Target: "api", Phase: store.PhaseBaking, DetectedAt: t0}, {Target: "web", Phase: "rolling_back", DetectedAt: t0.Add(time.Minute)}})
	if n := testutil.CollectAndCount(m.WatchStarted); n != 2 || testutil.ToFloat64(m.ActiveWatches) != 2 {
		t.Fatalf("%d series, %v active", n, testutil.ToFloat64(m.ActiveWatches))
	}
	if got := testutil.ToFloat64(m.WatchStarted.WithLabelValues("web", "rolling_back")); got != float64(t0.Add(time.Minute).Unix()) {
		t.Fatalf("web started at %v", got)
	}
	m.observeWatches([]store.Watch{{Target: "api", Phase: "promoted", DetectedAt: t0}})
	if n := testutil.CollectAndCount(m.WatchStarted); n != 1 {
		t.Fatalf("%d series after web ended and api was promoted, want 1", n)
	}
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterBuildInfo(reg, "v1.2.3", "abc123", "go1.26")
	fams, err := reg.Gather()
	if err != nil || len(fams) != 1 || fams[0].GetName() != "canaryd_build_info" || fams[0].GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Fatalf("gathered %v %v", fams, err)
	}
	labels := map[string]string{}
	for _, l := range fams[0].GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != "v1.2.3" || labels["revision"] != "abc123" || labels["goversion"] != "go1.26" {
		t.Fatalf("labels %v", labels)
	}
}
