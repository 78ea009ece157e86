package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/store/redisstore"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// fakeEffects records what the runner hands back to the life cycle.
// Transit finds the watches st has.
type fakeEffects struct {
	st        store.Store
	mu        sync.Mutex
	applied   [][]watch.Effect
	notes     []watch.Note
	knownGood []string // versions recorded by SetKnownGood
	kgFail    []error  // the next SetKnownGood calls fail with these
	transited []string // the watches Transit changed
	clk       clockwork.Clock
}

// Apply records effs; a CloseIncident closes the incident in st, as the
// real Applier does (an error, e.g. the incident gone, is only logged).
func (f *fakeEffects) Apply(ctx context.Context, _ *targets.Target, _ store.Watch, effs []watch.Effect) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, effs)
	for _, e := range effs {
		if c, ok := e.(watch.CloseIncident); ok {
			_, _ = f.st.UpdateIncident(ctx, c.IncidentID, func(x *store.Incident) error {
				x.Outcome, x.ClosedAt = c.Outcome, time.Now()
				return nil
			})
		}
	}
	return nil
}

func (f *fakeEffects) Transit(ctx context.Context, t *targets.Target, id string, tr func(store.Watch) (store.Watch, []watch.Effect)) error {
	w, err := f.st.GetWatch(ctx, id)
	if err != nil {
		return err
	}
	_, effs := tr(w)
	f.mu.Lock()
	f.transited = append(f.transited, id)
	f.mu.Unlock()
	return f.Apply(ctx, t, store.Watch{}, effs)
}
func (f *fakeEffects) Note(_ context.Context, _ *targets.Target, n watch.Note) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, n)
}

// OpenIncident creates inc in st.
func (f *fakeEffects) OpenIncident(ctx context.Context, inc store.Incident, _ bool) error {
	return f.st.CreateIncident(ctx, inc)
}

// SetKnownGood records version, in st too as the daemon does, or fails
// with the next of kgFail.
func (f *fakeEffects) SetKnownGood(ctx context.Context, target, version string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.kgFail) > 0 {
		err := f.kgFail[0]
		f.kgFail = f.kgFail[1:]
		return err
	}
	f.knownGood = append(f.knownGood, version)
	return f.st.PutTarget(ctx, store.TargetState{Name: target, KnownGood: version, KnownGoodAt: f.clk.Now()})
}
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

// blockingActuator's plans run until release is closed or their context
// ends; the first len(fail) runs stop at once with those errors (a journal
// write that failed).
type blockingActuator struct {
	release chan struct{}
	started chan struct{} // a token for every run (waitRuns)
	mu      sync.Mutex
	runs    int
	fail    []error
}

func (a *blockingActuator) Execute(ctx context.Context, p actuator.Plan, _ store.Fence) (actuator.Result, error) {
	a.mu.Lock()
	a.runs++
	select {
	case a.started <- struct{}{}:
	default:
	}
	var err error
	if len(a.fail) > 0 {
		err, a.fail = a.fail[0], a.fail[1:]
	}
	a.mu.Unlock()
	if err != nil {
		return actuator.Result{}, err
	}
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
	return newFixtureOn(t, leases, st)
}

// newRedisFixture is newFixture on a real redis-server, whose client
// (FLUSHALL: the server came back empty) it returns too.
func newRedisFixture(t *testing.T, leases owned) (*fixture, *redis.Client) {
	t.Helper()
	c := testredis.Start(t).Client(t)
	st, err := redisstore.New(redisstore.Options{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, leases, st), c
}

func newFixtureOn(t *testing.T, leases owned, st store.Store) *fixture {
	t.Helper()
	f := &fixture{st: st, clk: clockwork.NewFakeClock(), act: &blockingActuator{release: make(chan struct{}), started: make(chan struct{}, 16)}, eff: &fakeEffects{st: st},
		t: &targets.Target{Conf: config.Target{Name: "api", Function: "fn", Alias: "live"}}}
	f.eff.clk = f.clk
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

// TestOrphanIncidentRuns: a trip opened its incident and the store lost
// the watch before the trip saved it (Redis back empty between the two
// writes). Asked to run the plan (the next trip of the target finds it
// open) or resuming it, the runner runs it from the incident, pages the
// trip the lost step could not, and closes it. Before, nothing ran it:
// "read watch of incident: not found", and the open incident refused every
// later trip of the target.
func TestOrphanIncidentRuns(t *testing.T) {
	for _, how := range []string{"run", "resume"} {
		t.Run(how, func(t *testing.T) {
			f := newFixture(t, owned{"api": true})
			inc := store.Incident{ID: "inc-1", Target: "api", WatchID: "w-lost", FromVersion: "3", ToVersion: "2", Trigger: "policy"}
			ctx := context.Background()
			if err := f.st.CreateIncident(ctx, inc); err != nil {
				t.Fatal(err)
			}
			close(f.act.release)
			if how == "run" {
				f.r.Start(ctx, f.t, store.Watch{}, watch.RunPlan{IncidentID: inc.ID})
			} else {
				f.r.Resume(ctx, map[string]bool{"api": true})
			}
			f.r.Wait()
			if f.act.count() != 1 || f.eff.closed() != 1 {
				t.Fatalf("%d runs, %d incidents closed; want 1, 1", f.act.count(), f.eff.closed())
			}
			var paged bool
			for _, n := range f.eff.notes {
				paged = paged || n.Alert == event.Tripped && n.IncidentID == inc.ID
			}
			if !paged {
				t.Errorf("notes %+v: no tripped page for the incident", f.eff.notes)
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

// TestShutdownWaitsForWorkStartedMeanwhile: work may start off the run
// loop while Shutdown waits (a watch's callback adopting it while the
// daemon stops, a plan's last note): Shutdown waits for it too, and
// neither side races with the other. (With a sync.WaitGroup, work
// started once the count had been zero raced with Wait: the chaos
// rollout trials' race detector stopped a replica, exit status 66.)
func TestShutdownWaitsForWorkStartedMeanwhile(t *testing.T) {
	f := newFixture(t, owned{"api": true})
	release := make(chan struct{})
	var ran sync.WaitGroup
	ran.Add(2)
	second := func(context.Context) { ran.Done() }
	f.r.Background(context.Background(), func(ctx context.Context) {
		<-release
		f.r.Background(ctx, second) // started while Shutdown waits
		ran.Done()
	})
	done := make(chan bool, 1)
	go func() { done <- f.r.Shutdown(time.Minute) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.clk.BlockUntilContext(ctx, 1); err != nil { // Shutdown waits on its bound
		t.Fatal(err)
	}
	close(release)
	if !<-done {
		t.Fatal("Shutdown reported the bound reached, yet nothing blocked")
	}
	ran.Wait()
	// Work started with nothing running, concurrently with Shutdown and
	// Wait: no race (go test -race; with the WaitGroup one round in three
	// raced), and it is waited for or runs on.
	for range 20 {
		var n sync.WaitGroup
		n.Add(1)
		go func() { f.r.Background(context.Background(), func(context.Context) { n.Done() }) }()
		f.r.Shutdown(time.Minute)
		n.Wait()
		f.r.Wait()
	}
}

// TestManualRollbackLostWithTheStore: the store's Redis comes back empty
// while an operator's rollback runs, before the daemon's marker check
// notices (it looks every tick; it looked every 10 s). Whether the plan stopped at a journal
// write (the store down, or fenced: the lease went with the data) or
// finished in the empty store (whose close found no incident), the
// runner must record the incident again and run its plan to a close. It
// used to forget the stopped one at the next sweep ("finished elsewhere,
// or gone": incidents are never deleted) and the finished one at once:
// its remaining steps never ran, its outcome was never paged, or its
// journal stayed in the store without its incident (chaos '3 redis
// restart/during manual rollback, empty').
func TestManualRollbackLostWithTheStore(t *testing.T) {
	for _, how := range []string{"stopped", "finished"} {
		t.Run(how, func(t *testing.T) {
			f, redis := newRedisFixture(t, owned{"api": true})
			ctx := context.Background()
			inc := f.manual(t, "manual-1")
			var lost <-chan error
			if how == "stopped" {
				f.act.fail = []error{errors.New("journal intent of step 0: connection refused")}
				if _, err := f.r.RunManual(ctx, f.t, inc, actuator.Plan{ID: inc.ID}, store.Fence{}); err == nil {
					t.Fatal("RunManual: no error from a plan that stopped")
				}
				if err := redis.FlushAll(ctx).Err(); err != nil {
					t.Fatal(err)
				}
			} else {
				errc := make(chan error, 1)
				go func() {
					_, err := f.r.RunManual(ctx, f.t, inc, actuator.Plan{ID: inc.ID}, store.Fence{})
					errc <- err
				}()
				f.waitRuns(t, 1)
				if err := redis.FlushAll(ctx).Err(); err != nil { // while the plan runs
					t.Fatal(err)
				}
				lost = errc
			}
			close(f.act.release)
			if lost != nil {
				if err := <-lost; err != nil {
					t.Fatalf("RunManual: %v", err)
				}
			}
			f.r.Wait() // the first run has returned
			f.r.ResumeManual(ctx)
			f.r.Wait()
			got, err := f.st.GetIncident(ctx, inc.ID)
			if err != nil || got.Outcome != store.OutcomeRolledBack {
				t.Fatalf("incident after the loss: %+v, %v; want it recorded again and rolled back", got, err)
			}
			if f.r.Book().Len() != 0 {
				t.Fatalf("%d incidents left in flight", f.r.Book().Len())
			}
			// The stopped plan runs again; the finished one is recorded
			// again closed, not run a second time.
			if want := map[string]int{"stopped": 2, "finished": 1}[how]; f.act.count() != want {
				t.Fatalf("%d plan runs, want %d", f.act.count(), want)
			}
		})
	}
}

// TestFinishedPlanLostWithTheStoreIsNotRunAgain: a trip's rollback plan
// finishes, and the store's Redis comes back empty before its outcome is
// recorded (its journal, incident and watch gone). The plan's end pages
// its outcome (nothing else would), and the incident is recorded again,
// closed with it. Before, the incident stayed in flight: the marker
// check's Replant recorded it again as open ("re-recorded, its plan
// resumes"), and its plan ran a second time from an empty journal, which
// found a newer deploy on the alias and paged "aborted" after "rolled
// back" (chaos '3 redis restart/three replicas, during rollback, empty',
// 2026-12-02), or would have invalidated the caches and run the hooks
// again.
func TestFinishedPlanLostWithTheStoreIsNotRunAgain(t *testing.T) {
	f, redis := newRedisFixture(t, owned{"api": true})
	ctx := context.Background()
	w := store.Watch{ID: "w-1", Target: "api", NewVersion: "3", KnownGood: "2"}
	inc := store.Incident{ID: "inc-w-1", Target: "api", WatchID: w.ID, FromVersion: "3", ToVersion: "2", Trigger: "policy"}
	if err := f.st.CreateWatch(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateIncident(ctx, inc); err != nil {
		t.Fatal(err)
	}
	f.r.Start(ctx, f.t, w, watch.RunPlan{IncidentID: inc.ID})
	f.waitRuns(t, 1)
	if err := redis.FlushAll(ctx).Err(); err != nil { // after the plan's steps, before its end is recorded
		t.Fatal(err)
	}
	close(f.act.release)
	f.r.Wait()
	f.r.Replant(ctx) // the marker check notices the loss
	f.r.ResumeManual(ctx)
	f.clk.Advance(ManualSweep)
	f.r.ResumeManual(ctx)
	f.r.Resume(ctx, map[string]bool{"api": true}) // a lease taken over in the empty store
	f.r.Wait()
	got, err := f.st.GetIncident(ctx, inc.ID)
	if err != nil || got.Outcome != store.OutcomeRolledBack || got.ClosedAt.IsZero() {
		t.Fatalf("incident after the loss: %+v, %v; want it recorded again, rolled back and closed", got, err)
	}
	if f.act.count() != 1 {
		t.Fatalf("%d plan runs, want 1", f.act.count())
	}
	if f.r.Book().Len() != 0 {
		t.Fatalf("%d incidents left in flight", f.r.Book().Len())
	}
	if n := f.eff.closed(); n != 1 {
		t.Fatalf("the plan's end was recorded %d times, want once", n)
	}
	f.eff.mu.Lock()
	defer f.eff.mu.Unlock()
	for _, n := range f.eff.notes {
		if n.Kind == event.StoreLost && n.IncidentID == inc.ID {
			t.Fatalf("note %q: the finished incident was recorded again as open", n.Message)
		}
	}
}

// waitRuns waits until the actuator has started n plans.
func (f *fixture) waitRuns(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for f.act.count() < n {
		select {
		case <-f.act.started:
		case <-timeout:
			t.Fatalf("%d plans started within 10 s, want %d", f.act.count(), n)
		}
	}
}

// TestManualRollbackPreparedAgain: the store fails after a manual
// rollback's incident is open and before its known-good version is
// recorded. The incident, open, would refuse every later rollback of the
// target, and nothing ran it before a restart (which would have run the
// plan with the target's watches still judging). Now the runner keeps it
// in flight and, once the store answers, records the known-good, announces
// the rollback and runs the plan, each once.
func TestManualRollbackPreparedAgain(t *testing.T) {
	f := newFixture(t, owned{"api": true})
	ctx := context.Background()
	refused := errors.New("connection refused")
	f.eff.kgFail = []error{refused, refused} // at the open, and at the first sweep
	plan := actuator.Plan{ID: "manual-1", Input: actuator.PlanInput{IncidentID: "manual-1", FromVersion: "3", ToVersion: "2", Actor: "op", Reason: "bad"}}
	inc, err := f.r.OpenManual(ctx, f.t, plan)
	if !errors.Is(err, ErrOpenedUnprepared) || !errors.Is(err, refused) {
		t.Fatalf("OpenManual: %v, want ErrOpenedUnprepared wrapping the store's error", err)
	}
	close(f.act.release)
	f.r.ResumeManual(ctx) // the store still refuses: nothing runs
	f.r.Wait()
	if f.act.count() != 0 {
		t.Fatalf("%d plans ran before the known-good was recorded", f.act.count())
	}
	f.clk.Advance(ManualSweep)
	f.r.ResumeManual(ctx)
	f.r.Wait()
	got, err := f.st.GetIncident(ctx, inc.ID)
	if err != nil || got.Outcome != store.OutcomeRolledBack {
		t.Fatalf("incident: %+v, %v; want it rolled back", got, err)
	}
	f.eff.mu.Lock()
	defer f.eff.mu.Unlock()
	announced := 0
	for _, n := range f.eff.notes {
		if n.Kind == event.Tripped && n.IncidentID == inc.ID {
			announced++
		}
	}
	if f.act.count() != 1 || len(f.eff.knownGood) != 1 || f.eff.knownGood[0] != "2" || announced != 1 {
		t.Fatalf("%d plans, known-good recorded %v, %d announcements; want 1, [2], 1", f.act.count(), f.eff.knownGood, announced)
	}
	if f.r.Book().Len() != 0 {
		t.Fatalf("%d incidents left in flight", f.r.Book().Len())
	}
}

// TestResumeLostRunsWhatOthersRecorded: after the store lost its data, the
// owner runs the unfinished incidents opened before the loss that another
// replica recorded again (it resumed the empty store before they were
// there), and leaves alone the ones it has in flight itself (a manual
// rollback whose preparation failed: ResumeManual prepares it first, and
// run here it rolled back with the target's watches still judging) and
// those opened since the loss (an operator's rollback being prepared).
func TestResumeLostRunsWhatOthersRecorded(t *testing.T) {
	f := newFixture(t, owned{"api": true})
	ctx := context.Background()
	f.eff.kgFail = []error{errors.New("connection refused")}
	plan := actuator.Plan{ID: "manual-mine", Input: actuator.PlanInput{IncidentID: "manual-mine", FromVersion: "3", ToVersion: "2", Actor: "op", Reason: "bad"}}
	if _, err := f.r.OpenManual(ctx, f.t, plan); !errors.Is(err, ErrOpenedUnprepared) {
		t.Fatalf("OpenManual: %v, want ErrOpenedUnprepared", err)
	}
	lost := f.clk.Now().Add(time.Minute)
	other := store.Incident{ID: "inc-other", Target: "api", OpenedAt: f.clk.Now(), FromVersion: "3", ToVersion: "2", Trigger: "policy"}
	since := store.Incident{ID: "manual-since", Target: "api", OpenedAt: lost.Add(time.Second), FromVersion: "3", ToVersion: "2", Trigger: "manual"}
	for _, inc := range []store.Incident{other, since} {
		if err := f.st.CreateIncident(ctx, inc); err != nil {
			t.Fatal(err)
		}
	}
	close(f.act.release)
	f.r.ResumeLost(ctx, map[string]bool{"api": true}, lost)
	f.r.Wait()
	for id, want := range map[string]store.Outcome{other.ID: store.OutcomeRolledBack, since.ID: "", plan.ID: ""} {
		if got, err := f.st.GetIncident(ctx, id); err != nil || got.Outcome != want {
			t.Errorf("incident %s: outcome %q (%v), want %q", id, got.Outcome, err, want)
		}
	}
	if f.act.count() != 1 || len(f.eff.knownGood) != 0 {
		t.Fatalf("%d plans run, known-good recorded %v; want 1 (inc-other's), none", f.act.count(), f.eff.knownGood)
	}
}

// TestManualRollbackPreparedOnResume: the process that opened an
// operator's rollback died (or restarted after the store failed) between
// opening its incident and ending the target's watches and recording the
// known-good. After the restart nothing in memory says so; Resume finds it
// in the store and finishes the preparation before the plan runs — the
// watch the operator took over from ended, not a deploy made since, the
// operator's version recorded as known-good — and a preparation that had
// taken effect is not done again.
func TestManualRollbackPreparedOnResume(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prepared bool // the preparation had taken effect before the crash
	}{{"cut short", false}, {"done before the crash", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, owned{"api": true})
			ctx := context.Background()
			before := store.Watch{ID: "w-3", Target: "api", Phase: store.PhaseBaking, KnownGood: "1", NewVersion: "3", DetectedAt: f.clk.Now()}
			f.clk.Advance(time.Minute)
			kg := store.TargetState{Name: "api", KnownGood: "1", KnownGoodAt: f.clk.Now().Add(-time.Hour)}
			if tc.prepared {
				before.Phase, before.EndedAt = store.PhaseEnded, f.clk.Now()
				kg.KnownGood, kg.KnownGoodAt = "2", f.clk.Now()
			}
			inc := store.Incident{ID: "manual-1", Target: "api", OpenedAt: f.clk.Now(), FromVersion: "3", ToVersion: "2", Trigger: "manual", Actor: "op"}
			f.clk.Advance(time.Minute)
			since := store.Watch{ID: "w-4", Target: "api", Phase: store.PhaseBaking, KnownGood: "2", NewVersion: "4", DetectedAt: f.clk.Now()}
			for _, w := range []store.Watch{before, since} {
				if err := f.st.CreateWatch(ctx, w); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.st.PutTarget(ctx, kg); err != nil {
				t.Fatal(err)
			}
			if err := f.st.CreateIncident(ctx, inc); err != nil {
				t.Fatal(err)
			}
			close(f.act.release)
			f.r.Resume(ctx, map[string]bool{"api": true})
			f.r.Wait()

			got, err := f.st.GetIncident(ctx, inc.ID)
			if err != nil || got.Outcome != store.OutcomeRolledBack || f.act.count() != 1 {
				t.Fatalf("incident %+v, %v after %d plans; want it rolled back by one", got, err, f.act.count())
			}
			st, err := f.st.GetTarget(ctx, "api")
			if err != nil || st.KnownGood != "2" {
				t.Fatalf("known-good %q, %v; want the operator's 2", st.KnownGood, err)
			}
			f.eff.mu.Lock()
			defer f.eff.mu.Unlock()
			wantEnded, wantKG, wantNotes := "[w-3]", "[2]", 1
			if tc.prepared {
				wantEnded, wantKG, wantNotes = "[]", "[]", 0
			}
			notes := 0
			for _, n := range f.eff.notes {
				if n.Kind == event.Tripped && n.IncidentID == inc.ID {
					notes++
				}
			}
			if got := fmt.Sprint(f.eff.transited); got != wantEnded {
				t.Errorf("watches ended %s, want %s (never the deploy made after the rollback opened)", got, wantEnded)
			}
			if got := fmt.Sprint(f.eff.knownGood); got != wantKG {
				t.Errorf("known-good recorded %s, want %s", got, wantKG)
			}
			if notes != wantNotes {
				t.Errorf("%d notes of the finished preparation, want %d", notes, wantNotes)
			}
		})
	}
}

// TestManualRollbackPreparedOnResumeWhenTheStoreFails: the preparation
// that Resume finishes fails too (the store refuses): the plan does not run
// with the watches still judging; the rollback waits in flight and
// ResumeManual prepares it and runs it.
func TestManualRollbackPreparedOnResumeWhenTheStoreFails(t *testing.T) {
	f := newFixture(t, owned{"api": true})
	ctx := context.Background()
	f.eff.kgFail = []error{errors.New("connection refused")}
	inc := store.Incident{ID: "manual-1", Target: "api", OpenedAt: f.clk.Now(), FromVersion: "3", ToVersion: "2", Trigger: "manual", Actor: "op"}
	if err := f.st.CreateIncident(ctx, inc); err != nil {
		t.Fatal(err)
	}
	close(f.act.release)
	f.r.Resume(ctx, map[string]bool{"api": true})
	f.r.Wait()
	if f.act.count() != 0 {
		t.Fatalf("%d plans ran before the known-good was recorded", f.act.count())
	}
	f.clk.Advance(ManualSweep)
	f.r.ResumeManual(ctx)
	f.r.Wait()
	got, err := f.st.GetIncident(ctx, inc.ID)
	if err != nil || got.Outcome != store.OutcomeRolledBack || f.act.count() != 1 {
		t.Fatalf("incident %+v, %v after %d plans; want it rolled back by one", got, err, f.act.count())
	}
	if st, err := f.st.GetTarget(ctx, "api"); err != nil || st.KnownGood != "2" {
		t.Fatalf("known-good %q, %v; want 2", st.KnownGood, err)
	}
	if f.r.Book().Len() != 0 {
		t.Fatalf("%d incidents left in flight", f.r.Book().Len())
	}
}

// TestResumeOrphans: the backstop sweep runs an unfinished incident of an
// owned target that nothing runs, once it is older than the sweep's age;
// it leaves alone a younger one (an operator's rollback being prepared, a
// replica re-recording after a loss) and one this replica has in flight.
func TestResumeOrphans(t *testing.T) {
	f := newFixture(t, owned{"api": true})
	ctx := context.Background()
	f.clk.Advance(time.Hour)
	now := f.clk.Now()
	incs := []store.Incident{
		{ID: "orphan", Target: "api", OpenedAt: now.Add(-2 * time.Minute), FromVersion: "3", ToVersion: "2", Trigger: "policy"},
		{ID: "young", Target: "api", OpenedAt: now.Add(-10 * time.Second), FromVersion: "3", ToVersion: "2", Trigger: "policy"},
		{ID: "mine", Target: "api", OpenedAt: now.Add(-3 * time.Minute), FromVersion: "3", ToVersion: "2", Trigger: "policy"},
	}
	for _, inc := range incs {
		if err := f.st.CreateIncident(ctx, inc); err != nil {
			t.Fatal(err)
		}
	}
	f.r.Book().Track(incs[2])
	close(f.act.release)
	f.r.ResumeOrphans(ctx, map[string]bool{"api": true}, now.Add(-time.Minute))
	f.r.Wait()
	for _, inc := range incs {
		got, err := f.st.GetIncident(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if closed, want := got.Outcome != "", inc.ID == "orphan"; closed != want {
			t.Errorf("incident %s: closed %v, want %v", inc.ID, closed, want)
		}
	}
	if f.act.count() != 1 {
		t.Fatalf("%d plans ran, want 1 (the orphan's)", f.act.count())
	}
}
