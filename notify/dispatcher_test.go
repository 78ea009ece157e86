package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/event"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// scripted is a hand-written Notifier for the dispatcher's own logic: it
// returns errs in order (then nil), can block on a gate, and records.
type scripted struct {
	name    string
	errs    []error
	gate    chan struct{} // when set, Notify waits for it (or ctx)
	panics  bool
	started chan Event // when set, receives each event as Notify begins

	mu  sync.Mutex
	got []Event
	n   int
}

func (s *scripted) Name() string { return s.name }

func (s *scripted) Notify(ctx context.Context, ev Event) error {
	if s.started != nil {
		s.started <- ev
	}
	s.mu.Lock()
	i := s.n
	s.n++
	s.mu.Unlock()
	if s.panics {
		panic("boom")
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if i < len(s.errs) && s.errs[i] != nil {
		return s.errs[i]
	}
	s.mu.Lock()
	s.got = append(s.got, ev)
	s.mu.Unlock()
	return nil
}

func (s *scripted) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *scripted) delivered() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.got...)
}

var (
	errRetry = &DeliveryError{Notifier: "x", Status: 503, Retry: true, Err: errors.New("unavailable")}
	errPerm  = &DeliveryError{Notifier: "x", Status: 400, Err: errors.New("invalid event")}
)

type harness struct {
	d     *Dispatcher
	clock *clockwork.FakeClock
	m     *Metrics
	reg   *prometheus.Registry
	logs  *observer.ObservedLogs
}

func newHarness(t *testing.T, c Config) *harness {
	t.Helper()
	// The fake clock starts far in the future: attempt deadlines are read
	// from it, and real HTTP transports compare them with the real time.
	h := &harness{clock: clockwork.NewFakeClockAt(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)), reg: prometheus.NewRegistry()}
	h.m = NewMetrics(h.reg)
	core, logs := observer.New(zapcore.DebugLevel)
	h.logs = logs
	c.Clock, c.Metrics, c.Logger = h.clock, h.m, zap.New(core)
	if c.Backoff.Base == 0 {
		c.Backoff = Backoff{Base: time.Second, Max: 8 * time.Second}
	}
	h.d = New(c)
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // do not wait for anything still hanging
		_ = h.d.Close(ctx)
	})
	return h
}

func (h *harness) count(v *prometheus.CounterVec, labels ...string) float64 {
	return testutil.ToFloat64(v.WithLabelValues(labels...))
}

// advanceUntil moves the fake clock in steps until cond holds: the
// dispatcher's backoff timers are registered asynchronously, so a single
// Advance could come before the timer it is meant to fire.
func (h *harness) advanceUntil(t *testing.T, what string, step time.Duration, cond func() bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		if cond() {
			return true
		}
		h.clock.Advance(step)
		return cond()
	})
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := b.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w)
		}
	}
}

func TestDispatcherRetriesOnTheInjectedClock(t *testing.T) {
	n := &scripted{name: "pd", errs: []error{errRetry, errRetry}}
	h := newHarness(t, Config{Notifiers: map[string]Notifier{"pd": n}})
	h.d.Send(trippedEvent())

	waitFor(t, "first attempt", func() bool { return n.calls() == 1 })
	// The worker now waits on the fake clock (the attempt's timeout timer
	// and the backoff timer): no second attempt until the clock moves.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.clock.BlockUntilContext(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n.calls() != 1 {
		t.Fatalf("retried without the clock moving: %d calls", n.calls())
	}
	h.clock.Advance(time.Second) // first backoff
	waitFor(t, "second attempt", func() bool { return n.calls() == 2 })

	h.advanceUntil(t, "delivery", time.Second, func() bool { return h.count(h.m.Deliveries, "pd", OutcomeSuccess) == 1 })
	if n.calls() != 3 || len(n.delivered()) != 1 {
		t.Errorf("calls %d delivered %d", n.calls(), len(n.delivered()))
	}
	if got := h.count(h.m.Attempts, "pd", AttemptRetryable); got != 2 {
		t.Errorf("retryable attempts %v", got)
	}
	if got := h.count(h.m.Deliveries, "pd", OutcomeFailure); got != 0 {
		t.Errorf("failures %v", got)
	}
	warns := h.logs.FilterMessage("notify: delivery attempt failed, will retry").All()
	if len(warns) != 2 || warns[0].ContextMap()["incident"] != "inc-checkout-w-42" || warns[0].ContextMap()["target"] != "checkout" {
		t.Errorf("retry logs %v", warns)
	}
}

func TestDispatcherFailureOutcomes(t *testing.T) {
	cases := []struct {
		name      string
		n         *scripted
		attempts  int
		calls     int
		result    string
		logSubstr string
	}{
		{"permanent error: one attempt", &scripted{errs: []error{errPerm, nil}}, 5, 1, AttemptPermanent, "failed permanently"},
		{"retryable until attempts run out", &scripted{errs: []error{errRetry, errRetry, errRetry, nil}}, 3, 3, AttemptRetryable, "attempts exhausted"},
		{"unclassified error retries", &scripted{errs: []error{errors.New("oops"), errors.New("oops")}}, 2, 2, AttemptRetryable, "attempts exhausted"},
		{"panic is permanent", &scripted{panics: true}, 5, 1, AttemptPermanent, "failed permanently"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.n.name = "pd"
			h := newHarness(t, Config{Notifiers: map[string]Notifier{"pd": tc.n}, MaxAttempts: tc.attempts})
			h.d.Send(trippedEvent())
			h.advanceUntil(t, "failure counted", time.Second, func() bool { return h.count(h.m.Deliveries, "pd", OutcomeFailure) == 1 })
			if tc.n.calls() != tc.calls {
				t.Errorf("calls %d, want %d", tc.n.calls(), tc.calls)
			}
			if got := h.count(h.m.Attempts, "pd", tc.result); got != float64(tc.calls) {
				t.Errorf("%s attempts %v", tc.result, got)
			}
			if h.count(h.m.Deliveries, "pd", OutcomeSuccess) != 0 {
				t.Error("counted a success")
			}
			errs := h.logs.FilterLevelExact(zapcore.ErrorLevel).All()
			if len(errs) != 1 || !strings.Contains(errs[0].Message, tc.logSubstr) {
				t.Fatalf("error logs %v", errs)
			}
			f := errs[0].ContextMap()
			if f["target"] != "checkout" || f["incident"] != "inc-checkout-w-42" || f["notifier"] != "pd" || f["error"] == nil {
				t.Errorf("log fields %v", f)
			}
		})
	}
}

func TestDispatcherAttemptTimeout(t *testing.T) {
	n := &scripted{name: "slow", gate: make(chan struct{}), started: make(chan Event, 1)}
	h := newHarness(t, Config{Notifiers: map[string]Notifier{"slow": n}, MaxAttempts: 1, Timeout: 5 * time.Second})
	h.d.Send(trippedEvent())
	<-n.started // the attempt's deadline timer exists from here on
	h.clock.Advance(5 * time.Second)
	waitFor(t, "timeout counted", func() bool { return h.count(h.m.Deliveries, "slow", OutcomeFailure) == 1 })
	if h.count(h.m.Attempts, "slow", AttemptRetryable) != 1 {
		t.Error("a timed-out attempt should count as retryable")
	}
}

func TestDispatcherRoutesAndFilters(t *testing.T) {
	a, b, pd := &scripted{name: "a"}, &scripted{name: "b"}, &scripted{name: "pd"}
	h := newHarness(t, Config{
		Notifiers: map[string]Notifier{"a": a, "b": b, "pd": pdFilter{pd}},
		Options:   map[string]NotifierOptions{"b": {Events: []event.Kind{event.Tripped}}},
		Routes: func(target string) []string {
			return map[string][]string{"checkout": {"a", "b", "pd", "ghost", "a"}, "search": {"a"}}[target]
		},
	})
	for _, tc := range []struct {
		target string
		typ    event.Kind
	}{{"checkout", event.WatchStarted}, {"checkout", event.Tripped}, {"search", event.Tripped}, {"nobody", event.Tripped}} {
		ev := trippedEvent()
		ev.Target, ev.Type = tc.target, tc.typ
		h.d.Send(ev)
	}
	if err := h.d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(a.delivered()); got != 3 {
		t.Errorf("a got %d, want 3", got)
	}
	if got := b.delivered(); len(got) != 1 || got[0].Type != event.Tripped || got[0].Target != "checkout" {
		t.Errorf("b got %v", got)
	}
	if got := pd.delivered(); len(got) != 1 || got[0].Type != event.Tripped {
		t.Errorf("pd got %v", got)
	}
	if len(h.logs.FilterMessage("notify: route names an unknown notifier").All()) != 2 {
		t.Error("unknown notifier in a route not logged")
	}
}

// pdFilter gives a scripted notifier PagerDuty's event filter.
type pdFilter struct{ *scripted }

func (pdFilter) Handles(t event.Kind) bool { _, ok := PagerDutyAction(t); return ok }

func TestQueueOverflowDropsOldest(t *testing.T) {
	n := &scripted{name: "slow", gate: make(chan struct{}), started: make(chan Event, 10)}
	h := newHarness(t, Config{Notifiers: map[string]Notifier{"slow": n}, QueueSize: 2})
	send := func(i int) {
		ev := trippedEvent()
		ev.IncidentID = fmt.Sprintf("inc-%d", i)
		h.d.Send(ev)
	}
	send(1)
	<-n.started // inc-1 is in flight, the queue is empty
	for i := 2; i <= 5; i++ {
		send(i)
	}
	if got := h.count(h.m.Dropped, "slow"); got != 2 {
		t.Fatalf("dropped %v, want 2", got)
	}
	drops := h.logs.FilterMessage("notify: queue full, oldest event dropped").All()
	if len(drops) != 2 || drops[0].ContextMap()["incident"] != "inc-2" || drops[1].ContextMap()["incident"] != "inc-3" {
		t.Errorf("drop logs %v", drops)
	}
	if got := testutil.ToFloat64(h.m.QueueLen.WithLabelValues("slow")); got != 2 {
		t.Errorf("queue length %v", got)
	}
	close(n.gate)
	if err := h.d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, ev := range n.delivered() {
		order = append(order, ev.IncidentID)
	}
	if strings.Join(order, ",") != "inc-1,inc-4,inc-5" {
		t.Errorf("delivered %v", order)
	}
}

func TestCloseBoundedByContext(t *testing.T) {
	n := &scripted{name: "stuck", gate: make(chan struct{}), started: make(chan Event, 1)}
	h := newHarness(t, Config{Notifiers: map[string]Notifier{"stuck": n}})
	for range 4 {
		h.d.Send(trippedEvent())
	}
	<-n.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the shutdown budget is already spent
	if err := h.d.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v", err)
	}
	// The in-flight attempt is cancelled and the 3 queued events dropped.
	waitFor(t, "queued events dropped", func() bool { return h.count(h.m.Dropped, "stuck") == 3 })
	waitFor(t, "in-flight abandoned", func() bool { return h.count(h.m.Deliveries, "stuck", OutcomeFailure) == 1 })
	h.d.Send(trippedEvent())
	if got := h.count(h.m.Dropped, "stuck"); got != 4 {
		t.Errorf("Send after Close: dropped %v, want 4", got)
	}
}

func TestCloseDeliversQueuedEvents(t *testing.T) {
	n := &scripted{name: "a"}
	h := newHarness(t, Config{Notifiers: map[string]Notifier{"a": n}})
	for range 50 {
		h.d.Send(trippedEvent())
	}
	if err := h.d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(n.delivered()); got != 50 {
		t.Errorf("delivered %d of 50", got)
	}
}

// TestHangingReceiverDelaysNobody: a webhook whose receiver never answers
// neither blocks Send nor delays another notifier (promise 9).
func TestHangingReceiverDelaysNobody(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	fast := newReceiver(t, http.StatusOK)

	h := newHarness(t, Config{
		Notifiers: map[string]Notifier{
			"hung": NewWebhook(WebhookConfig{Name: "hung", URL: hang.URL}),
			"fast": NewWebhook(WebhookConfig{Name: "fast", URL: fast.srv.URL}),
		},
		Options: map[string]NotifierOptions{"hung": {QueueSize: 8}, "fast": {QueueSize: 1024}},
		Timeout: time.Hour, // on the fake clock: never, unless the test says so
	})
	const n = 200
	sent := make(chan struct{})
	go func() {
		for i := range n {
			ev := trippedEvent()
			ev.IncidentID = fmt.Sprintf("inc-%d", i)
			h.d.Send(ev)
		}
		close(sent)
	}()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("Send blocked behind a hanging receiver")
	}
	waitFor(t, "fast receiver got every event", func() bool { return fast.count() == n })
	var last Event
	if err := jsonUnmarshal(fast.body(n-1), &last); err != nil || last.IncidentID != fmt.Sprintf("inc-%d", n-1) {
		t.Errorf("last event %v (%v)", last.IncidentID, err)
	}
	if got := h.count(h.m.Dropped, "hung"); got < n-8-1 {
		t.Errorf("hung dropped %v, want >= %d", got, n-8-1)
	}
	if got := h.count(h.m.Deliveries, "hung", OutcomeSuccess) + h.count(h.m.Deliveries, "hung", OutcomeFailure); got != 0 {
		t.Errorf("hung finished %v deliveries while hanging", got)
	}
}

func TestOnOutcomeReportsEachDelivery(t *testing.T) {
	var mu sync.Mutex
	var got []Outcome
	ok := &scripted{name: "ok", errs: []error{errRetry}}
	bad := &scripted{name: "bad", errs: []error{errPerm}}
	h := newHarness(t, Config{
		Notifiers: map[string]Notifier{"ok": ok, "bad": bad},
		OnOutcome: func(o Outcome) { mu.Lock(); got = append(got, o); mu.Unlock() },
	})
	h.d.Send(trippedEvent())
	h.advanceUntil(t, "both outcomes", time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
	by := map[string]Outcome{}
	for _, o := range got {
		by[o.Notifier] = o
	}
	if o := by["ok"]; !o.Delivered || o.Attempts != 2 || o.Error != "" || o.IncidentID != "inc-checkout-w-42" || o.Type != event.Tripped {
		t.Errorf("ok outcome %+v", o)
	}
	if o := by["bad"]; o.Delivered || o.Attempts != 1 || !strings.Contains(o.Error, "invalid event") || o.Target != "checkout" {
		t.Errorf("bad outcome %+v", o)
	}
}

// TestQueueOverflowReportsTheDroppedEvents: an event dropped from a full
// queue ends without delivery, and OnOutcome says so. Before, it was never
// reported: the daemon kept it "in flight" for the life of the process (a
// map entry per dropped alert) and so never sent it again from its outbox.
func TestQueueOverflowReportsTheDroppedEvents(t *testing.T) {
	var mu sync.Mutex
	var got []Outcome
	n := &scripted{name: "slow", gate: make(chan struct{}), started: make(chan Event, 10)}
	h := newHarness(t, Config{Notifiers: map[string]Notifier{"slow": n}, QueueSize: 2,
		OnOutcome: func(o Outcome) { mu.Lock(); got = append(got, o); mu.Unlock() }})
	for i := 1; i <= 5; i++ {
		ev := trippedEvent()
		ev.ID, ev.IncidentID = fmt.Sprintf("alert-%d", i), fmt.Sprintf("inc-%d", i)
		h.d.Send(ev)
		if i == 1 {
			<-n.started // alert-1 is in flight, the queue is empty
		}
	}
	mu.Lock()
	dropped := append([]Outcome(nil), got...)
	mu.Unlock()
	if len(dropped) != 2 {
		t.Fatalf("outcomes before any delivery ended: %+v, want the 2 dropped events", dropped)
	}
	for i, o := range dropped {
		want := fmt.Sprintf("alert-%d", i+2)
		if o.ID != want || o.Notifier != "slow" || o.Delivered || o.Permanent || o.Attempts != 0 || !strings.Contains(o.Error, "queue full") {
			t.Errorf("outcome %d = %+v, want %s not delivered, not permanent, 0 attempts, queue full", i, o, want)
		}
	}
	close(n.gate)
}
