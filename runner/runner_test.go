package runner

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// fakeEffects records what the runner hands back to the life cycle.
type fakeEffects struct {
	mu      sync.Mutex
	applied [][]watch.Effect
}

func (f *fakeEffects) Apply(_ context.Context, _ *targets.Target, _ store.Watch, effs []watch.Effect) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, effs)
	return nil
}

func (f *fakeEffects) Transit(_ context.Context, t *targets.Target, id string, tr func(store.Watch) (store.Watch, []watch.Effect)) error {
	_, effs := tr(store.Watch{ID: id})
	return f.Apply(context.Background(), t, store.Watch{}, effs)
}
func (f *fakeEffects) Note(context.Context, *targets.Target, watch.Note)        {}
func (f *fakeEffects) OpenIncident(context.Context, store.Incident, bool) error { return nil }
func (f *fakeEffects) SetKnownGood(context.Context, string, string) error       { return nil }
func (f *fakeEffects) closed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, effs := range f.applied {
		for _, e := range effs {
			if _, ok := e.(watch.CloseIncident); ok {
				n++
			}
		}
	}
	return n
}

// blockingActuator's plans run until release is closed or their context ends.
type blockingActuator struct {
	release chan struct{}
	mu      sync.Mutex
	runs    int
}

func (a *blockingActuator) Execute(ctx context.Context, p actuator.Plan, _ store.Fence) (actuator.Result, error) {
	a.mu.Lock()
	a.runs++
	a.mu.Unlock()
	select {
	case <-a.release:
		return actuator.Result{Outcome: actuator.Outcome(store.OutcomeRolledBack)}, nil
	case <-ctx.Done():
		return actuator.Result{}, ctx.Err()
	}
}

func (a *blockingActuator) ShiftTraffic(context.Context, actuator.TrafficShift, store.Fence) (actuator.ShiftResult, error) {
	return actuator.ShiftResult{}, nil
}

func (a *blockingActuator) RunTrafficHook(context.Context, actuator.TrafficHookInput, config.TrafficHook) (bool, string) {
	return true, ""
}

func (a *blockingActuator) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runs
}

type owned map[string]bool

func (o owned) Fence(target string) (store.Fence, bool) { return store.Fence{}, o[target] }

type fixture struct {
	r   *Runner
	st  store.Store
	clk *clockwork.FakeClock
	act *blockingActuator
	eff *fakeEffects
	t   *targets.Target
}

func newFixture(t *testing.T, leases owned) *fixture {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{st: st, clk: clockwork.NewFakeClock(), act: &blockingActuator{release: make(chan struct{})}, eff: &fakeEffects{},
		t: &targets.Target{Conf: config.Target{Name: "api", Function: "fn", Alias: "live"}}}
	ts := map[string]*targets.Target{"api": f.t}
	f.r = New(Config{Store: st, Clock: f.clk, Logger: zap.NewNop(), Leases: leases, Effects: f.eff,
		Actuator: func() Actuator { return f.act }, Targets: func() map[string]*targets.Target { return ts }})
	t.Cleanup(func() { f.r.Cancel(); f.r.Wait() })
	return f
}

// manual records a manual-style incident (no watch) of api.
func (f *fixture) manual(t *testing.T, id string) store.Incident {
	t.Helper()
	inc := store.Incident{ID: id, Target: "api", FromVersion: "3", ToVersion: "2", Trigger: "manual", Actor: "op"}
	if err := f.st.CreateIncident(context.Background(), inc); err != nil {
		t.Fatal(err)
	}
	return inc
}

// TestPlanRunsOnceOnTheOwner: a plan started twice runs once, and only on
// the replica that owns the target; its outcome closes the incident.
func TestPlanRunsOnceOnTheOwner(t *testing.T) {
	for _, tc := range []struct {
		name  string
		owns  bool
		runs  int
		close int
	}{
		{"owner", true, 1, 1},
		{"not the owner", false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, owned{"api": tc.owns})
			inc := f.manual(t, "inc-1")
			ctx := context.Background()
			f.r.Start(ctx, f.t, store.Watch{}, watch.RunPlan{IncidentID: inc.ID})
			f.r.Start(ctx, f.t, store.Watch{}, watch.RunPlan{IncidentID: inc.ID}) // while the first runs
			close(f.act.release)
			f.r.Wait()
			if f.act.count() != tc.runs || f.eff.closed() != tc.close {
				t.Fatalf("%d runs, %d incidents closed; want %d, %d", f.act.count(), f.eff.closed(), tc.runs, tc.close)
			}
		})
	}
}

// TestRunManualStopsWaitingButNotTheRollback: an operator's request waits
// ManualWait for the plan, then answers ErrStillRunning; the plan goes on
// and, when it ends, closes its incident.
func TestRunManualStopsWaitingButNotTheRollback(t *testing.T) {
	f := newFixture(t, owned{"api": true})
	inc := f.manual(t, "inc-1")
	errc := make(chan error, 1)
	go func() {
		_, err := f.r.RunManual(context.Background(), f.t, inc, actuator.Plan{ID: inc.ID}, store.Fence{})
		errc <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.clk.BlockUntilContext(ctx, 1); err != nil { // RunManual waits on the clock
		t.Fatal(err)
	}
	f.clk.Advance(ManualWait)
	if err := <-errc; err != ErrStillRunning {
		t.Fatalf("RunManual: %v, want ErrStillRunning", err)
	}
	if f.r.Book().Len() != 1 {
		t.Fatal("the running rollback is not in flight")
	}
	close(f.act.release)
	f.r.Wait()
	if f.eff.closed() != 1 || f.r.Book().Len() != 0 {
		t.Fatalf("after the plan: %d incidents closed, %d in flight; want 1, 0", f.eff.closed(), f.r.Book().Len())
	}
}

// TestShutdownBound: Shutdown waits for running plans at most its bound,
// then cancels them (they resume from their journal on the next start).
func TestShutdownBound(t *testing.T) {
	f := newFixture(t, owned{"api": true})
	if !f.r.Shutdown(time.Minute) {
		t.Fatal("nothing ran, yet the bound was reached")
	}
	f = newFixture(t, owned{"api": true})
	inc := f.manual(t, "inc-1")
	f.r.Start(context.Background(), f.t, store.Watch{}, watch.RunPlan{IncidentID: inc.ID})
	done := make(chan bool, 1)
	go func() { done <- f.r.Shutdown(time.Minute) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Minute)
	if <-done {
		t.Fatal("Shutdown reported every plan finished while one ran")
	}
	f.r.Wait() // the plan saw its context end
	if f.eff.closed() != 0 {
		t.Fatal("a plan cut short closed its incident")
	}
}
