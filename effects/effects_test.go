package effects

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// fixture is an Applier over a bolt store, an outbox whose one notifier
// never answers (so staged alerts stay in the outbox) and a Start that
// records what it is given.
type fixture struct {
	a       *Applier
	st      store.Store
	ctx     context.Context
	t       *targets.Target
	opened  *prometheus.CounterVec
	mu      sync.Mutex
	started []watch.Effect
}

type silent struct{}

func (silent) Name() string                                     { return "oncall" }
func (silent) Notify(ctx context.Context, _ notify.Event) error { <-ctx.Done(); return ctx.Err() }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	disp := notify.New(notify.Config{Notifiers: map[string]notify.Notifier{"oncall": silent{}}, Clock: clk, Logger: zap.NewNop()})
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = disp.Close(ctx)
	})
	f := &fixture{st: st, ctx: context.Background(), t: &targets.Target{Conf: config.Target{Name: "api", Function: "fn", Alias: "live"}},
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "incidents"}, []string{"target", "trigger"})}
	f.a = New(Config{Store: st, Clock: clk, Logger: zap.NewNop(), Incidents: f.opened,
		Outbox:       notify.NewOutbox(notify.OutboxConfig{Store: st, Clock: clk, Dispatcher: func() *notify.Dispatcher { return disp }}),
		Redactor:     func() *config.Redactor { return config.NewRedactor("s3cret-value") },
		InForce:      func(context.Context, string) ([]store.Override, error) { return nil, nil },
		SetKnownGood: func(context.Context, string, string) error { return nil },
		Start: func(_ context.Context, _ *targets.Target, _ store.Watch, e watch.Effect) {
			f.mu.Lock()
			f.started = append(f.started, e)
			f.mu.Unlock()
		}})
	return f
}

// watch creates a baking watch and returns it as stored.
func (f *fixture) watch(t *testing.T, id string) store.Watch {
	t.Helper()
	if err := f.st.CreateWatch(f.ctx, store.Watch{ID: id, Target: "api", NewVersion: "3", KnownGood: "2", Phase: store.PhaseBaking}); err != nil {
		t.Fatal(err)
	}
	w, err := f.st.GetWatch(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (f *fixture) outbox(t *testing.T) map[string]bool {
	t.Helper()
	es, err := f.st.ListOutbox(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range es {
		ids[e.ID] = true
	}
	return ids
}

func (f *fixture) events(t *testing.T, watchID string) int {
	t.Helper()
	es, err := f.st.Events(f.ctx, store.EventFilter{WatchID: watchID})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestApplyStopsAtAStaleSave: a transition computed from a copy of a watch
// that changed since is not applied: nothing after its Save happens, and
// the alert it staged is taken back from the outbox. Computed again from
// the fresh copy, it applies in full.
func TestApplyStopsAtAStaleSave(t *testing.T) {
	f := newFixture(t)
	w := f.watch(t, "w1")
	if _, err := f.st.UpdateWatch(f.ctx, w.ID, func(x *store.Watch) error { x.Reason = "touched"; return nil }); err != nil {
		t.Fatal(err)
	}
	effs := func(w store.Watch) []watch.Effect {
		w.Phase = store.PhaseTripped
		return []watch.Effect{watch.Save{Watch: w},
			watch.Note{Kind: event.Tripped, Alert: event.Tripped, Severity: event.Critical, Target: "api", WatchID: w.ID, Message: "tripped"},
			watch.RunPlan{IncidentID: "inc-1"}}
	}
	err := f.a.Apply(f.ctx, f.t, w, effs(w))
	if !errors.Is(err, ErrStale) {
		t.Fatalf("apply on a stale copy: %v, want ErrStale", err)
	}
	if ids, n := f.outbox(t), f.events(t, w.ID); len(ids) != 0 || n != 0 || len(f.started) != 0 {
		t.Fatalf("after a stale save: outbox %v, %d events, started %v; want nothing", ids, n, f.started)
	}
	fresh, _ := f.st.GetWatch(f.ctx, w.ID)
	if err := f.a.Apply(f.ctx, f.t, fresh, effs(fresh)); err != nil {
		t.Fatal(err)
	}
	got, _ := f.st.GetWatch(f.ctx, w.ID)
	if got.Phase != store.PhaseTripped || !f.outbox(t)["w1/tripped"] || f.events(t, w.ID) != 1 || len(f.started) != 1 {
		t.Fatalf("after a fresh apply: phase %s, outbox %v, %d events, started %v", got.Phase, f.outbox(t), f.events(t, w.ID), f.started)
	}
}

// TestOpenIncidentOnePerTarget: one open incident per target, whatever
// opens it; the same one again is fine for a watch, not for a manual
// rollback (exclusive).
func TestOpenIncidentOnePerTarget(t *testing.T) {
	f := newFixture(t)
	a := store.Incident{ID: "inc-a", Target: "api", Trigger: "policy", FromVersion: "3", ToVersion: "2"}
	b := store.Incident{ID: "inc-b", Target: "api", Trigger: "manual", FromVersion: "3", ToVersion: "2"}
	steps := []struct {
		name      string
		inc       store.Incident
		exclusive bool
		openBy    string // the open incident refusing it; "" when it opens
	}{
		{"first", a, false, ""},
		{"the same again, for its watch", a, false, ""},
		{"the same again, exclusive", a, true, "inc-a"},
		{"another while one is open", b, true, "inc-a"},
	}
	for _, s := range steps {
		err := f.a.OpenIncident(f.ctx, s.inc, s.exclusive)
		var open IncidentOpenError
		switch {
		case s.openBy == "" && err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case s.openBy != "" && (!errors.As(err, &open) || open.ID != s.openBy):
			t.Fatalf("%s: %v, want refused by %s", s.name, err, s.openBy)
		}
	}
	if _, err := f.st.UpdateIncident(f.ctx, a.ID, func(x *store.Incident) error { x.Outcome = store.OutcomeRolledBack; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := f.a.OpenIncident(f.ctx, b, true); err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	if n := testutil.ToFloat64(f.opened.WithLabelValues("api", "policy")) + testutil.ToFloat64(f.opened.WithLabelValues("api", "manual")); n != 2 {
		t.Fatalf("incidents counted %v, want 2 (each once)", n)
	}
}

// TestOrphanIncidentIsRun: an open incident whose watch the store lost
// (its trip's save came after Redis came back empty) refuses a new trip of
// the target, and has its own plan started, so that the new trip opens
// once it has closed; an open incident whose watch is there only refuses.
func TestOrphanIncidentIsRun(t *testing.T) {
	f := newFixture(t)
	kept := f.watch(t, "w-kept")
	trip := func(id, watchID string) error {
		w := store.Watch{ID: watchID, Target: "api", NewVersion: "3", KnownGood: "2"}
		return f.a.Apply(f.ctx, f.t, w, []watch.Effect{watch.OpenIncident{Incident: store.Incident{ID: id, Target: "api",
			WatchID: watchID, Trigger: "policy", FromVersion: "3", ToVersion: "2"}}})
	}
	if err := trip("inc-kept", kept.ID); err != nil {
		t.Fatal(err)
	}
	var open IncidentOpenError
	if err := trip("inc-next", "w-next"); !errors.As(err, &open) || open.Orphan || len(f.started) != 0 {
		t.Fatalf("refused by an incident whose watch is there: %v (orphan %v), started %v; want refused, nothing started", err, open.Orphan, f.started)
	}
	if _, err := f.st.UpdateIncident(f.ctx, "inc-kept", func(x *store.Incident) error { x.Outcome = store.OutcomeRolledBack; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := trip("inc-lost", "w-lost"); err != nil { // its watch was never saved
		t.Fatal(err)
	}
	err := trip("inc-next", "w-next")
	if !errors.As(err, &open) || !open.Orphan || open.ID != "inc-lost" {
		t.Fatalf("refused by %v, want IncidentOpenError of the orphan inc-lost", err)
	}
	if len(f.started) != 1 || f.started[0] != (watch.RunPlan{IncidentID: "inc-lost"}) {
		t.Fatalf("started %v, want the orphan's plan", f.started)
	}
}

// TestTransitRetriesAStaleWatch: a transition whose watch changed between
// its read and its save is computed again on the fresh copy, so an outcome
// is not lost to a concurrent update.
func TestTransitRetriesAStaleWatch(t *testing.T) {
	f := newFixture(t)
	w := f.watch(t, "w1")
	calls := 0
	err := f.a.Transit(f.ctx, f.t, w.ID, func(w store.Watch) (store.Watch, []watch.Effect) {
		calls++
		if calls == 1 { // someone else writes the watch meanwhile
			if _, err := f.st.UpdateWatch(f.ctx, w.ID, func(x *store.Watch) error { x.Reason = "other"; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		w.Phase = store.PhaseRolledBack
		return w, []watch.Effect{watch.Save{Watch: w}}
	})
	got, _ := f.st.GetWatch(f.ctx, w.ID)
	if err != nil || calls != 2 || got.Phase != store.PhaseRolledBack || got.Reason != "other" {
		t.Fatalf("transit: err %v, %d calls, watch %s %q; want the second call applied on the fresh copy", err, calls, got.Phase, got.Reason)
	}
}

// TestAlertsAreRedacted: a secret the config resolved never reaches an
// alert, in its message or its actions.
func TestAlertsAreRedacted(t *testing.T) {
	f := newFixture(t)
	n := watch.Note{Kind: event.RollbackDone, Alert: event.RollbackDone, Target: "api", IncidentID: "inc-1",
		Message: "hook said s3cret-value", Actions: []watch.Action{{Name: "hook", Detail: "token=s3cret-value", Error: "s3cret-value refused"}}}
	ev := f.a.alertEvent(f.ctx, f.t, n)
	for _, s := range []string{ev.Message, ev.Actions[0].Detail, ev.Actions[0].Error} {
		if strings.Contains(s, "s3cret-value") {
			t.Fatalf("alert carries the secret: %q", s)
		}
	}
	if ev.ID != "inc-1/rollback_done" || ev.Function != "fn" || ev.Alias != "live" {
		t.Fatalf("alert %+v", ev)
	}
}

// TestAlertIDIsStable: the same note gets the same dedup key, whenever it is
// computed (a transition recomputed after a crash pages with the same key).
func TestAlertIDIsStable(t *testing.T) {
	n := watch.Note{Kind: "tripped", Target: "api", WatchID: "w1", IncidentID: "inc-w1"}
	a, b := AlertID(n, time.Unix(1, 0)), AlertID(n, time.Unix(2, 0))
	if a != b || a != "inc-w1/tripped" {
		t.Fatalf("alert ids %q %q", a, b)
	}
}
