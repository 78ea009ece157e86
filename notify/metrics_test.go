package notify

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsPreinitialisedAndLint(t *testing.T) {
	h := newHarness(t, Config{Notifiers: map[string]Notifier{"a": &scripted{name: "a"}, "b": &scripted{name: "b"}}})
	if got := testutil.CollectAndCount(h.m.Deliveries); got != 4 {
		t.Errorf("deliveries series before any event: %d, want 4", got)
	}
	if got := testutil.CollectAndCount(h.m.Attempts); got != 6 {
		t.Errorf("attempts series: %d, want 6", got)
	}
	if got := testutil.CollectAndCount(h.m.Dropped, "canaryd_notify_dropped_total"); got != 2 {
		t.Errorf("dropped series: %d", got)
	}
	problems, err := testutil.GatherAndLint(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
