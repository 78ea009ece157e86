package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

// lostSweep is daemon.lost_sweep in the orphan experiment: how long after
// it noticed that the store lost its data a replica runs the incidents
// other replicas record again (daemon.sweepLost, runner.ResumeLost; a
// minute by default, which made a trial last 75 s). orphanAge is
// daemon.orphan_age, below the freeze, so that the incident recorded
// again is old enough for the sweep when the frozen replica wakes.
const (
	lostSweep = 8 * time.Second
	orphanAge = 4 * time.Second
)

// orphanEvery is daemon.orphan_sweep in the orphan experiment: the
// owner's look for unfinished incidents that nothing runs (5 minutes by
// default, too long for a trial).
const orphanEvery = 2 * time.Second

// orphanClose bounds how long the orphan sweep takes to finish the
// incident once the frozen replica has recorded it again: a sweep
// (orphanEvery), then the plan from its start (the alias already
// reverted, a few hundred ms of CloudFront and hooks, three probe rounds
// of verification over 3 s), with room for a loaded machine and -race.
const orphanClose = 30 * time.Second

// TestOwnerFrozenThroughEmptyRestart: the case the window after a store
// loss (daemon.sweepLost) cannot cover, left to the owner's orphan sweep
// (daemon.sweepOrphans, runner.ResumeOrphans). Three replicas on one
// Redis; the owner is SIGSTOPped during its automatic rollback, after the
// alias revert (before it, version 2 would still serve the alias at the
// loss and be tripped again: another experiment's case), and the store's
// Redis comes back empty while it is frozen. The two others notice the
// loss, one takes the lease in the empty store, and neither finds
// anything to run: the incident went with the data. The frozen replica is
// SIGCONTed two seconds after the last of them noticed the loss plus
// lostSweep: it notices the loss itself, records its incident again
// (runner.Replant), cannot take the lease back, and its plan is fenced.
// Nothing but the orphan sweep runs the incident then: it must close
// rolled_back within orphanClose of being recorded again, with its whole
// journal, its pages resolved, one revert, one invalidation, the caches
// cleared, and the frozen replica never takes the lease back.
// daemon.orphan_sweep is 2 s here: with "1h" every trial fails (the
// incident is still open orphanClose after it was recorded again).
func TestOwnerFrozenThroughEmptyRestart(t *testing.T) {
	t.Parallel()
	exp := "3 redis restart/owner frozen through it, empty"
	runLongTrials(t, exp, *flagM, func(tr *trial) {
		o := slowActions
		// Without its data, the first sighting after the loss must find
		// version 1 served before (not adopt 2).
		o.replicas, o.traffic, o.orphanSweep = 3, true, orphanEvery.String()
		o.lostSweep, o.orphanAge = lostSweep.String(), orphanAge.String()
		w := newWorld(tr, o)
		w.health.setBad(fnShop, "2", true)
		w.deploy(fnShop, "2")
		owner := w.owner(fnShop)
		inc := w.waitIncident(fnShop, "")
		w.eventually("the alias reverted to 1", 20*time.Second, func() bool { return w.alias(fnShop) == "1" })
		// Within the steps after the revert (CloudFront, the cache, the
		// hooks, over 3 s of verification).
		w.pause(tr.duration(0, time.Second))
		owner.freeze()
		frozen := time.Now()
		if !w.unfinished(inc) {
			tr.Fatalf("frozen too late: incident %s at %s (the trial's timing, not canaryd)", inc, w.killPoint(inc))
		}
		tr.note("frozen at " + w.killPoint(inc))
		w.restartRedis(exp, false)
		w.freshView()
		w.owner(fnShop) // another replica takes the lease in the empty store
		noticed := w.lossNoticed(w.live(), 30*time.Second)
		w.pause(time.Until(noticed.Add(lostSweep + 2*time.Second))) // past every live replica's lost_sweep
		if incs := w.incidents(fnShop); len(incs) > 0 {
			tr.Errorf("invariant: incidents %s in the empty store before the frozen replica woke", w.describeIncidents(fnShop))
		}
		owner.thaw()
		thawed := time.Now()
		measure(exp, "frozen", thawed.Sub(frozen))
		w.eventually("the frozen replica records "+inc+" again", 20*time.Second, func() bool { return w.has(fnShop, inc) })
		recorded := time.Now()
		w.waitClosed(fnShop, inc, orphanClose)
		measure(exp, "recorded again to closed", time.Since(recorded))
		// Its plan was before its last step's outcome: its next journal
		// write is refused, the lease is another replica's.
		w.waitFor("the frozen replica's plan fenced", 20*time.Second, func() bool {
			return len(owner.logTimes("rollback plan stopped", inc, "fencing token is stale")) > 0
		})
		if owner.owns(context.Background(), fnShop) {
			tr.Errorf("invariant: the replica frozen through the loss took the lease back")
		}
		for _, r := range w.live() {
			if r != owner && len(r.logTimes("resuming unfinished rollback", inc)) > 0 {
				tr.note("run by the orphan sweep")
			}
		}
		w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1, storeLost: true, paged: []string{inc}})
		w.checkStoreLost(true)
		w.checkReplicatedIncidents(inc, true)
	})
}

// unfinished reports whether incident is open and its plan's last step
// (verify) has no outcome in the journal yet.
func (w *world) unfinished(incident string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	inc, err := w.view.GetIncident(ctx, incident)
	if err != nil || inc.Outcome != "" {
		return false
	}
	js, err := w.view.Journal(ctx, incident)
	if err != nil {
		return false
	}
	for _, j := range js {
		if kind, _, _ := strings.Cut(j.Name, ":"); kind == "verify" && j.Status != store.StepIntent {
			return false
		}
	}
	return true
}

// has reports whether the store holds fn's incident id.
func (w *world) has(fn, id string) bool {
	for _, inc := range w.incidents(fn) {
		if inc.ID == id {
			return true
		}
	}
	return false
}

// lossNoticed waits until each of replicas has logged that the store
// lost its data (daemon.checkMarker; its minute of daemon.sweepLost
// starts then) and returns the latest of those instants.
func (w *world) lossNoticed(replicas []*replica, within time.Duration) time.Time {
	w.t.Helper()
	var last time.Time
	w.eventually(fmt.Sprintf("%d replicas notice the loss", len(replicas)), within, func() bool {
		last = time.Time{}
		for _, r := range replicas {
			ts := r.logTimes("store lost its data", "")
			if len(ts) == 0 {
				return false
			}
			last = maxTime(last, ts[len(ts)-1])
		}
		return true
	})
	return last
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// logTimes returns the instants of r's log lines whose message contains
// msg and, when incident is not "", that are about incident and whose
// error contains each of errs.
func (r *replica) logTimes(msg, incident string, errs ...string) []time.Time {
	var out []time.Time
	for _, line := range strings.Split(r.logs.String(), "\n") {
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, msg) {
			continue
		}
		var e struct {
			TS       string `json:"ts"`
			Msg      string `json:"msg"`
			Incident string `json:"incident"`
			Error    string `json:"error"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || !strings.Contains(e.Msg, msg) || incident != "" && e.Incident != incident {
			continue
		}
		if !containsAll(e.Error, errs) {
			continue
		}
		if ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", e.TS); err == nil {
			out = append(out, ts)
		}
	}
	return out
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
