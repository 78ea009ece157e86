package watcher

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// TestHungAliasReadDelaysNoOtherTarget: with Async, one target whose
// GetAlias never answers (a black-holed connection) neither blocks Tick
// nor delays the detection of a deploy on another target; the hung read is
// bounded by ReadTimeout and the target is read again afterwards.
func TestHungAliasReadDelaysNoOtherTarget(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	sim, awsCfg := awssim.Start(t, awssim.Options{Clock: clk, FastRetries: true})
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "canaryd.db"), boltstore.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sim.CreateAlias("hung", "live", "1")
	sim.CreateAlias("api", "live", "1")
	client := lambda.NewFromConfig(awsCfg, func(o *lambda.Options) { o.RetryMaxAttempts = 1 })
	started := make(chan store.Watch, 4)
	det, err := NewDetector(DetectorConfig{
		Targets: []config.Target{{Name: "hung", Function: "hung", Alias: "live"}, {Name: "api", Function: "api", Alias: "live"}},
		Clients: func(string) *lambda.Client { return client }, Store: st, Clock: clk,
		Metrics: NewMetrics(prometheus.NewRegistry()), PollInterval: time.Second, Async: true, ReadTimeout: 2 * time.Second,
		OnWatch: func(w store.Watch, _ *store.Watch) { started <- w },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Cleanup(det.Wait)
	// Both aliases observed once (known-good 1), then "hung" black-holes.
	for _, name := range []string{"hung", "api"} {
		if err := det.observeOne(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	sim.InjectFault(awssim.Fault{API: "GetAlias", Kind: awssim.FaultLatency, Latency: time.Hour, Rate: 1,
		Match: map[string]string{"FunctionName": "hung"}})
	sim.Deploy("api", "live", "2", nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		clk.Advance(time.Second)
		begun := time.Now()
		det.Tick(ctx)
		if d := time.Since(begun); d > time.Second {
			t.Fatalf("Tick took %s with a hung read in flight", d)
		}
		select {
		case w := <-started:
			if w.Target != "api" || w.NewVersion != "2" {
				t.Fatalf("watch %+v", w)
			}
			det.Wait() // the hung read ends at ReadTimeout
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the deploy on api was not detected while hung's read hangs")
		}
	}
}

// observeOne reads one target synchronously (test set-up).
func (d *Detector) observeOne(ctx context.Context, name string) error {
	_, err := d.observe(ctx, d.slots[name], SourceSweep)
	return err
}
