package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/store/boltstore"
)

// TestOutboxDeliversAtLeastOnce: an alert stays in the outbox until its
// notifier took it; a delivery that ran out of attempts is sent again, with
// its ID, once RedeliverAfter has passed.
func TestOutboxDeliversAtLeastOnce(t *testing.T) {
	clk := clockwork.NewFakeClock()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	rcv := newReceiver(t, http.StatusServiceUnavailable)
	var box *Outbox
	d := New(Config{Notifiers: map[string]Notifier{"hook": NewWebhook(WebhookConfig{Name: "hook", URL: rcv.srv.URL, Clock: clk})},
		Clock: clk, MaxAttempts: 1, OnOutcome: func(o Outcome) { box.Delivered(context.Background(), o) }})
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	box = NewOutbox(OutboxConfig{Store: st, Dispatcher: func() *Dispatcher { return d }, Clock: clk, RedeliverAfter: time.Minute})
	ctx := context.Background()
	ev := trippedEvent()
	ev.ID, ev.Time = "inc-1/tripped", clk.Now()
	if err := box.Send(ctx, ev); err != nil {
		t.Fatal(err)
	}
	inFlight := func() int {
		box.mu.Lock()
		defer box.mu.Unlock()
		return len(box.inFlight)
	}
	// The first attempt fails and its outcome is recorded (no longer in flight).
	waitFor(t, "the first attempt's outcome", func() bool { return rcv.count() == 1 && inFlight() == 0 })
	pending := func() int {
		es, err := st.ListOutbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	if pending() != 1 {
		t.Fatal("a failed delivery left the outbox")
	}
	rcv.set(http.StatusOK, "", nil)
	everyone := func(string) bool { return true }
	box.RedeliverDue(ctx, everyone) // too early: nothing
	clk.Advance(2 * time.Minute)
	box.RedeliverDue(ctx, everyone)
	waitFor(t, "the redelivery", func() bool { return rcv.count() == 2 && pending() == 0 })
	var got Event
	if err := json.Unmarshal(rcv.body(1), &got); err != nil || got.ID != ev.ID {
		t.Fatalf("redelivered %s (%v), want id %s", rcv.body(1), err, ev.ID)
	}
}
