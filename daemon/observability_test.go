package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// badDeployRevert runs a good then a bad deploy and returns the fake time
// from the first failing probe to the trip, and from the trip to the
// alias update.
func badDeployRevert(t *testing.T, h *harness) (toTrip, toRevert time.Duration) {
	t.Helper()
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("rollback", 100, func() bool { return h.incident().Outcome != "" })
	calls := h.sim.Calls("UpdateAlias")
	if len(calls) != 1 {
		t.Fatalf("UpdateAlias calls = %d", len(calls))
	}
	inc := h.incident()
	h.mu.Lock()
	defer h.mu.Unlock()
	return inc.OpenedAt.Sub(h.firstFail), calls[0].Time.Sub(inc.OpenedAt)
}

// TestHangingNotifierDoesNotDelayRollback (promise 9): the same bad deploy
// with a notifier that never answers trips at the same moment as with one
// that answers at once, and its plan reverts the alias well within the
// notifier's 10 s attempt timeout (the plan runs on its own goroutine,
// which a loaded machine may start a step or two late, so that part is a
// bound, not an equality).
func TestHangingNotifierDoesNotDelayRollback(t *testing.T) {
	normalTrip, normalRevert := badDeployRevert(t, newHarness(t, harnessOpts{}))
	hanging := newHarness(t, harnessOpts{hangHook: true})
	hungTrip, hungRevert := badDeployRevert(t, hanging)
	if hungTrip != normalTrip {
		t.Fatalf("first failure to trip: %s with a hanging notifier, %s without", hungTrip, normalTrip)
	}
	if hungRevert >= 10*time.Second {
		t.Fatalf("trip to alias revert: %s with a hanging notifier (%s without): the plan waited for the notifier", hungRevert, normalRevert)
	}
	if inc := hanging.incident(); inc.Outcome != "rolled_back" {
		t.Fatalf("incident with hanging notifier: %+v", inc)
	}
	t.Logf("first failing probe to trip: %s in both runs; trip to revert: %s with a hanging notifier, %s without", normalTrip, hungRevert, normalRevert)
}

// TestMetricsExposition checks the /metrics families after a rollback:
// names and labels pass promlint, and the counters tell the story.
func TestMetricsExposition(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	badDeployRevert(t, h)
	// The incident's close counts the rollback and sends rollback_done;
	// neither waits for the other, so the test waits for both.
	h.until("rollback_done delivered and the rollback counted", 20, func() bool {
		return testutil.ToFloat64(h.d.nmetrics.Deliveries.WithLabelValues("oncall", "success")) >= 4 &&
			testutil.ToFloat64(h.d.metrics.Rollbacks.WithLabelValues("api", "rolled_back")) >= 1
	})
	problems, err := promlint.NewWithMetricFamilies(mustGather(t, h)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	want := []string{
		"canaryd_active_watches", "canaryd_owned_targets", "canaryd_verdicts_total", "canaryd_incidents_total",
		"canaryd_rollbacks_total", "canaryd_rollback_step_duration_seconds", "canaryd_detection_to_trip_seconds",
		"canaryd_trip_to_alias_reverted_seconds", "canaryd_watcher_samples_total", "canaryd_aws_calls_total",
		"canaryd_notify_deliveries_total", "canaryd_overrides_active",
	}
	got := map[string]bool{}
	for _, mf := range mustGather(t, h) {
		got[mf.GetName()] = true
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "inc-") || strings.Contains(l.GetValue(), "2026") {
					t.Errorf("%s has an unbounded label value %s=%s", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	for _, name := range want {
		if !got[name] {
			t.Errorf("family %s missing", name)
		}
	}
	if n := testutil.ToFloat64(h.d.metrics.Rollbacks.WithLabelValues("api", "rolled_back")); n != 1 {
		t.Errorf("incidents rolled_back = %v", n)
	}
	if n := testutil.ToFloat64(h.d.metrics.Verdicts.WithLabelValues("api", "failing")); n < 1 {
		t.Errorf("failing verdicts = %v", n)
	}
	if n := testutil.ToFloat64(h.d.awsm.Calls.WithLabelValues("Lambda", "UpdateAlias", "ok")); n != 1 {
		t.Errorf("aws UpdateAlias ok = %v", n)
	}
	if testutil.CollectAndCount(h.d.metrics.TripToRevert) != 1 {
		t.Errorf("trip-to-revert histogram not collected")
	}
}

func mustGather(t *testing.T, h *harness) []*dto.MetricFamily {
	t.Helper()
	mfs, err := h.d.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// TestReadyFailsWhenTheLoopIsStuck: a tick that does not end is visible:
// /readyz fails and the slow tick is counted once it ends.
func TestReadyFailsWhenTheLoopIsStuck(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	if err := h.d.Ready(); err != nil {
		t.Fatalf("ready before: %v", err)
	}
	h.d.loop.begin(h.clk.Now())
	h.clk.Advance(stuckAfter + time.Second)
	err := h.d.Ready()
	if err == nil || !strings.Contains(err.Error(), "run loop stuck") {
		t.Fatalf("ready with a tick stuck for %s: %v", stuckAfter+time.Second, err)
	}
	h.d.metrics.observeTick(h.d.loop.end(h.clk.Now()), h.d.cfg.TickEvery)
	if err := h.d.Ready(); err != nil {
		t.Fatalf("ready after the tick ended: %v", err)
	}
	if n := testutil.ToFloat64(h.d.metrics.SlowTicks); n != 1 {
		t.Fatalf("slow ticks %v, want 1", n)
	}
}
