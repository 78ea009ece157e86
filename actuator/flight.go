package actuator

import (
	"context"
	"fmt"
	"sync"
)

// flights makes Execute single-flight per plan ID within a process: while
// a plan runs, a second Execute of the same plan waits for it and returns
// its Result (with Joined set) instead of running the steps again. Waiting
// is the choice over refusing: every caller — five operators pressing
// "rollback" at once, an API call racing a trip — learns how the rollback
// ended, and the one caller that ran it owns the follow-up (closing the
// incident, paging). Across processes the journal and the lease fence do
// this job.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done    chan struct{}
	waiting int // callers waiting for this run (tests observe it)
	res     Result
	err     error
}

// do runs run for id unless a run for id is under way, in which case it
// waits for that run's result, or for ctx to end.
func (f *flights) do(ctx context.Context, id string, run func() (Result, error)) (Result, error) {
	f.mu.Lock()
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	if fl, ok := f.m[id]; ok {
		fl.waiting++
		f.mu.Unlock()
		return fl.wait(ctx, id)
	}
	// Until run returns, a waiter woken by a panic learns nothing ran well.
	fl := &flight{done: make(chan struct{}), err: fmt.Errorf("plan %s: the run this call waited for did not finish", id)}
	f.m[id] = fl
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.m, id)
		f.mu.Unlock()
		close(fl.done)
	}()
	fl.res, fl.err = run()
	return fl.res, fl.err
}

func (fl *flight) wait(ctx context.Context, id string) (Result, error) {
	select {
	case <-fl.done:
	case <-ctx.Done():
		return Result{PlanID: id, Joined: true}, fmt.Errorf("waiting for plan %s, already running: %w", id, ctx.Err())
	}
	res := fl.res
	res.Steps = append([]StepResult(nil), fl.res.Steps...)
	res.Joined = true
	return res, fl.err
}

// waiters returns how many callers wait for the run of id.
func (f *flights) waiters(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[id]; ok {
		return fl.waiting
	}
	return 0
}
