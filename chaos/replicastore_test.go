package chaos

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/redisstore"
)

// TestRedisEmptyDuringRollbackThreeReplicas: three replicas share the
// store's Redis, which is SIGKILLed during an automatic rollback and
// comes back empty after 0-2 s. Every replica sees the marker change: the
// one that ran the plan records its incident again (runner.Replant), each
// drops its leases and takes them again as a take-over, and the lease of
// the target goes to whichever replica asks first in the empty store: the
// plan's own replica or another one. The plan in flight on the old owner
// is fenced (another holder) or goes on (the same replica re-took the
// lease with the same token).
//
// What a user expects, whoever won the lease:
//   - the trip's incident ends closed rolled_back, with its whole journal,
//     in the store (or gone with the store together with its journal, if it
//     closed before the loss), and its page resolved: someone finishes the
//     plan (the world's invariants, and paged);
//   - the alias reverted to 1 exactly once (never twice, not by the old
//     owner and the new one both), and no revert of a newer deploy: version
//     3, deployed once the rollback settled, stays on the alias and is
//     promoted (a stale plan of the old owner reverting it would show here);
//   - the incident recorded again at most once (only its own replica knows
//     it was in flight), and each incident resolved with one kind of page
//     (two replicas that both closed it could page rolled_back and failed);
//   - one incident for the trip. A second incident of version 2 is a second
//     trip of the same bad deploy: it is correct only when version 2 still
//     served the alias when the store came back (the plan had not reverted
//     it yet, so the recovered watch of 2 may trip before the old incident
//     is recorded again), and then both must be closed, never open at once,
//     and each paged and resolved under its own dedup key. When the alias
//     was already back on 1 before the loss nothing can justify a second
//     trip: exactly the trip's incident (or none, closed before the loss).
func TestRedisEmptyDuringRollbackThreeReplicas(t *testing.T) {
	t.Parallel()
	exp := "3 redis restart/three replicas, during rollback, empty"
	runTrials(t, exp, *flagM, func(tr *trial) {
		o := slowActions
		// Without its data, the first sighting after the loss must find
		// version 1 served before (not adopt 2).
		o.replicas, o.traffic = 3, true
		w := newWorld(tr, o)
		w.health.setBad(fnShop, "2", true)
		w.deploy(fnShop, "2")
		owner := w.owner(fnShop)
		inc := w.waitIncident(fnShop, "")
		w.pause(tr.killDelay())
		// Read before the kill: a revert that lands between this read and
		// the kill only makes the check below more lenient.
		revertedBefore := w.alias(fnShop) == "1"
		tr.note("restarted at " + w.killPoint(inc))
		w.restartRedis(exp, false)
		w.freshView()
		w.eventually("the store_lost page", 30*time.Second, func() bool { return w.alerts.has(string(event.StoreLost), "") })
		w.eventually("the rollback settles on 1, every page resolved", 45*time.Second, func() bool {
			return w.settled(fnShop, "1") && w.pagesResolved(fnShop) && w.allResolved([]string{inc})
		})
		if now := w.owner(fnShop); now == owner {
			tr.note("lease back with the plan's replica")
		} else {
			tr.note("lease taken by another replica")
		}
		// A newer deploy, good: nothing left over from the rollback may
		// revert it.
		w.sim.Deploy(fnShop, aliasName, "3", nil)
		w.eventually("3 promoted", 30*time.Second, func() bool { return w.knownGood(fnShop) == "3" })
		w.finish(expect{fn: fnShop, good: "3", revertTo: "1", bad: []string{"2"}, reverts: 1, incidents: -1,
			storeLost: true, paged: []string{inc}})
		w.checkStoreLost(true)
		w.checkReplicatedIncidents(inc, revertedBefore)
	})
}

// freshView replaces the test's view of the Redis store by a new one,
// which has read nothing yet: the checks then read the store as a replica
// started after the trial would. The old view had looked the trip's
// incident and journal up by their IDs before the loss (killPoint) and
// remembers where they live, so it finds records re-created in the empty
// store whose directory entries are missing, which a new process, or
// another replica, cannot.
func (w *world) freshView() {
	client := redis.NewClient(&redis.Options{Addr: w.redis.addr, Password: w.secrets.store})
	w.t.Cleanup(func() { _ = client.Close() })
	st, err := redisstore.New(redisstore.Options{Client: client})
	if err != nil {
		w.t.Fatal(err)
	}
	w.view = st
}

// checkReplicatedIncidents: the trip's incident recorded again at most
// once, each incident resolved with one kind of page, and a second
// incident of the bad version only when the alias still served it when
// the store came back (TestRedisEmptyDuringRollbackThreeReplicas).
func (w *world) checkReplicatedIncidents(trip string, revertedBefore bool) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	incs := w.incidents(fnShop)
	var others []string
	for _, x := range incs {
		if x.ID == trip {
			continue
		}
		others = append(others, x.ID)
		if x.FromVersion != "2" || x.ToVersion != "1" {
			w.t.Errorf("invariant: incident %s (%s -> %s) besides the trip's %s", x.ID, x.FromVersion, x.ToVersion, trip)
		}
	}
	switch {
	case len(incs) == 0:
		w.t.note("trip's incident gone with the store (closed before the loss)")
	case len(others) == 0:
		w.t.note("one incident")
	default:
		w.t.note(fmt.Sprintf("%d incidents", len(incs)))
		if revertedBefore {
			w.t.Errorf("invariant: incidents %v besides the trip's %s although the alias was back on 1 before the store was lost", others, trip)
		}
		if len(others) > 1 {
			w.t.Errorf("invariant: %d more incidents of version 2 (%v), want at most one", len(others), others)
		}
	}
	evs, err := w.view.Events(ctx, store.EventFilter{Target: fnShop, IncidentID: trip})
	if err != nil {
		w.t.Errorf("history of %s: %v", trip, err)
	}
	replants := 0
	for _, ev := range evs {
		if ev.Type == event.StoreLost && strings.Contains(ev.Message, "re-recorded") {
			replants++
		}
	}
	count(w.t.exp, "re-recorded", replants)
	if replants > 1 {
		w.t.Errorf("invariant: incident %s recorded again %d times", trip, replants)
	}
	resolves := map[string]map[event.Kind]bool{}
	for _, a := range w.alerts.all() {
		if a.IncidentID == "" || !strings.HasPrefix(string(a.Type), "rollback_") || a.Type == event.RollbackRetrying {
			continue
		}
		if resolves[a.IncidentID] == nil {
			resolves[a.IncidentID] = map[event.Kind]bool{}
		}
		resolves[a.IncidentID][a.Type] = true
	}
	for id, kinds := range resolves {
		if len(kinds) > 1 {
			w.t.Errorf("invariant: incident %s resolved with %d kinds of page: %v", id, len(kinds), kinds)
		}
		if !kinds[event.RollbackDone] {
			w.t.Errorf("invariant: incident %s resolved without rollback_done: %v", id, kinds)
		}
	}
}
