package chaos

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// killWindow bounds the random instant of a kill after a rollback began:
// a rollback here takes about 2 s (alias and CloudFront calls delayed by
// actionLatency, the incident tool by hookDelay, then three probe rounds
// of verification, the longest step), so kills land in every step and a
// few after the end.
const killWindow = 2200 * time.Millisecond

// killDelay picks when to kill after a rollback began: half the time
// within its first 800 ms (the AWS calls and hooks), otherwise anywhere
// in killWindow.
func (tr *trial) killDelay() time.Duration {
	if tr.rng.Intn(2) == 0 {
		return tr.duration(0, 800*time.Millisecond)
	}
	return tr.duration(0, killWindow)
}

// slowActions widens every step of a rollback so kills land inside them.
var slowActions = worldOpts{actionLatency: 300 * time.Millisecond, hookDelay: 300 * time.Millisecond}

// TestKillDuringRollback is experiment 1: one replica, SIGKILLed at a
// random instant between the trip and the end of the automatic rollback,
// then started again (and in a third of the trials killed once more while
// it resumes). The rollback must finish with one effective revert,
// one invalidation, a consistent journal, a closed incident and the page
// resolved — on both stores.
func TestKillDuringRollback(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"redis", "bolt"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			runTrials(t, "1 kill during rollback/"+backend, *flagN, func(tr *trial) {
				o := slowActions
				o.bolt = backend == "bolt"
				w := newWorld(tr, o)
				w.health.setBad(fnShop, "2", true)
				w.deploy(fnShop, "2")
				inc := w.waitIncident(fnShop, "")
				r := w.replicas[0]
				// One trial in three kills the restarted replica again
				// while it resumes the plan.
				for k := range 1 + tr.rng.Intn(3)/2 {
					if k > 0 {
						w.eventually("restarted replica ready", 20*time.Second, func() bool { return !r.restartIfPortTaken() && r.serving(context.Background()) })
					}
					w.pause(tr.killDelay())
					r.kill()
					tr.note(fmt.Sprintf("kill %d at %s", k+1, w.killPoint(inc)))
					r.start()
				}
				w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
			})
		})
	}
}

// waitIncident waits for an incident of fn other than not and returns its
// ID.
func (w *world) waitIncident(fn, not string) string {
	w.t.Helper()
	var id string
	w.eventually(fn+": an incident opens", 30*time.Second, func() bool {
		for _, inc := range w.incidents(fn) {
			if inc.ID != not {
				id = inc.ID
				return true
			}
		}
		return false
	})
	return id
}

// pause waits for a randomly chosen instant of the experiment (when to
// kill, when to restart): the chosen delay itself is the point, not a
// substitute for waiting on a condition.
func (w *world) pause(d time.Duration) {
	time.Sleep(d)
}

// killPoint names where an incident's plan stood when its replica died:
// the last journal entry (step kind and status), or before the plan, or
// after the incident closed.
func (w *world) killPoint(incident string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st := w.view
	if st == nil { // bolt: the dead replica's file lock is gone
		b, err := boltstore.Open(w.boltPath, boltstore.Options{Timeout: 2 * time.Second})
		if err != nil {
			return "unknown (" + err.Error() + ")"
		}
		defer b.Close()
		st = b
	}
	inc, err := st.GetIncident(ctx, incident)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	if inc.Outcome != "" {
		return "after close"
	}
	js, err := st.Journal(ctx, incident)
	if err != nil || len(js) == 0 {
		return "before the plan"
	}
	j := js[len(js)-1]
	kind, _, _ := strings.Cut(j.Name, ":")
	if j.Status == store.StepIntent {
		return kind + " (in flight)"
	}
	return kind + " " + string(j.Status)
}
