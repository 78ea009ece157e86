// Package runner runs the work the watch life cycle starts off the run
// loop: rollback plans (a trip's, an operator's, one a crash or a dead
// replica left unfinished) and a rollout's traffic shifts and hooks. Each
// piece runs once at a time (inflight.Book), only on the replica that
// holds the target's lease (the actuator checks its fence before every
// step), on a context that outlives the tick that started it; its outcome
// goes back through the life cycle (Effects.Transit). An AWS call or a
// hook never holds up other targets.
package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/inflight"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// Effects applies the life cycle's effects (effects.Applier).
type Effects interface {
	// Apply carries out effs, the effects of a transition of w.
	Apply(ctx context.Context, t *targets.Target, w store.Watch, effs []watch.Effect) error
	// Transit applies transition f to the freshest copy of watch id.
	Transit(ctx context.Context, t *targets.Target, id string, f func(store.Watch) (store.Watch, []watch.Effect)) error
	// Note records n and sends it when it is an alert.
	Note(ctx context.Context, t *targets.Target, n watch.Note)
	// OpenIncident creates inc unless another incident of its target is
	// open (exclusive: even inc itself).
	OpenIncident(ctx context.Context, inc store.Incident, exclusive bool) error
	// SetKnownGood records version as target's known-good.
	SetKnownGood(ctx context.Context, target, version string) error
}

// Actuator carries out plans and traffic changes (actuator.Actuator).
type Actuator interface {
	Execute(ctx context.Context, p actuator.Plan, fence store.Fence) (actuator.Result, error)
	ShiftTraffic(ctx context.Context, s actuator.TrafficShift, fence store.Fence) (actuator.ShiftResult, error)
	RunTrafficHook(ctx context.Context, in actuator.TrafficHookInput, h config.TrafficHook) (bool, string)
}

// Leases says which targets this replica owns (lease.Table).
type Leases interface {
	// Fence is target's fencing token, if this replica owns it.
	Fence(target string) (store.Fence, bool)
}

// Config is what a Runner is built from.
type Config struct {
	Store   store.Store
	Clock   clockwork.Clock
	Logger  *zap.Logger
	Leases  Leases
	Effects Effects
	// Actuator returns the actuator in force (a reload replaces it).
	Actuator func() Actuator
	// Targets returns the targets in force, by name.
	Targets func() map[string]*targets.Target
	// TripToRevert times a trip to its alias step done (nil: not timed).
	TripToRevert prometheus.Histogram
	// Synchronous runs traffic shifts and Background work in place (tests
	// step the daemon with a fake clock); plans and hooks always run off
	// the caller's goroutine.
	Synchronous bool
}

// Runner runs work in the background. It is safe for concurrent use.
type Runner struct {
	cfg  Config
	work *inflight.Book
	// active counts the work running off the run loop (goWork); idle,
	// when someone waits, closes when it falls to zero. Not a
	// sync.WaitGroup: work may start while Shutdown waits (a watch's
	// callback adopting it, a plan's last note), which WaitGroup forbids
	// once its counter has been zero (the race detector caught it in the
	// chaos rollout trials); here it is waited for too.
	actMu  sync.Mutex
	active int
	idle   chan struct{}
	// unprepared are the manual rollbacks opened here whose preparation
	// (prepare) failed, by incident ID, with the operator's reason.
	prepMu     sync.Mutex
	unprepared map[string]string
	// ctx outlives a tick's context so that a plan is not cut short by the
	// tick that started it; Shutdown cancels it.
	ctx    context.Context
	cancel context.CancelFunc
}

// New builds a Runner.
func New(c Config) *Runner {
	r := &Runner{cfg: c, work: inflight.New(), unprepared: map[string]string{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// Book is the book of what runs here.
func (r *Runner) Book() *inflight.Book { return r.work }

// Context is the context work runs on: it ends with Cancel or Shutdown.
func (r *Runner) Context() context.Context { return r.ctx }

// Start starts an effect that runs off the run loop: watch.RunPlan,
// watch.SetTraffic or watch.RunHook (others are ignored).
func (r *Runner) Start(ctx context.Context, t *targets.Target, w store.Watch, e watch.Effect) {
	switch e := e.(type) {
	case watch.RunPlan:
		r.runPlan(ctx, t, e.IncidentID)
	case watch.SetTraffic:
		r.shiftTraffic(ctx, t, w, e)
	case watch.RunHook:
		r.runTrafficHook(t, w, e)
	}
}

// Background runs work on the runner's context, or in place on ctx when
// Synchronous.
func (r *Runner) Background(ctx context.Context, work func(context.Context)) {
	if r.cfg.Synchronous {
		work(ctx)
		return
	}
	r.goWork(work)
}

// goWork runs work on the runner's context, always off the caller's
// goroutine.
func (r *Runner) goWork(work func(context.Context)) {
	r.actMu.Lock()
	r.active++
	r.actMu.Unlock()
	go func() { defer r.workDone(); work(r.ctx) }()
}

// workDone counts one piece of work out.
func (r *Runner) workDone() {
	r.actMu.Lock()
	defer r.actMu.Unlock()
	if r.active--; r.active == 0 && r.idle != nil {
		close(r.idle)
		r.idle = nil
	}
}

// idleCh is closed once no work runs here (already, when none does).
func (r *Runner) idleCh() <-chan struct{} {
	r.actMu.Lock()
	defer r.actMu.Unlock()
	if r.active == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if r.idle == nil {
		r.idle = make(chan struct{})
	}
	return r.idle
}

// Shutdown waits for the work running here, at most bound, then cancels
// what still runs (it resumes from its journal on the next start). It
// reports whether everything finished in time.
func (r *Runner) Shutdown(bound time.Duration) bool {
	finished := true
	select {
	case <-r.idleCh():
	case <-r.cfg.Clock.After(bound):
		finished = false
	}
	r.cancel()
	return finished
}

// Cancel cancels the work running here; Wait waits for it to return.
func (r *Runner) Cancel() { r.cancel() }

// Wait waits for every piece of work started here to return.
func (r *Runner) Wait() { <-r.idleCh() }

// OnStep is the actuator's OnStep: it measures the time from trip to alias
// reverted. The journal itself is the record of the steps (the postmortem
// reads it).
func (r *Runner) OnStep(e store.JournalEntry) {
	if e.Name != string(actuator.KindLambdaAlias) || e.Status != store.StepDone { // not step 0 when CodeDeploy is stopped first
		return
	}
	if inc, err := r.cfg.Store.GetIncident(r.ctx, e.PlanID); err == nil && r.cfg.TripToRevert != nil {
		r.cfg.TripToRevert.Observe(e.Time.Sub(inc.OpenedAt).Seconds())
	}
}

// OnRetry is the actuator's OnRetry: it pages once when a rollback's alias
// step starts retrying through an AWS brown-out (the incident's dedup key:
// PagerDuty folds it into the tripped page, and rollback_done resolves
// both), and records recovery. It is called on the plan's goroutine and
// must not block it.
func (r *Runner) OnRetry(e actuator.RetryEvent) {
	var n watch.Note
	switch e.Kind {
	case actuator.RetryStarted:
		n = watch.Note{Kind: event.RollbackRetrying, Alert: event.RollbackRetrying, Severity: event.Critical,
			Message: fmt.Sprintf("Rollback of %s cannot get through to AWS (%s); retrying until %s", e.Target, e.Err,
				e.Until.UTC().Format("15:04:05Z07:00"))}
	case actuator.RetryRecovered:
		n = watch.Note{Kind: event.RollbackRetrying, Severity: event.Info,
			Message: fmt.Sprintf("Rollback of %s got through to AWS after %d failed rounds", e.Target, e.Round)}
	default:
		return
	}
	n.Target, n.IncidentID = e.Target, e.PlanID
	t := r.cfg.Targets()[e.Target]
	r.goWork(func(ctx context.Context) { r.cfg.Effects.Note(ctx, t, n) })
}

func (r *Runner) logErr(err error, what, id string) {
	if err != nil {
		r.cfg.Logger.Error(fmt.Sprintf("%s failed", what), zap.String("incident", id), zap.Error(err))
	}
}
