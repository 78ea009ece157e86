// Package effects carries out what the watch life cycle decides
// (watch.Effect): it is the one place that writes a transition to the
// store, the history, the log and the alert outbox. The effects that start
// work off the run loop (a rollback plan, a traffic shift, a traffic hook)
// are handed, in their place among the others, to Config.Start (package
// runner), whose outcomes come back through Transit.
package effects

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// Config is what an Applier is built from.
type Config struct {
	Store  store.Store
	Outbox *notify.Outbox
	Clock  clockwork.Clock
	Logger *zap.Logger
	// Metrics count incidents and rollbacks and time detections (the
	// daemon's families); nil ones are not counted.
	Incidents    *prometheus.CounterVec // target, trigger
	Rollbacks    *prometheus.CounterVec // target, outcome
	DetectToTrip prometheus.Histogram
	// Redactor returns the redactor in force (every secret the config
	// resolved): alerts never carry a secret.
	Redactor func() *config.Redactor
	// InForce returns the overrides in force that apply to target, which
	// its alerts list.
	InForce func(ctx context.Context, target string) ([]store.Override, error)
	// SetKnownGood records version as target's known-good (through the
	// detector, which serialises it with its own writes of the target's
	// state).
	SetKnownGood func(ctx context.Context, target, version string) error
	// Start starts an effect that runs off the run loop: watch.RunPlan,
	// watch.SetTraffic or watch.RunHook.
	Start func(ctx context.Context, t *targets.Target, w store.Watch, e watch.Effect)
}

// Applier applies effects. It is safe for concurrent use.
type Applier struct {
	cfg Config

	mu         sync.Mutex
	incidentMu map[string]*sync.Mutex // per target: opening an incident
}

// New builds an Applier.
func New(c Config) *Applier {
	return &Applier{cfg: c, incidentMu: map[string]*sync.Mutex{}}
}

// ErrStale says a watch changed since the transition read it.
var ErrStale = errors.New("watch changed since it was read")

// Apply carries out a transition's effects in order. A failed guard (a
// stale Save, an override another replica claimed, an incident that could
// not be opened) stops the rest: the next tick recomputes the transition
// from fresh state.
//
// The alerts among the effects are written to the outbox first (alerts.go):
// a crash after the transition cannot lose them; a transition whose guard
// fails takes back the ones it did not send.
func (a *Applier) Apply(ctx context.Context, t *targets.Target, w store.Watch, effs []watch.Effect) error {
	sts, err := a.stage(ctx, t, effs)
	if err != nil {
		return err
	}
	for i, e := range effs {
		if n, ok := e.(watch.Note); ok {
			a.applyNote(ctx, w, n, sts[i])
			delete(sts, i)
			continue
		}
		if err := a.applyEffect(ctx, t, w, e); err != nil {
			unsent := make([]*notify.Staged, 0, len(sts))
			for _, st := range sts {
				unsent = append(unsent, st)
			}
			a.cfg.Outbox.Unstage(ctx, unsent)
			return err
		}
	}
	return nil
}

func (a *Applier) applyNote(ctx context.Context, w store.Watch, n watch.Note, st *notify.Staged) {
	if n.Kind == event.Tripped && w.ID == n.WatchID && a.cfg.DetectToTrip != nil {
		a.cfg.DetectToTrip.Observe(a.cfg.Clock.Now().Sub(w.DetectedAt).Seconds())
	}
	a.record(ctx, n)
	if st != nil {
		a.cfg.Outbox.Dispatch(st)
	}
}

func (a *Applier) applyEffect(ctx context.Context, t *targets.Target, w store.Watch, e watch.Effect) error {
	switch e := e.(type) {
	case watch.Save:
		return a.save(ctx, e.Watch)
	case watch.Claim:
		if err := a.cfg.Store.DeleteOverride(ctx, e.Override.ID); err != nil {
			return fmt.Errorf("claim override %s: %w", e.Override.ID, err)
		}
	case watch.OpenIncident:
		err := a.OpenIncident(ctx, e.Incident, false)
		if open := (IncidentOpenError{}); errors.As(err, &open) && open.Orphan {
			// The orphan's plan runs (from the incident); once it has
			// closed, the trip opens its own on a later tick.
			a.cfg.Start(ctx, t, w, watch.RunPlan{IncidentID: open.ID})
		}
		return err
	case watch.CloseIncident:
		now := a.cfg.Clock.Now()
		if _, err := a.cfg.Store.UpdateIncident(ctx, e.IncidentID, func(x *store.Incident) error {
			x.Outcome, x.ClosedAt = e.Outcome, now
			return nil
		}); err != nil {
			a.cfg.Logger.Error("close incident", zap.String("incident", e.IncidentID), zap.Error(err))
		}
		if a.cfg.Rollbacks != nil {
			a.cfg.Rollbacks.WithLabelValues(t.Conf.Name, string(e.Outcome)).Inc()
		}
	case watch.SetKnownGood:
		return a.SetKnownGood(ctx, e.Target, e.Version)
	case watch.RunPlan, watch.SetTraffic, watch.RunHook:
		a.cfg.Start(ctx, t, w, e)
	}
	return nil
}

// SetKnownGood records version as target's known-good.
func (a *Applier) SetKnownGood(ctx context.Context, target, version string) error {
	return a.cfg.SetKnownGood(ctx, target, version)
}

// IncidentOpenError says another incident of the target is still open.
// Orphan: it was opened by a trip whose watch the store no longer has.
type IncidentOpenError struct {
	ID, Trigger string
	Orphan      bool
}

func (e IncidentOpenError) Error() string {
	return fmt.Sprintf("incident %s (%s) of the target is still open", e.ID, e.Trigger)
}

// OpenIncident creates an incident unless another one of the same target is
// still open (IncidentOpenError): one incident, one plan per target at a
// time, whatever opens it (a trip, an operator's force, a manual rollback).
// The same incident again is fine for a watch (re-opening it after a crash
// is idempotent); exclusive (a manual rollback) refuses it too. Only the
// lease owner opens incidents, so the per-target lock here serialises every
// path.
func (a *Applier) OpenIncident(ctx context.Context, inc store.Incident, exclusive bool) error {
	mu := a.incidentLock(inc.Target)
	mu.Lock()
	defer mu.Unlock()
	open, err := a.cfg.Store.ListIncidents(ctx, inc.Target, 50)
	if err != nil {
		return fmt.Errorf("open incident %s: %w", inc.ID, err)
	}
	for _, o := range open {
		if o.Outcome == "" && (o.ID != inc.ID || exclusive) {
			return IncidentOpenError{ID: o.ID, Trigger: o.Trigger, Orphan: a.orphan(ctx, o)}
		}
	}
	err = a.cfg.Store.CreateIncident(ctx, inc)
	switch {
	case err == nil:
		if a.cfg.Incidents != nil {
			a.cfg.Incidents.WithLabelValues(inc.Target, inc.Trigger).Inc()
		}
	case !errors.Is(err, store.ErrExists):
		return fmt.Errorf("open incident %s: %w", inc.ID, err)
	}
	return nil
}

// orphan reports whether o was opened by a trip whose watch the store no
// longer has (it lost its data between the incident's creation and the
// watch's save).
func (a *Applier) orphan(ctx context.Context, o store.Incident) bool {
	if o.WatchID == "" {
		return false
	}
	_, err := a.cfg.Store.GetWatch(ctx, o.WatchID)
	return errors.Is(err, store.ErrNotFound)
}

func (a *Applier) incidentLock(target string) *sync.Mutex {
	a.mu.Lock()
	defer a.mu.Unlock()
	mu, ok := a.incidentMu[target]
	if !ok {
		mu = &sync.Mutex{}
		a.incidentMu[target] = mu
	}
	return mu
}

// Locks is how many targets have an incident lock (their number stays
// bounded by the targets: the soak test checks it).
func (a *Applier) Locks() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.incidentMu)
}

// save writes a watch if nobody changed it since it was read.
func (a *Applier) save(ctx context.Context, w store.Watch) error {
	_, err := a.cfg.Store.UpdateWatch(ctx, w.ID, func(x *store.Watch) error {
		if x.Revision != w.Revision {
			return ErrStale
		}
		*x = w
		return nil
	})
	if err != nil {
		return fmt.Errorf("save watch %s: %w", w.ID, err)
	}
	return nil
}

// Transit runs a transition on the freshest copy of a watch and applies
// it; when the watch changed meanwhile it reads it again and retries, so a
// plan outcome is never lost to a concurrent update.
func (a *Applier) Transit(ctx context.Context, t *targets.Target, id string, f func(store.Watch) (store.Watch, []watch.Effect)) error {
	var err error
	for range 5 {
		var w store.Watch
		if w, err = a.cfg.Store.GetWatch(ctx, id); err != nil {
			return fmt.Errorf("read watch %s: %w", id, err)
		}
		_, effs := f(w)
		if err = a.Apply(ctx, t, w, effs); !errors.Is(err, ErrStale) {
			return err
		}
	}
	return err
}
