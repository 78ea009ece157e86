package daemon

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watcher"
)

// cloudTrailUpdateAlias is the EventBridge envelope of CloudTrail's
// UpdateAlias as an EventBridge rule delivers it to SQS.
func cloudTrailUpdateAlias(id, version string, at time.Time) string {
	return fmt.Sprintf(`{"version":"0","id":%q,"detail-type":"AWS API Call via CloudTrail","source":"aws.lambda",
"account":"123456789012","time":%q,"region":"us-east-1","resources":[],
"detail":{"eventVersion":"1.08","eventSource":"lambda.amazonaws.com","eventName":"UpdateAlias20150331","awsRegion":"us-east-1",
"requestParameters":{"functionName":%q,"name":%q,"functionVersion":%q},"recipientAccountId":"123456789012"}}`,
		id, at.UTC().Format(time.RFC3339), fn, alias, version)
}

// withEvents restarts the harness's daemon with [events] on a queue in
// awssim and runs its consumer until the test ends.
func (h *harness) withEvents(sweep time.Duration) string {
	h.t.Helper()
	queue := h.sim.CreateQueue("canaryd-events", 30*time.Second)
	dlq := h.sim.CreateQueue("canaryd-events-dlq", 0)
	if err := h.sim.SetRedrive(queue, dlq, 5); err != nil {
		h.t.Fatal(err)
	}
	h.conf.Events = config.Events{QueueURL: queue, Region: "us-east-1", Sweep: config.Duration{Duration: sweep},
		WaitTime: config.Duration{Duration: time.Second}, MaxMessages: 10, SweepRate: 2}
	h.stop()
	h.start(false)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); h.d.runEvents(ctx) }()
	h.t.Cleanup(func() { cancel(); wg.Wait() })
	return queue
}

// eventually waits, in real time and without moving the fake clock, for
// what the event consumer does on its own goroutine (a send wakes its long
// poll at once).
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// stepEvents is step for a daemon with an event consumer: it advances the
// clock only while the consumer waits in its long poll, and returns once
// the consumer has taken the answer and waits again (so "events flow" is
// judged on a consumer that keeps up, as it does in real time).
func (h *harness) stepEvents(dt time.Duration) {
	h.t.Helper()
	h.eventually("the consumer's long poll", func() bool { w, _ := h.sim.SQSLongPolls(); return w > 0 })
	_, before := h.sim.SQSLongPolls()
	h.step(dt)
	h.eventually("the consumer's next long poll", func() bool { w, n := h.sim.SQSLongPolls(); return w > 0 && n > before })
}

// untilEvents is until with stepEvents.
func (h *harness) untilEvents(what string, maxSteps int, cond func() bool) {
	h.t.Helper()
	for range maxSteps {
		if cond() {
			return
		}
		h.stepEvents(2 * time.Second)
	}
	if !cond() {
		h.t.Fatalf("timed out waiting for %s", what)
	}
}

func (h *harness) send(queue, body string) {
	h.t.Helper()
	if _, err := h.sim.SendSQS(queue, body); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) watchesOf(version string) []store.Watch {
	h.t.Helper()
	ws, err := h.store.ListWatches(h.ctx, store.WatchFilter{Target: "api"})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []store.Watch
	for _, w := range ws {
		if w.NewVersion == version {
			out = append(out, w)
		}
	}
	return out
}

// TestDeployDetectedFromEvents: the real daemon with [events] against
// awssim's SQS and Lambda through the SDK. While the queue answers no
// alias is polled; a deploy is detected from its CloudTrail event within
// a tick of its arrival (source event, lateness in status and /metrics);
// duplicated and out-of-order events start nothing; a deploy whose event
// was lost is caught by the events sweep.
func TestDeployDetectedFromEvents(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const sweep = 5 * time.Minute
	queue := h.withEvents(sweep)
	h.until("version 1 adopted", 10, func() bool { return h.target().KnownGood == "1" })
	h.untilEvents("events flowing", 10, func() bool { return h.d.eventsFlowing() })
	h.step(2 * time.Second) // the detector slows its polls on its next tick

	// The alias is next read by the sweep: until then nothing polls it.
	next, _ := h.d.current().detector.NextPoll("api")
	if h.d.current().detector.PollInterval() != sweep {
		t.Fatalf("poll interval %v while events flow, want the sweep %v", h.d.current().detector.PollInterval(), sweep)
	}
	if next.Sub(h.clk.Now()) < 30*time.Second {
		h.untilEvents("the sweep's read", 20, func() bool { return h.clk.Now().After(next) })
		next, _ = h.d.current().detector.NextPoll("api")
	}
	reads := h.sim.CallCount("GetAlias")
	quiet := h.clk.Now()
	for h.clk.Now().Add(2 * time.Second).Before(next) {
		h.stepEvents(2 * time.Second)
	}
	if n := h.sim.CallCount("GetAlias") - reads; n != 0 || h.clk.Since(quiet) < 30*time.Second {
		t.Fatalf("%d alias reads in %v while events flow, want 0 (polling off; sweep %v)", n, h.clk.Since(quiet), sweep)
	}
	h.untilEvents("the sweep's read", 3, func() bool { return h.sim.CallCount("GetAlias") > reads })
	reads = h.sim.CallCount("GetAlias")

	h.sim.Deploy(fn, alias, "2", nil)
	deployed := h.clk.Now()
	h.send(queue, cloudTrailUpdateAlias("ev-2", "2", deployed))
	h.eventually("deploy of version 2 detected", func() bool { return len(h.watchesOf("2")) == 1 })
	w := h.watchesOf("2")[0]
	if w.Source != watcher.SourceEvent || !w.EventAt.Equal(deployed) || w.DetectedAt.Sub(deployed) > 2*time.Second {
		t.Fatalf("watch %+v: want source event, seen within 2s of the event", w)
	}
	if n := h.sim.CallCount("GetAlias") - reads; n != 1 {
		t.Fatalf("%d alias reads for one deploy event, want 1", n)
	}
	st, err := h.d.Controller().Status(h.ctx)
	if err != nil || len(st.Targets) != 1 || st.Targets[0].Watch == nil || st.Targets[0].Watch.Source != "event" || !st.Targets[0].Watch.EventAt.Equal(deployed) {
		t.Fatalf("status %+v, %v", st, err)
	}
	h.eventually("the event's delay observed", func() bool {
		var m dto.Metric
		return h.d.wmetrics.EventDelay.Write(&m) == nil && m.GetHistogram().GetSampleCount() == 1 && m.GetHistogram().GetSampleSum() <= 2
	})

	// SQS delivers at least once and in any order; CloudTrail events come late.
	h.sim.SQSFaults(0.5, 0.5)
	h.send(queue, cloudTrailUpdateAlias("ev-2", "2", deployed))                      // the same event again
	h.send(queue, cloudTrailUpdateAlias("ev-1", "1", deployed.Add(-10*time.Minute))) // an older change, late
	h.send(queue, cloudTrailUpdateAlias("ev-2b", "2", deployed))                     // a copy under another id
	h.eventually("queue drained", func() bool { return len(h.sim.QueueMessages(queue)) == 0 })
	h.sim.SQSFaults(0, 0)
	if ws := h.watchesOf("2"); len(ws) != 1 || ws[0].ID != w.ID {
		t.Fatalf("watches of version 2 after duplicates: %+v", ws)
	}
	if got := h.latestWatch(); got.ID != w.ID || got.Phase.Final() {
		t.Fatalf("latest watch %s %s, want %s still running", got.ID, got.Phase, w.ID)
	}
	if got := testutil.ToFloat64(h.d.wmetrics.Events.WithLabelValues(string(watcher.EventDuplicate))); got < 1 {
		t.Fatalf("deploy_events_total{outcome=duplicate} = %v", got)
	}
	if got := testutil.ToFloat64(h.d.wmetrics.Events.WithLabelValues(string(watcher.EventStarted))); got != 1 {
		t.Fatalf("deploy_events_total{outcome=started} = %v", got)
	}

	// A deploy whose event is lost: the sweep finds it within one sweep.
	h.sim.Deploy(fn, alias, "4", nil)
	lost := h.clk.Now()
	h.untilEvents("deploy of version 4 caught by the sweep", int(sweep/(2*time.Second))+5, func() bool { return len(h.watchesOf("4")) == 1 })
	w4 := h.watchesOf("4")[0]
	if w4.Source != watcher.SourceSweep || w4.DetectedAt.Sub(lost) > sweep+2*time.Second {
		t.Fatalf("lost event: watch %+v found %v after the deploy, want by the sweep within %v", w4, w4.DetectedAt.Sub(lost), sweep)
	}
}

// TestEventOnTheReplicaThatDoesNotOwnTheTarget: two replicas on one Redis
// store; the one that does not hold the target's lease takes the deploy
// event from the queue. The watch it starts is in the shared store, and the
// owner judges it and rolls the bad version back, once.
func TestEventOnTheReplicaThatDoesNotOwnTheTarget(t *testing.T) {
	h := newHarness(t, harnessOpts{redisStore: true})
	queue := h.sim.CreateQueue("canaryd-events", 30*time.Second)
	h.conf.Events = config.Events{QueueURL: queue, Region: "us-east-1", Sweep: config.Duration{Duration: 5 * time.Minute},
		WaitTime: config.Duration{Duration: time.Second}, MaxMessages: 10, SweepRate: 2}
	h.stop()
	h.start(false)
	b, both := secondReplica(t, h)
	h.until("version 1 adopted", 5, both(func() bool { return h.target().KnownGood == "1" }))
	aOwns := h.d.leases.Owns("api")
	bOwns := b.leases.Owns("api")
	if aOwns == bOwns {
		t.Fatalf("want exactly one owner: a %v b %v", h.d.leases.Names(), b.leases.Names())
	}
	other := b
	if bOwns {
		other = h.d
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); other.runEvents(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	h.sim.Deploy(fn, alias, "3", nil) // version 3 fails its health probe
	h.send(queue, cloudTrailUpdateAlias("ev-3", "3", h.clk.Now()))
	h.eventually("the non-owner's watch of version 3", func() bool { return len(h.watchesOf("3")) == 1 })
	if w := h.watchesOf("3")[0]; w.Source != watcher.SourceEvent {
		t.Fatalf("watch %+v, want source event", w)
	}
	h.until("rollback of 3 by the owner", 150, both(func() bool { return h.incident().Outcome != "" }))
	if n := len(h.sim.Calls("UpdateAlias")); n != 1 {
		t.Fatalf("UpdateAlias calls = %d with two replicas, want 1", n)
	}
	if v, _, _ := h.sim.Alias(fn, alias); v != "1" {
		t.Fatalf("alias on %s after the rollback, want 1", v)
	}
}
