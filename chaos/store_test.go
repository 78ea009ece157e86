package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/canaryd/canaryd/event"
)

// Experiment 3: the store's Redis crashes (SIGKILL) and comes back on the
// same address, with its append-only file or empty, during a bake and
// during a rollback. With persistence nothing may be lost; without it the
// bad version must not be adopted (CloudWatch shows version 1 served the
// alias before), the alias must end on the known-good version, on-call
// must hear that the store lost its data, and every page must resolve.

func TestRedisRestartDuringBake(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{true, false} {
		name := map[bool]string{true: "aof", false: "empty"}[persistent]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exp := "3 redis restart/during bake, " + name
			runTrials(t, exp, *flagM, func(tr *trial) {
				w := newWorld(tr, worldOpts{persistent: persistent, traffic: true})
				w.health.setBad(fnShop, "2", true) // the trip comes about 4 s into the watch
				w.deploy(fnShop, "2")
				w.waitWatch(fnShop, "2")
				w.pause(tr.duration(0, bake-time.Second))
				tr.note("restarted while " + string(w.watchPhase(fnShop, "2")))
				w.restartRedis(exp, persistent)
				w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1, storeLost: !persistent})
				w.checkStoreLost(!persistent)
			})
		})
	}
}

func TestRedisRestartDuringRollback(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{true, false} {
		name := map[bool]string{true: "aof", false: "empty"}[persistent]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exp := "3 redis restart/during rollback, " + name
			runTrials(t, exp, *flagM, func(tr *trial) {
				o := slowActions
				o.persistent, o.traffic = persistent, true
				w := newWorld(tr, o)
				w.health.setBad(fnShop, "2", true)
				w.deploy(fnShop, "2")
				inc := w.waitIncident(fnShop, "")
				w.pause(tr.killDelay())
				tr.note("restarted at " + w.killPoint(inc))
				w.restartRedis(exp, persistent)
				incidents := 1
				if !persistent {
					incidents = -1
				}
				w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: incidents, storeLost: !persistent})
				w.checkStoreLost(!persistent)
			})
		})
	}
}

// TestRedisEmptyDuringRollout: the store's Redis comes back empty in the
// middle of a rollout canaryd drives. A bad version must end reverted
// however the loss cut the rollout: a trip whose incident reached the
// empty store but whose watch did not left an open incident that nothing
// ran and that refused every later trip of the target, and the bad
// version kept its 10% for good. A loss before the first shift leaves
// nothing to revert. A good version, its split found at a step of the
// target's rollout, is rolled out from there: it stayed at its weight for
// good, promoted as an external canary.
func TestRedisEmptyDuringRollout(t *testing.T) {
	t.Parallel()
	for _, bad := range []bool{false, true} {
		name := map[bool]string{false: "good version", true: "bad version"}[bad]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exp := "3 redis restart/during rollout, empty, " + name
			runTrials(t, exp, *flagM, func(tr *trial) {
				o := slowActions
				o.rollout, o.traffic = rolloutConf, true
				w := newWorld(tr, o)
				w.health.setBad(fnShop, "2", bad)
				w.startRollout(w.replicas[0], "2")
				if !bad { // in the middle of it: after the first shift
					w.eventually("2 at 10%", 30*time.Second, func() bool { return w.share(fnShop, "2") > 0 })
				}
				w.pause(tr.duration(0, rolloutSpan))
				tr.note("restarted " + w.rolloutPoint(fnShop, "2"))
				w.restartRedis(exp, false)
				w.eventually("the store_lost page", 30*time.Second, func() bool { return w.alerts.has(string(event.StoreLost), "") })
				if !bad {
					w.eventually("2 promoted alone", 45*time.Second, func() bool { return w.settled(fnShop, "2") && w.knownGood(fnShop) == "2" })
					w.finish(expect{fn: fnShop, good: "2", reverts: 0, incidents: 0, rollout: "2", steps: rolloutSteps})
					return
				}
				w.eventually("1 alone on the alias, every incident closed", 45*time.Second, func() bool { return w.settled(fnShop, "1") })
				e := expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: -1, incidents: -1, rollout: "2", steps: rolloutSteps}
				if len(w.sim.Calls("UpdateAlias")) > 0 {
					e.storeLost = true // version 2 took traffic: its rollback clears the cache
				} else {
					tr.note("nothing shifted")
				}
				w.finish(e)
			})
		})
	}
}

// restartRedis crashes the store's Redis and starts it again after a
// random outage of up to 2 s.
func (w *world) restartRedis(exp string, persistent bool) {
	w.restartRedisFor(exp, persistent, 0, 2*time.Second)
}

// restartRedisFor is restartRedis with an outage in [lo, hi).
func (w *world) restartRedisFor(exp string, persistent bool, lo, hi time.Duration) {
	down := w.t.duration(lo, hi)
	start := time.Now()
	w.redis.restart(persistent, down)
	measure(exp, "redis down", time.Since(start))
}

// checkStoreLost: on-call heard that the store lost its data exactly when
// it did.
func (w *world) checkStoreLost(lost bool) {
	w.t.Helper()
	if got := w.alerts.has(string(event.StoreLost), ""); got != lost {
		w.t.Errorf("invariant: store_lost page sent = %v, want %v", got, lost)
	}
}

// TestRedisRestartDuringManualRollback: the same with an operator's
// rollback, which has no watch to re-run it on the next tick.
//
// aof: the outage (1.5 to 3 s) outlasts go-redis's own retries, so a
// journal write of the plan fails; the owner resumes it.
//
// empty: the store's Redis comes back empty (after 0-2 s). The incident,
// its journal and the lease go with the data; the plan in flight stops at
// its next journal write (fenced, or the store down) or goes on in the new
// store. Either way the operator's rollback must end as if nothing had
// happened: the alias back on version 1 once, the incident recorded again
// and closed with its whole journal (or gone with the store only if it had
// closed before), its outcome paged, the store's loss paged, version 2
// never promoted by the first sighting that follows the loss.
func TestRedisRestartDuringManualRollback(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{true, false} {
		name := map[bool]string{true: "aof", false: "empty"}[persistent]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exp := "3 redis restart/during manual rollback, " + name
			runTrials(t, exp, *flagM, func(tr *trial) {
				o := slowActions
				// Without its data, the first sighting after the loss must
				// find version 1 served before.
				o.persistent, o.traffic = persistent, !persistent
				w := newWorld(tr, o)
				w.deploy(fnShop, "2")
				w.waitWatch(fnShop, "2")
				answered := make(chan error, 1)
				go func() {
					_, err := w.replicas[0].rollback(context.Background(), fnShop, "", "chaos-operator")
					answered <- err
				}()
				inc := w.waitIncident(fnShop, "")
				w.pause(tr.killDelay())
				tr.note("restarted at " + w.killPoint(inc))
				if persistent {
					w.restartRedisFor(exp, true, 1500*time.Millisecond, 3*time.Second)
					w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
				} else {
					w.restartRedis(exp, false)
					w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: -1, storeLost: true, paged: []string{inc}})
					w.checkStoreLost(true)
					for _, x := range w.incidents(fnShop) {
						if x.ID != inc {
							tr.Errorf("invariant: incident %s (%s) besides the operator's %s", x.ID, x.Trigger, inc)
						}
					}
					if len(w.incidents(fnShop)) == 0 {
						tr.note("incident gone with the store")
					}
				}
				if err := <-answered; err != nil {
					tr.Errorf("invariant: the operator's request failed although the rollback went on: %v", err)
				}
			})
		})
	}
}

// TestStoreFailoverDuringRollback: the store is a master with a replica
// under three sentinels, or a Cluster of three masters with a replica
// each; the master holding the target's keys is killed during a rollback
// and a replica promoted. The rollback must finish with one revert.
func TestStoreFailoverDuringRollback(t *testing.T) {
	t.Parallel()
	for _, topology := range []string{"sentinel", "cluster"} {
		t.Run(topology, func(t *testing.T) {
			t.Parallel()
			exp := "3 redis failover/" + topology + " during rollback"
			runTrials(t, exp, *flagM, func(tr *trial) {
				o := slowActions
				o.topology = topology
				w := newWorld(tr, o)
				w.health.setBad(fnShop, "2", true)
				w.deploy(fnShop, "2")
				inc := w.waitIncident(fnShop, "")
				w.pause(tr.killDelay())
				tr.note("master killed at " + w.killPoint(inc))
				killed := time.Now()
				if w.sentinel != nil {
					w.sentinel.KillMaster(tr, 30*time.Second)
				} else {
					w.cluster.KillMasterOf(tr, "{canaryd:target:"+fnShop+"}:lease", 30*time.Second)
				}
				measure(exp, "failover", time.Since(killed))
				w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
			})
		})
	}
}
