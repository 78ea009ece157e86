package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/canaryd/canaryd/event"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Dispatcher defaults.
const (
	DefaultQueueSize   = 256
	DefaultMaxAttempts = 5
	DefaultTimeout     = 10 * time.Second
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = time.Minute
)

// Backoff is the exponential delay between attempts: Base, 2*Base, 4*Base
// ... capped at Max. A receiver's Retry-After hint lengthens it, up to Max.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
}

// Delay is the wait after failed attempt number attempt (1-based).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// NotifierOptions are per-notifier delivery settings; zero values take
// the Dispatcher's.
type NotifierOptions struct {
	Events      []event.Kind // deliver only these; empty = all
	Timeout     time.Duration
	MaxAttempts int
	QueueSize   int
}

// Config configures a Dispatcher. Zero values get defaults.
type Config struct {
	Notifiers map[string]Notifier        // by configured name
	Options   map[string]NotifierOptions // optional, by name (see OptionsFromConfig)
	// Routes names the notifiers of a target; nil sends every event to
	// every notifier (see RoutesFromTargets).
	Routes      func(target string) []string
	Clock       clockwork.Clock
	Logger      *zap.Logger
	Metrics     *Metrics
	QueueSize   int           // per notifier; when full the oldest event is dropped
	MaxAttempts int           // per event, first attempt included
	Timeout     time.Duration // per attempt
	Backoff     Backoff
	// OnOutcome, when set, is told how each delivery ended (for the
	// incident history: which alerts went out). It runs on the notifier's
	// worker goroutine, or on the sender's for an event dropped from a full
	// queue (Attempts 0, Error ErrQueueFull), and must return quickly.
	OnOutcome func(Outcome)
}

// Outcome is how one event's delivery to one notifier ended.
type Outcome struct {
	ID         string // Event.ID
	Notifier   string
	Type       event.Kind
	Target     string
	WatchID    string
	IncidentID string
	Delivered  bool
	// Permanent is set when the notifier refused the event for good (a
	// redelivery would fail the same way).
	Permanent bool
	Attempts  int
	Error     string // the last attempt's error, redacted; "" when delivered
	Time      time.Time
}

// EventFilter is implemented by notifiers that take only some event types
// (PagerDuty pages only for incidents); the dispatcher does not queue the
// rest for them.
type EventFilter interface {
	Handles(t event.Kind) bool
}

// Dispatcher delivers events to notifiers asynchronously. Send never
// blocks: each notifier has a bounded queue and its own worker goroutine,
// so a slow or hanging receiver delays nobody but itself (promise 9).
type Dispatcher struct {
	c       Config
	workers map[string]*worker
	names   []string        // sorted, for routes == nil
	ctx     context.Context // cancelled when Close runs out of time
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New starts a worker per notifier.
func New(c Config) *Dispatcher {
	c = withDefaults(c)
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{c: c, workers: map[string]*worker{}, ctx: ctx, cancel: cancel}
	for name, n := range c.Notifiers {
		d.names = append(d.names, name)
		d.workers[name] = newWorker(d, name, n, c.Options[name])
	}
	sort.Strings(d.names)
	c.Metrics.Init(d.names...)
	for _, name := range d.names {
		w := d.workers[name]
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			w.run()
		}()
	}
	return d
}

func withDefaults(c Config) Config {
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Backoff.Base <= 0 {
		c.Backoff.Base = DefaultBackoffBase
	}
	if c.Backoff.Max < c.Backoff.Base {
		c.Backoff.Max = max(DefaultBackoffMax, c.Backoff.Base)
	}
	return c
}

// Send queues ev for every notifier routed to its target that takes its
// type, and returns at once. It never blocks on delivery: when a queue is
// full the oldest event in it is dropped, counted and logged. The caller
// must not modify ev (its slices and pointers) after Send.
func (d *Dispatcher) Send(ev Event) { d.SendTo(ev, d.Recipients(ev)) }

// Recipients are the notifiers Send queues ev for: those routed to its
// target that take its type, each once.
func (d *Dispatcher) Recipients(ev Event) []string {
	names := d.route(ev.Target)
	var out []string
	for i, name := range names {
		if slices.Contains(names[:i], name) {
			continue // listed twice: deliver once
		}
		w, ok := d.workers[name]
		if !ok {
			d.c.Logger.Warn("notify: route names an unknown notifier",
				zap.String("notifier", name), zap.String("target", ev.Target))
			continue
		}
		if w.accepts(ev.Type) {
			out = append(out, name)
		}
	}
	return out
}

// Knows reports whether name is one of the dispatcher's notifiers.
func (d *Dispatcher) Knows(name string) bool {
	_, ok := d.workers[name]
	return ok
}

// SendTo is Send to the named notifiers only (a redelivery of what the
// outbox says they still owe).
func (d *Dispatcher) SendTo(ev Event, names []string) {
	for _, name := range names {
		if w, ok := d.workers[name]; ok {
			w.enqueue(ev)
		}
	}
}

func (d *Dispatcher) route(target string) []string {
	if d.c.Routes == nil {
		return d.names
	}
	return d.c.Routes(target)
}

// Close stops taking events and waits until every queued event has been
// delivered or given up, or until ctx is done. Then it cancels attempts
// and backoff waits still running, counts events still queued as dropped
// and returns ctx's error without waiting for a notifier that ignores its
// context.
func (d *Dispatcher) Close(ctx context.Context) error {
	for _, w := range d.workers {
		w.close()
	}
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel()
		return fmt.Errorf("notify: close: queued events not delivered: %w", ctx.Err())
	}
}

// Wait blocks until every worker has returned: after Close, once the
// attempts it cancelled have come back. A process that exits needs no
// Wait; one that goes on (a test whose logger must not outlive it, a
// daemon restarted in place) does.
func (d *Dispatcher) Wait() { d.wg.Wait() }

// deliver makes up to MaxAttempts attempts of ev on w, with backoff. Each
// outcome is logged before it is counted, so a metric never runs ahead of
// the log line that explains it.
func (d *Dispatcher) deliver(w *worker, ev Event) delivery {
	log := d.c.Logger.With(append(eventFields(ev), zap.String("notifier", w.name))...)
	for attempt := 1; ; attempt++ {
		err := d.attempt(w, ev)
		switch {
		case err == nil:
			d.c.Metrics.Attempts.WithLabelValues(w.name, AttemptSuccess).Inc()
			log.Debug("notify: delivered", zap.Int("attempt", attempt))
			d.c.Metrics.Deliveries.WithLabelValues(w.name, OutcomeSuccess).Inc()
			d.report(w, ev, attempt, nil)
			return delivered
		case !Retryable(err):
			d.c.Metrics.Attempts.WithLabelValues(w.name, AttemptPermanent).Inc()
			log.Error("notify: delivery failed permanently", zap.Int("attempt", attempt), zap.Error(err))
			d.c.Metrics.Deliveries.WithLabelValues(w.name, OutcomeFailure).Inc()
			d.reportPermanent(w, ev, attempt, err)
			return refused
		}
		d.c.Metrics.Attempts.WithLabelValues(w.name, AttemptRetryable).Inc()
		if attempt >= w.maxAttempts {
			log.Error("notify: delivery failed, attempts exhausted", zap.Int("attempt", attempt), zap.Error(err))
			d.c.Metrics.Deliveries.WithLabelValues(w.name, OutcomeFailure).Inc()
			d.report(w, ev, attempt, err)
			return undelivered
		}
		delay := d.c.Backoff.Delay(attempt)
		if ra := retryAfter(err); ra > delay {
			delay = min(ra, d.c.Backoff.Max)
		}
		log.Warn("notify: delivery attempt failed, will retry", zap.Int("attempt", attempt),
			zap.Duration("backoff", delay), zap.Error(err))
		select {
		case <-d.c.Clock.After(delay):
		case <-d.ctx.Done():
			log.Error("notify: delivery abandoned at shutdown", zap.Int("attempt", attempt), zap.Error(err))
			d.c.Metrics.Deliveries.WithLabelValues(w.name, OutcomeFailure).Inc()
			d.report(w, ev, attempt, err)
			return undelivered
		}
	}
}

func (d *Dispatcher) report(w *worker, ev Event, attempts int, err error) {
	d.outcome(w, ev, attempts, err, false)
}

func (d *Dispatcher) reportPermanent(w *worker, ev Event, attempts int, err error) {
	d.outcome(w, ev, attempts, err, true)
}

func (d *Dispatcher) outcome(w *worker, ev Event, attempts int, err error, permanent bool) {
	if d.c.OnOutcome == nil {
		return
	}
	o := Outcome{ID: ev.ID, Notifier: w.name, Type: ev.Type, Target: ev.Target, WatchID: ev.WatchID, IncidentID: ev.IncidentID,
		Delivered: err == nil, Permanent: permanent, Attempts: attempts, Time: d.c.Clock.Now()}
	if err != nil {
		o.Error = err.Error()
	}
	d.c.OnOutcome(o)
}

// attempt runs one Notify under the per-attempt timeout. A panicking
// notifier is a permanent failure, not a dead daemon.
func (d *Dispatcher) attempt(w *worker, ev Event) (err error) {
	ctx, cancel := clockwork.WithTimeout(d.ctx, d.c.Clock, w.timeout)
	defer cancel()
	start := d.c.Clock.Now()
	defer func() {
		d.c.Metrics.Duration.WithLabelValues(w.name).Observe(d.c.Clock.Since(start).Seconds())
		if r := recover(); r != nil {
			err = &DeliveryError{Notifier: w.name, Err: fmt.Errorf("notifier panicked: %v", r)}
		}
	}()
	err = w.n.Notify(ctx, ev)
	if err != nil && done(ctx) && d.ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
		// The attempt ran out of time; say so whatever the notifier said.
		err = fmt.Errorf("attempt timed out after %s: %w", w.timeout, err)
	}
	return err
}

// done reports whether ctx is done without blocking. (A clockwork fake
// clock context's Err blocks until it is done, so Err cannot be used.)
func done(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

func eventFields(ev Event) []zap.Field {
	fs := []zap.Field{zap.String("event", string(ev.Type)), zap.String("target", ev.Target)}
	if ev.IncidentID != "" {
		fs = append(fs, zap.String("incident", ev.IncidentID))
	}
	if ev.WatchID != "" {
		fs = append(fs, zap.String("watch", ev.WatchID))
	}
	return fs
}
