package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

// bake is the targets' bake_time (config_test.go).
const bake = 3 * time.Second

// Experiment 2: three replicas on one Redis; the replica that owns the
// target is SIGKILLed during a bake, during an automatic rollback and
// during a manual rollback. A survivor must take the target over within
// the lease TTL and finish the job exactly once.

func TestOwnerKilledDuringBake(t *testing.T) {
	t.Parallel()
	exp := "2 owner killed/during bake"
	runTrials(t, exp, *flagN, func(tr *trial) {
		w := newWorld(tr, worldOpts{replicas: 3})
		w.deploy(fnShop, "2")
		owner := w.owner(fnShop)
		w.waitWatch(fnShop, "2")
		w.pause(tr.duration(0, bake-500*time.Millisecond))
		phase := w.watchPhase(fnShop, "2")
		owner.kill()
		killed := time.Now()
		// A version that turns bad once its watcher died must still be
		// caught by the survivor; one that stays good must be promoted.
		goesBad := phase == store.PhaseBaking && tr.rng.Intn(2) == 0
		w.health.setBad(fnShop, "2", goesBad)
		tr.note("killed while " + string(phase) + map[bool]string{true: ", then 2 goes bad", false: ", 2 stays good"}[goesBad])
		survivor := w.owner(fnShop)
		measure(exp, "take-over", time.Since(killed))
		if survivor == owner {
			tr.Fatalf("the dead replica still owns the target")
		}
		if goesBad {
			w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
			return
		}
		w.eventually("2 promoted by the survivor", 30*time.Second, func() bool { return w.knownGood(fnShop) == "2" })
		w.finish(expect{fn: fnShop, good: "2", reverts: 0, incidents: 0})
	})
}

func TestOwnerKilledDuringRollback(t *testing.T) {
	t.Parallel()
	exp := "2 owner killed/during automatic rollback"
	runTrials(t, exp, *flagN, func(tr *trial) {
		o := slowActions
		o.replicas = 3
		w := newWorld(tr, o)
		w.health.setBad(fnShop, "2", true)
		w.deploy(fnShop, "2")
		owner := w.owner(fnShop)
		inc := w.waitIncident(fnShop, "")
		w.pause(tr.killDelay())
		owner.kill()
		killed := time.Now()
		tr.note("killed at " + w.killPoint(inc))
		w.owner(fnShop)
		measure(exp, "take-over", time.Since(killed))
		w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
	})
}

func TestOwnerKilledDuringManualRollback(t *testing.T) {
	t.Parallel()
	exp := "2 owner killed/during manual rollback"
	runTrials(t, exp, *flagN, func(tr *trial) {
		o := slowActions
		o.replicas = 3
		w := newWorld(tr, o)
		w.deploy(fnShop, "2")
		owner := w.owner(fnShop)
		w.waitWatch(fnShop, "2")
		answered := make(chan error, 1)
		go func() { _, err := owner.rollback(context.Background(), fnShop, "", "chaos-operator"); answered <- err }()
		w.pause(tr.killDelay())
		owner.kill()
		killed := time.Now()
		incs := w.incidents(fnShop)
		if len(incs) == 0 {
			// The request died with the replica before anything happened:
			// the operator asks again, on the replica that owns it now.
			tr.note("killed before the incident opened; asked again")
			<-answered
			survivor := w.owner(fnShop)
			measure(exp, "take-over", time.Since(killed))
			if _, err := survivor.rollback(context.Background(), fnShop, "1", "chaos-operator"); err != nil {
				tr.Fatalf("manual rollback on the survivor: %v", err)
			}
		} else {
			tr.note("killed at " + w.killPoint(incs[0].ID))
			w.owner(fnShop)
			measure(exp, "take-over", time.Since(killed))
		}
		w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
	})
}

// TestOwnerFrozenDuringRollback: the owner stops dead (SIGSTOP) during a
// rollback for longer than its lease, a survivor takes the target over
// and resumes the plan, then the old owner wakes up in the middle of its
// own step. Its journal writes are fenced and its alias change is
// conditional: still one revert, one journal outcome per step.
func TestOwnerFrozenDuringRollback(t *testing.T) {
	t.Parallel()
	exp := "2 owner frozen/during automatic rollback"
	runTrials(t, exp, *flagN, func(tr *trial) {
		o := slowActions
		o.replicas = 3
		w := newWorld(tr, o)
		w.health.setBad(fnShop, "2", true)
		w.deploy(fnShop, "2")
		owner := w.owner(fnShop)
		inc := w.waitIncident(fnShop, "")
		w.pause(tr.killDelay())
		owner.freeze()
		frozen := time.Now()
		tr.note("frozen at " + w.killPoint(inc))
		w.owner(fnShop)
		measure(exp, "take-over", time.Since(frozen))
		w.pause(tr.duration(0, 2*time.Second)) // the survivor resumes the plan meanwhile
		owner.thaw()
		w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
	})
}

// TestRollingRestartDuringRollback: canaryd itself is deployed while it
// rolls a target back: each replica in turn gets SIGTERM (it must exit 0,
// its plan finished or left to its journal within shutdown_timeout) and
// is started again.
func TestRollingRestartDuringRollback(t *testing.T) {
	t.Parallel()
	exp := "2 rolling restart/during automatic rollback"
	runTrials(t, exp, *flagN, func(tr *trial) {
		o := slowActions
		o.replicas = 3
		w := newWorld(tr, o)
		w.health.setBad(fnShop, "2", true)
		w.deploy(fnShop, "2")
		inc := w.waitIncident(fnShop, "")
		order := tr.rng.Perm(len(w.replicas))
		for i, k := range order {
			r := w.replicas[k]
			w.pause(tr.duration(0, time.Second))
			if i == 0 {
				tr.note("first SIGTERM at " + w.killPoint(inc))
			}
			start := time.Now()
			if err := r.stop(); err != nil {
				tr.Errorf("invariant: %v", err)
			}
			measure(exp, "SIGTERM to exit", time.Since(start))
			r.start()
			w.eventually(r.id+" ready again", 20*time.Second, func() bool { return !r.restartIfPortTaken() && r.serving(context.Background()) })
		}
		w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
	})
}

// waitWatch waits until fn has a watch of version v.
func (w *world) waitWatch(fn, v string) {
	w.t.Helper()
	w.eventually(fn+": watch of "+v, 20*time.Second, func() bool { return w.watchPhase(fn, v) != "" })
}

// watchPhase is the phase of fn's newest watch of version v ("" if none).
func (w *world) watchPhase(fn, v string) store.Phase {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var ws []store.Watch
	if w.view != nil {
		ws, _ = w.view.ListWatches(ctx, store.WatchFilter{Target: fn})
	} else {
		for _, r := range w.live() {
			if got, err := r.client.Watches(ctx, store.WatchFilter{Target: fn}); err == nil {
				ws = got
				break
			}
		}
	}
	for _, wt := range ws {
		if wt.NewVersion == v {
			return wt.Phase
		}
	}
	return ""
}
