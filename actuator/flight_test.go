package actuator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// gatedHook is a webhook receiver that holds requests until released.
type gatedHook struct {
	srv        *httptest.Server
	deliveries atomic.Int32
	release    chan struct{}
	once       sync.Once
}

func newGatedHook(t *testing.T, holdFirstOnly bool) *gatedHook {
	g := &gatedHook{release: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := g.deliveries.Add(1); n == 1 || !holdFirstOnly {
			<-g.release
		}
	}))
	t.Cleanup(func() { g.open(); g.srv.Close() })
	return g
}

func (g *gatedHook) open() { g.once.Do(func() { close(g.release) }) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentExecuteRunsThePlanOnce is issue #13 item 6 inside the
// actuator: five simultaneous Execute calls of one plan make one alias
// change, one invalidation, one webhook delivery; all five learn the
// outcome, four of them as Joined.
func TestConcurrentExecuteRunsThePlanOnce(t *testing.T) {
	hook := newGatedHook(t, false)
	e := newEnv(t, nil, noWait)
	tg := e.target()
	tg.Actions.Webhooks = []config.WebhookHook{{Name: "bot", URL: hook.srv.URL}}
	p := BuildPlan(tg, e.input())

	const callers = 5
	results := make(chan Result, callers)
	for range callers {
		go func() {
			res, err := e.act.Execute(context.Background(), p, store.Fence{})
			if err != nil {
				t.Errorf("Execute: %v", err)
			}
			results <- res
		}()
	}
	// Hold the webhook step until the other four callers are waiting for
	// the running plan — or, were Execute not single-flight, until all
	// five deliveries arrived.
	waitFor(t, "the callers to meet", func() bool {
		return e.act.flights.waiters(p.ID) == callers-1 || hook.deliveries.Load() == callers
	})
	hook.open()

	joined := 0
	for range callers {
		res := <-results
		if res.Outcome != OutcomeRolledBack {
			t.Errorf("outcome %s (%s), want rolled_back for every caller", res.Outcome, res.Reason)
		}
		if res.Joined {
			joined++
		}
	}
	if joined != callers-1 {
		t.Errorf("%d results joined, want %d", joined, callers-1)
	}
	if n := hook.deliveries.Load(); n != 1 {
		t.Errorf("webhook deliveries = %d, want 1", n)
	}
	if n := len(e.sim.Calls("UpdateAlias")); n != 1 {
		t.Errorf("UpdateAlias calls = %d, want 1", n)
	}
	if n := len(e.sim.Invalidations(distID)); n != 1 {
		t.Errorf("invalidations = %d, want 1", n)
	}
}

// TestStepFinishedByAnotherProcessIsNotRerun: two actuators on one store
// (two processes) run the same plan. B is held in its webhook step while
// A resumes the plan and finishes it; when B goes on, the journal — read
// again before each step — tells it the exec hook already ran.
func TestStepFinishedByAnotherProcessIsNotRerun(t *testing.T) {
	hook := newGatedHook(t, true)
	e := newEnv(t, nil, noWait)
	out := filepath.Join(t.TempDir(), "exec.log")
	tg := e.target()
	tg.Actions = config.Actions{
		Webhooks: []config.WebhookHook{{Name: "bot", URL: hook.srv.URL}},
		Exec:     []config.ExecHook{{Name: "record", Argv: helperArgv(), Env: map[string]string{helperEnv: "append", "ACT_OUT": out}}},
	}
	p := BuildPlan(tg, e.input())
	b := New(e.cfg)

	bDone := make(chan Result, 1)
	go func() {
		res, err := b.Execute(context.Background(), p, store.Fence{})
		if err != nil {
			t.Errorf("B: %v", err)
		}
		bDone <- res
	}()
	waitFor(t, "B in its webhook step", func() bool { return hook.deliveries.Load() == 1 })
	resA := e.execute(p) // A: a separate Actuator, as another process would be
	hook.open()
	resB := <-bDone

	if resA.Outcome != OutcomeRolledBack || resB.Outcome != OutcomeRolledBack {
		t.Fatalf("outcomes A %s (%s), B %s (%s)", resA.Outcome, resA.Reason, resB.Outcome, resB.Reason)
	}
	if resA.Joined || resB.Joined {
		t.Fatal("separate actuators must not join each other's runs")
	}
	b2, _ := os.ReadFile(out)
	if n := strings.Count(string(b2), incident); n != 1 {
		t.Errorf("exec hook ran %d times, want 1", n)
	}
	if !resB.Steps[2].Resumed {
		t.Errorf("B re-ran the exec step A had finished")
	}
	if n := len(e.sim.Calls("UpdateAlias")); n != 1 {
		t.Errorf("UpdateAlias calls = %d, want 1", n)
	}
}
