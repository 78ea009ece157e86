package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/store"
)

// Outbox makes alerts at least once (promise 12). An alert is written to
// the store, one entry per notifier that takes it, before the state change
// it reports is applied (Stage); the entry goes when its notifier has it or
// refused it for good (Delivered); whatever a crash, a lease take-over or a
// notifier outage left behind is sent again with the same Event.ID — the
// dedup key PagerDuty and receivers use (Redeliver). So a page is never lost
// between a state change and its delivery, and every trigger gets its
// resolve.
type Outbox struct {
	cfg OutboxConfig

	mu       sync.Mutex
	inFlight map[string]bool // id + notifier: handed to the dispatcher, no outcome yet
	lastScan time.Time
}

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	Store store.Store
	// Dispatcher returns the dispatcher in use (it is rebuilt on reload).
	Dispatcher func() *Dispatcher
	Clock      clockwork.Clock
	Logger     *zap.Logger
	// RedeliverAfter is how long an entry may wait, not in flight here,
	// before RedeliverDue sends it again; default one minute.
	RedeliverAfter time.Duration
}

// Staged is an alert written to the outbox, not yet dispatched.
type Staged struct {
	Event Event
	names []string
}

// NewOutbox builds an Outbox.
func NewOutbox(c OutboxConfig) *Outbox {
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.RedeliverAfter <= 0 {
		c.RedeliverAfter = time.Minute
	}
	return &Outbox{cfg: c, inFlight: map[string]bool{}}
}

func flightKey(id, notifier string) string { return id + "\x00" + notifier }

// Stage writes the events to the outbox in one store write, each for the
// notifiers that will take it.
func (o *Outbox) Stage(ctx context.Context, evs []Event) ([]*Staged, error) {
	var entries []store.OutboxEntry
	out := make([]*Staged, 0, len(evs))
	d := o.cfg.Dispatcher()
	for _, ev := range evs {
		st := &Staged{Event: ev, names: d.Recipients(ev)}
		raw, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode alert %s: %w", ev.ID, err)
		}
		for _, name := range st.names {
			entries = append(entries, store.OutboxEntry{ID: ev.ID, Notifier: name, Target: ev.Target, Created: ev.Time, Event: raw})
		}
		out = append(out, st)
	}
	if len(entries) > 0 {
		if err := o.cfg.Store.PutOutbox(ctx, entries); err != nil {
			return nil, fmt.Errorf("write alerts to the outbox: %w", err)
		}
	}
	return out, nil
}

// Unstage takes back staged alerts whose state change did not happen.
func (o *Outbox) Unstage(ctx context.Context, sts []*Staged) {
	for _, st := range sts {
		for _, name := range st.names {
			_ = o.cfg.Store.DeleteOutbox(ctx, st.Event.ID, name)
		}
	}
}

// Dispatch hands a staged alert to its notifiers; it never blocks.
func (o *Outbox) Dispatch(st *Staged) {
	if len(st.names) == 0 {
		return
	}
	o.mu.Lock()
	for _, name := range st.names {
		o.inFlight[flightKey(st.Event.ID, name)] = true
	}
	o.mu.Unlock()
	o.cfg.Dispatcher().SendTo(st.Event, st.names)
}

// Send stages and dispatches one alert. When the outbox cannot be written
// the alert is still sent, once, and the error returned.
func (o *Outbox) Send(ctx context.Context, ev Event) error {
	sts, err := o.Stage(ctx, []Event{ev})
	if err != nil {
		d := o.cfg.Dispatcher()
		d.SendTo(ev, d.Recipients(ev))
		return err
	}
	o.Dispatch(sts[0])
	return nil
}

// Delivered removes a delivered (or refused for good) alert from the
// outbox; one whose attempts ran out stays there for redelivery. Give it
// every Outcome of the dispatcher (Config.OnOutcome).
func (o *Outbox) Delivered(ctx context.Context, out Outcome) {
	if out.ID == "" {
		return
	}
	o.mu.Lock()
	delete(o.inFlight, flightKey(out.ID, out.Notifier))
	o.mu.Unlock()
	if !out.Delivered && !out.Permanent {
		return
	}
	if err := o.cfg.Store.DeleteOutbox(ctx, out.ID, out.Notifier); err != nil {
		o.cfg.Logger.Warn("delivered alert still in the outbox", zap.String("alert", out.ID),
			zap.String("notifier", out.Notifier), zap.Error(err))
	}
}

// Redeliver sends again what the outbox holds for the targets owns accepts
// and is not in flight here, if it is older than olderThan: everything at
// start and on a lease take-over (olderThan 0).
func (o *Outbox) Redeliver(ctx context.Context, owns func(target string) bool, olderThan time.Duration) {
	es, err := o.cfg.Store.ListOutbox(ctx)
	if err != nil {
		o.cfg.Logger.Error("list outbox", zap.Error(err))
		return
	}
	now := o.cfg.Clock.Now()
	d := o.cfg.Dispatcher()
	for _, e := range es {
		if !owns(e.Target) || now.Sub(e.Created) < olderThan {
			continue
		}
		o.mu.Lock()
		busy := o.inFlight[flightKey(e.ID, e.Notifier)]
		o.mu.Unlock()
		if busy {
			continue
		}
		if !d.Knows(e.Notifier) {
			o.cfg.Logger.Warn("alert for a notifier no longer configured; dropped", zap.String("alert", e.ID), zap.String("notifier", e.Notifier))
			_ = o.cfg.Store.DeleteOutbox(ctx, e.ID, e.Notifier)
			continue
		}
		var ev Event
		if err := json.Unmarshal(e.Event, &ev); err != nil {
			o.cfg.Logger.Error("unreadable alert in the outbox; dropped", zap.String("alert", e.ID), zap.Error(err))
			_ = o.cfg.Store.DeleteOutbox(ctx, e.ID, e.Notifier)
			continue
		}
		o.cfg.Logger.Info("sending an alert again", zap.String("alert", e.ID), zap.String("notifier", e.Notifier))
		o.Dispatch(&Staged{Event: ev, names: []string{e.Notifier}})
	}
}

// RedeliverDue runs Redeliver for entries older than RedeliverAfter, at
// most once every RedeliverAfter (a notifier that was down is caught up).
func (o *Outbox) RedeliverDue(ctx context.Context, owns func(target string) bool) {
	now := o.cfg.Clock.Now()
	o.mu.Lock()
	due := now.Sub(o.lastScan) >= o.cfg.RedeliverAfter
	if due {
		o.lastScan = now
	}
	o.mu.Unlock()
	if due {
		o.Redeliver(ctx, owns, o.cfg.RedeliverAfter)
	}
}

// InFlight is how many alerts are handed to the dispatcher and await their
// outcome (a gauge for leaks: it must not grow with the process's age).
func (o *Outbox) InFlight() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.inFlight)
}
