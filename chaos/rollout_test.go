package chaos

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// Experiment 7: canaryd drives a rollout itself (POST /v1/deploys with
// "rollout": true) and is SIGKILLed in the middle of it: one replica
// restarted, or the owner among three replicas. A good version must end
// promoted alone on the alias, each weight shifted exactly once; a bad
// one (its health fails while it takes any traffic) must never take more
// than the first step and end reverted by exactly one rollback.

// rolloutConf is the targets' [target.rollout] in experiment 7, and
// rolloutSteps its weights.
const rolloutConf = `
  [target.rollout]
  steps = [{ weight = 10, hold = "2s" }, { weight = 50, hold = "2s" }, { weight = 100 }]
`

var rolloutSteps = []float64{0.1, 0.5, 1}

// rolloutSpan is about how long a good rollout takes here: the first
// shift within a tick, each hold 2 s plus the probe's data lag, shifts
// delayed by actionLatency, promotion on the tick after 100 %.
const rolloutSpan = 7 * time.Second

// rolloutWorld: canaryd rolls shop out itself; every UpdateAlias (and
// the rollback's slow steps) delayed so kills land inside the shifts.
func rolloutWorld(tr *trial, replicas int, bolt bool) *world {
	o := slowActions
	o.replicas, o.bolt, o.rollout = replicas, bolt, rolloutConf
	return newWorld(tr, o)
}

// TestRolloutKilled is experiment 7's SIGKILL: one replica, killed at a
// random instant of a rollout and started again, on both stores.
func TestRolloutKilled(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"redis", "bolt"} {
		for _, bad := range []bool{false, true} {
			name := backend + map[bool]string{false: ", good version", true: ", bad version"}[bad]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				exp := "7 rollout/SIGKILL, " + name
				runTrials(t, exp, *flagN, func(tr *trial) {
					w := rolloutWorld(tr, 1, backend == "bolt")
					r := w.replicas[0]
					w.health.setBad(fnShop, "2", bad)
					w.startRollout(r, "2")
					w.killInRollout(r, "2", bad)
					r.start()
					w.endRollout("2", bad)
				})
			})
		}
	}
}

// TestRolloutOwnerKilled is experiment 7 among three replicas: the owner
// is SIGKILLed mid-rollout; the survivor that takes the lease must finish
// it (good) or revert it (bad), never shifting a step the dead owner made.
func TestRolloutOwnerKilled(t *testing.T) {
	t.Parallel()
	for _, bad := range []bool{false, true} {
		name := map[bool]string{false: "good version", true: "bad version"}[bad]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exp := "7 rollout/owner killed, " + name
			if bad {
			}
			runTrials(t, exp, *flagM, func(tr *trial) {
				w := rolloutWorld(tr, 3, false)
				w.health.setBad(fnShop, "2", bad)
				owner := w.owner(fnShop)
				w.startRollout(owner, "2")
				w.killInRollout(owner, "2", bad)
				killed := time.Now()
				survivor := w.owner(fnShop)
				measure(exp, "take-over", time.Since(killed))
				if survivor == owner {
					tr.Fatalf("the dead replica still owns the target")
				}
				w.endRollout("2", bad)
			})
		})
	}
}

// startRollout asks r to roll version v of shop out (the pipeline's
// `canaryd deploy shop --version v`), with shop's cache holding pages a
// rollback must clear.
func (w *world) startRollout(r *replica, v string) {
	w.t.Helper()
	w.fillCache(fnShop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.client.AnnounceDeploy(ctx, api.DeployRequest{Target: fnShop, Version: v, Rollout: true, Actor: "chaos-pipeline"}); err != nil {
		w.t.Fatalf("start the rollout of %s: %v", v, err)
	}
}

// killInRollout SIGKILLs r at a random instant of the rollout of v: soon
// after it started (mostly before the first shift), anywhere in it, right
// after a shift, in the middle of a step's hold; for a bad version also
// during its rollback. It notes where the kill landed.
func (w *world) killInRollout(r *replica, v string, bad bool) {
	w.t.Helper()
	tr := w.t
	last := len(rolloutSteps) - 1
	if bad {
		last = 0 // a bad version goes no further than its first step
	}
	switch mode := tr.rng.Intn(5); {
	case mode == 0:
		w.pause(tr.duration(0, time.Second))
	case mode == 1:
		w.pause(tr.duration(0, rolloutSpan))
	case mode == 2 || mode == 3:
		k := tr.rng.Intn(last + 1)
		w.eventually(fmt.Sprintf("%s at %g%%", v, rolloutSteps[k]*100), 30*time.Second, func() bool { return w.share(fnShop, v) == rolloutSteps[k] })
		if mode == 2 {
			w.pause(tr.duration(0, 200*time.Millisecond)) // right after the shift
		} else {
			w.pause(tr.duration(500*time.Millisecond, 2*time.Second)) // during the hold
		}
	default:
		if !bad {
			w.pause(tr.duration(0, rolloutSpan))
			break
		}
		w.waitIncident(fnShop, "")
		w.pause(tr.killDelay()) // during the rollback
	}
	r.kill()
	tr.note("killed " + w.rolloutPoint(fnShop, v))
}

// share is the share of fn's traffic version v takes (1: the alias serves
// it alone).
func (w *world) share(fn, v string) float64 {
	cur, weights, _ := w.sim.Alias(fn, aliasName)
	if cur == v {
		return 1 - sum(weights)
	}
	return weights[v]
}

func sum(m map[string]float64) float64 {
	s := 0.0
	for _, x := range m {
		s += x
	}
	return s
}

// endRollout waits for the rollout of v to end and checks every
// invariant: a good v promoted alone on the alias, every step shifted
// once; a bad v reverted by one rollback after at most the first step.
func (w *world) endRollout(v string, bad bool) {
	w.t.Helper()
	if bad {
		w.eventually(v+"'s rollout rolled back", 45*time.Second, func() bool {
			incs := w.incidents(fnShop)
			return len(incs) > 0 && incs[0].Outcome != ""
		})
		w.finish(expect{fn: fnShop, good: "1", bad: []string{v}, reverts: 1, incidents: 1, rollout: v, steps: rolloutSteps})
		return
	}
	w.eventually(v+" promoted by its rollout", 45*time.Second, func() bool { return w.knownGood(fnShop) == v })
	w.finish(expect{fn: fnShop, good: v, reverts: 0, incidents: 0, rollout: v, steps: rolloutSteps})
}

// shiftWeight is the share of the traffic an UpdateAlias call gives
// version v: its weight, 1 when it makes v the alias's version, 0 when
// it does neither (a revert).
func shiftWeight(c awssim.Call, v string) float64 {
	if c.Params["FunctionVersion"] == v {
		return 1
	}
	weights, _ := c.Params["AdditionalVersionWeights"].(map[string]float64)
	return weights[v]
}

// rolloutViolations reads the simulator's UpdateAlias log: the rollout's
// effective shifts are its configured weights in order, each once (a good
// version: all of them; a bad one: at most the first), and no weight was
// asked for twice (by a restarted or a surviving replica).
func (w *world) rolloutViolations(e expect) []string {
	var out []string
	var shifts []float64
	asked := map[float64]int{}
	for _, c := range w.sim.Calls("UpdateAlias") {
		if c.Params["FunctionName"] != e.fn {
			continue
		}
		x := shiftWeight(c, e.rollout)
		if x == 0 {
			continue
		}
		asked[x]++
		if !slices.Contains(e.steps, x) {
			out = append(out, fmt.Sprintf("UpdateAlias gave %s %g%%, not a configured step", e.rollout, x*100))
		}
		if c.Err == "" && c.Status != 0 {
			shifts = append(shifts, x)
		}
	}
	for x, n := range asked {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s's step at %g%% asked for %d times (UpdateAlias calls)", e.rollout, x*100, n))
		}
	}
	want := e.steps
	if slices.Contains(e.bad, e.rollout) {
		want = e.steps[:min(1, len(shifts))]
	}
	if !slices.Equal(shifts, want) {
		out = append(out, fmt.Sprintf("%s's shifts %v, want %v", e.rollout, percents(shifts), percents(want)))
	}
	return out
}

func percents(ws []float64) []string {
	out := make([]string, len(ws))
	for i, x := range ws {
		out[i] = fmt.Sprintf("%g%%", x*100)
	}
	return out
}

// rolloutPoint names where the rollout of v stood when its replica died:
// before a shift, a shift made but not recorded, at a step, promoted; or
// where its rollback stood.
func (w *world) rolloutPoint(fn, v string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	share := w.share(fn, v)
	st := w.view
	var b *boltstore.Store
	if st == nil { // bolt: the dead replica's file lock is gone
		var err error
		if b, err = boltstore.Open(w.boltPath, boltstore.Options{Timeout: 2 * time.Second}); err != nil {
			return "unknown (" + err.Error() + ")"
		}
		st = b
	}
	ws, err := st.ListWatches(ctx, store.WatchFilter{Target: fn})
	incs, _ := st.ListIncidents(ctx, fn, 0)
	if b != nil {
		_ = b.Close() // before killPoint opens it again
	}
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	if len(incs) > 0 {
		return "in the rollback: " + w.killPoint(incs[0].ID)
	}
	i := slices.IndexFunc(ws, func(wt store.Watch) bool { return wt.NewVersion == v })
	if i < 0 {
		return "before the watch"
	}
	wt := ws[i]
	if wt.Phase != store.PhaseRollingOut || wt.Rollout == nil {
		return "after the rollout (" + string(wt.Phase) + ")"
	}
	r := wt.Rollout
	step := r.Steps[r.Step].Weight
	switch {
	case !r.StepAt.IsZero() && r.Step == len(r.Steps)-1:
		return "at 100%, not yet promoted"
	case !r.StepAt.IsZero():
		return fmt.Sprintf("at %g%%", step*100)
	case share == step:
		return fmt.Sprintf("shift to %g%% made, not recorded", step*100)
	case r.Step == 0:
		return "before the first shift"
	}
	return fmt.Sprintf("before the shift to %g%%", step*100)
}
