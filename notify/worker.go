package notify

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/canaryd/canaryd/event"

	"go.uber.org/zap"
)

// worker owns one notifier's bounded queue and delivers from it in order.
type worker struct {
	d           *Dispatcher
	name        string
	n           Notifier
	events      map[event.Kind]bool // nil = all
	timeout     time.Duration
	maxAttempts int
	queueSize   int

	mu      sync.Mutex
	q       []Event
	closing bool
	wake    chan struct{} // capacity 1: "the queue changed"

	// held: per incident, its events whose attempts ran out, oldest first
	// (order.go). Only the worker's goroutine uses it.
	held map[string][]Event
}

func newWorker(d *Dispatcher, name string, n Notifier, o NotifierOptions) *worker {
	w := &worker{d: d, name: name, n: n, timeout: o.Timeout, maxAttempts: o.MaxAttempts, wake: make(chan struct{}, 1)}
	if w.timeout <= 0 {
		w.timeout = d.c.Timeout
	}
	if w.maxAttempts <= 0 {
		w.maxAttempts = d.c.MaxAttempts
	}
	w.queueSize = o.QueueSize
	if w.queueSize <= 0 {
		w.queueSize = d.c.QueueSize
	}
	if len(o.Events) > 0 {
		w.events = map[event.Kind]bool{}
		for _, t := range o.Events {
			w.events[t] = true
		}
	}
	return w
}

// accepts applies the configured filter and the notifier's own.
func (w *worker) accepts(t event.Kind) bool {
	if w.events != nil && !w.events[t] {
		return false
	}
	if f, ok := w.n.(EventFilter); ok && !f.Handles(t) {
		return false
	}
	return true
}

// enqueue adds ev, dropping the oldest queued event when full. It holds
// the lock only for slice operations and never waits on the worker. After
// close it drops ev: the worker may already have drained and exited.
func (w *worker) enqueue(ev Event) {
	m := w.d.c.Metrics
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		m.Dropped.WithLabelValues(w.name).Inc()
		w.d.c.Logger.Warn("notify: event dropped: dispatcher closed", append(eventFields(ev), zap.String("notifier", w.name))...)
		return
	}
	var dropped *Event
	if len(w.q) >= w.queueSize {
		old := w.q[0]
		dropped = &old
		w.q[0] = Event{}
		w.q = w.q[1:]
	}
	w.q = append(w.q, ev)
	m.QueueLen.WithLabelValues(w.name).Set(float64(len(w.q)))
	w.mu.Unlock()

	if dropped != nil {
		m.Dropped.WithLabelValues(w.name).Inc()
		w.d.c.Logger.Warn("notify: queue full, oldest event dropped",
			append(eventFields(*dropped), zap.String("notifier", w.name), zap.Int("queue_size", w.queueSize))...)
		// Its delivery ended too: whoever waits for the outcome (the
		// daemon's outbox keeps the alert and sends it again) must learn it.
		w.d.outcome(w, *dropped, 0, fmt.Errorf("%w (%d events)", ErrQueueFull, w.queueSize), false)
	}
	w.signal()
}

// ErrQueueFull is the Outcome error of an event dropped from a full queue
// before any attempt.
var ErrQueueFull = errors.New("dropped: notifier queue full")

func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) close() {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	w.signal()
}

// next waits for the next event; false when closing with an empty queue
// or when the dispatcher was stopped (the rest then counts as dropped).
func (w *worker) next() (Event, bool) {
	for {
		if w.d.ctx.Err() != nil {
			w.dropRest()
			return Event{}, false
		}
		w.mu.Lock()
		if len(w.q) > 0 {
			ev := w.q[0]
			w.q[0] = Event{}
			w.q = w.q[1:]
			w.d.c.Metrics.QueueLen.WithLabelValues(w.name).Set(float64(len(w.q)))
			w.mu.Unlock()
			return ev, true
		}
		closing := w.closing
		w.mu.Unlock()
		if closing {
			return Event{}, false
		}
		select {
		case <-w.wake:
		case <-w.d.ctx.Done():
		}
	}
}

func (w *worker) dropRest() {
	w.mu.Lock()
	n := len(w.q)
	w.q = nil
	w.d.c.Metrics.QueueLen.WithLabelValues(w.name).Set(0)
	w.mu.Unlock()
	if n > 0 {
		w.d.c.Metrics.Dropped.WithLabelValues(w.name).Add(float64(n))
		w.d.c.Logger.Warn("notify: queued events dropped at shutdown", zap.String("notifier", w.name), zap.Int("count", n))
	}
}

func (w *worker) run() {
	for {
		ev, ok := w.next()
		if !ok {
			return
		}
		w.d.deliverInOrder(w, ev)
	}
}
