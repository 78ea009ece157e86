package daemon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watcher"
)

// TestStoreLostDuringABakeIsNotAdoption: Redis comes back empty while
// version 3 bakes. The live version 3 must not become known-good (issue
// #13: the new owner adopted the failing version and nobody was paged):
// its alias's history shows version 2 served before it, so 3 is watched
// again as a deploy, fails, and is rolled back to 2; on-call hears that
// the store lost its data.
func TestStoreLostDuringABakeIsNotAdoption(t *testing.T) {
	h := newHarness(t, harnessOpts{redisStore: true, hideFuture: true})
	h.withTraffic(trafficByVersion)
	h.setBad("3", false)
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("watch of 3", 5, func() bool { return h.latestWatch().NewVersion == "3" })
	for i := 0; i < 90; i++ { // three minutes of 3 serving, green
		h.step(2 * time.Second)
	}
	if err := h.redis.FlushAll(h.ctx).Err(); err != nil { // restarted without persistence
		t.Fatal(err)
	}
	h.setBad("3", true)
	h.until("rollback of 3 after the store was lost", 150, func() bool { return h.incident().Outcome == "rolled_back" })
	inc := h.incident()
	if inc.FromVersion != "3" || inc.ToVersion != "2" {
		t.Fatalf("incident %+v: want 3 -> 2", inc)
	}
	if w, _ := h.store.GetWatch(h.ctx, inc.WatchID); w.Source != watcher.SourceRecovered || w.KnownGood != "2" {
		t.Fatalf("watch %+v: want a recovered watch of 3 against known-good 2", w)
	}
	if v, _, _ := h.sim.Alias(fn, alias); v != "2" {
		t.Fatalf("alias on %s, want 2", v)
	}
	if !alertMentions(h, "store_lost", "lost its data") {
		t.Fatalf("no store_lost alert; alerts %v", h.alertTypes())
	}
}

// TestBoltFileLostOnRestart: the same with the embedded store on an
// ephemeral disk: canaryd restarts with an empty file while 3 is live.
func TestBoltFileLostOnRestart(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true})
	h.withTraffic(trafficByVersion)
	h.setBad("3", false)
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	for i := 0; i < 90; i++ {
		h.step(2 * time.Second)
	}
	h.stop()
	if err := os.Remove(h.dbPath); err != nil {
		t.Fatal(err)
	}
	h.setBad("3", true)
	h.start(false)
	h.until("rollback of 3 after the file was lost", 150, func() bool { return h.incident().Outcome == "rolled_back" })
	if inc := h.incident(); inc.FromVersion != "3" || inc.ToVersion != "2" || !strings.HasPrefix(inc.ID, "inc-") {
		t.Fatalf("incident %+v", inc)
	}
	if st, err := h.store.GetTarget(h.ctx, "api"); err != nil || st.KnownGood != "2" {
		t.Fatalf("target state %+v %v: want known-good 2", st, err)
	}
	_ = store.OutcomeRolledBack
}

// TestStoreLostWhileAPlanRunsIsFinished: Redis comes back empty while a
// rollback plan is in a step. The daemon records the incident again
// (runner.Replant) as one to finish; the plan then completes, but its watch went
// with the store, so recording the outcome on the watch fails. The
// re-recorded incident must still be finished and its page resolved: it
// was left open forever when the finishing plan dropped it from the
// incidents in flight (chaos experiment 3, 1 trial in 5).
func TestStoreLostWhileAPlanRunsIsFinished(t *testing.T) {
	gate, entered, release := gateWebhook(t)
	defer release() // before the harness's cleanup stops the daemons
	h := newHarness(t, harnessOpts{redisStore: true, extraTarget: gate})
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("the rollback plan waits in its webhook step", 60, func() bool {
		select {
		case <-entered:
			return true
		default:
			return false
		}
	})
	id := h.incident().ID
	if err := h.redis.FlushAll(h.ctx).Err(); err != nil { // restarted without persistence
		t.Fatal(err)
	}
	h.until("the incident recorded again", 10, func() bool {
		in, err := h.store.GetIncident(h.ctx, id)
		return err == nil && in.WatchID == ""
	})
	release()
	h.until("the re-recorded incident finished", 60, func() bool {
		in, err := h.store.GetIncident(h.ctx, id)
		return err == nil && in.Outcome == store.OutcomeRolledBack
	})
	h.until("the page resolved (rollback_done)", 20, func() bool { return alertMentions(h, string(event.RollbackDone), id) })
}

// TestIncidentWrittenIntoTheEmptyStoreIsRun: Redis comes back empty while
// a tick applies an operator's force-rollback of version 3 (healthy, as
// far as the policy can tell). The tick read the override and the watch
// before the loss; its OpenIncident, retried by the client through the
// outage, landed in the empty store, and the writes after it (claim the
// override, save the trip) found nothing. What is left is an open
// incident whose watch the store lost: no trip of the recovered watch of
// 3 will find it in the way (3 passes its probes), and with one replica the
// lease re-taken in the empty store has the same token, so no take-over
// resumed it. It stayed open for good, refusing every later rollback of
// the target (409). The loss is now a take-over of every lease: what the
// store holds after it is resumed, and the incident is rolled back.
func TestIncidentWrittenIntoTheEmptyStoreIsRun(t *testing.T) {
	h := newHarness(t, harnessOpts{redisStore: true})
	h.setBad("3", false)
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("watch of 3", 5, func() bool { return h.latestWatch().NewVersion == "3" })
	w := h.latestWatch()
	if err := h.redis.FlushAll(h.ctx).Err(); err != nil { // restarted without persistence
		t.Fatal(err)
	}
	inc := store.Incident{ID: "inc-forced", Target: "api", WatchID: w.ID, OpenedAt: h.clk.Now(), FromVersion: "3", ToVersion: "2",
		Trigger: "operator", Actor: "ana"}
	if err := h.store.CreateIncident(h.ctx, inc); err != nil {
		t.Fatal(err)
	}
	h.until("the incident rolled back", 30, func() bool {
		in, err := h.store.GetIncident(h.ctx, inc.ID)
		return err == nil && in.Outcome == store.OutcomeRolledBack
	})
	if v, _, _ := h.sim.Alias(fn, alias); v != "2" {
		t.Fatalf("alias on %s, want 2", v)
	}
	h.until("the trip paged and resolved", 10, func() bool {
		return alertMentions(h, string(event.Tripped), inc.ID) && alertMentions(h, string(event.RollbackDone), inc.ID)
	})
}

// TestPauseOutlivesTheStore: an operator paused the target, and Redis
// comes back empty. The pause went with the data, so the next bad deploy
// was rolled back although on-call had asked canaryd only to alert. The
// daemon now writes back the pauses it saw in force before the loss (at
// its last check of the same store), and the page says so.
func TestPauseOutlivesTheStore(t *testing.T) {
	h := newHarness(t, harnessOpts{redisStore: true})
	h.deployGood()
	now := h.clk.Now()
	pause := store.Override{ID: "p-migration", Target: "api", Kind: store.OverridePause, Reason: "migration", Actor: "dan",
		CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if _, err := h.d.Controller().SetOverride(h.ctx, pause); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ { // past a marker check that sees the pause
		h.step(2 * time.Second)
	}
	if err := h.redis.FlushAll(h.ctx).Err(); err != nil { // restarted without persistence
		t.Fatal(err)
	}
	h.until("the pause written back", 10, func() bool {
		ovs, err := h.store.ListOverrides(h.ctx)
		return err == nil && len(ovs) == 1 && ovs[0].ID == pause.ID && ovs[0].Kind == store.OverridePause
	})
	if !alertMentions(h, "store_lost", "written back: p-migration on api by dan") {
		t.Fatalf("the store_lost page does not name the pause written back; alerts %v", h.alertTypes())
	}
	h.sim.Deploy(fn, alias, "3", nil) // version 3 fails its probes
	h.until("alert-only", 40, func() bool { return slices.Contains(h.alertTypes(), "alert_only") })
	for i := 0; i < 20; i++ {
		h.step(2 * time.Second)
	}
	if v, _, _ := h.sim.Alias(fn, alias); v != "3" {
		t.Fatalf("alias on %s: a paused target was rolled back", v)
	}
}

// TestStoreLostWhileAnotherReplicaTakesTheLease: two replicas; Redis comes
// back empty while the owner's rollback plan is in a step, and the other
// replica reaches the empty store first: it takes the target's lease (free
// there) as a take-over and resumes what the store holds, nothing yet.
// Then the old owner notices the loss and records its incident again
// (runner.Replant), but cannot take the lease back, and its plan is
// fenced. The new owner must run the re-recorded incident: nothing did,
// the incident stayed open for good and its trip page was never resolved
// (chaos: three replicas, Redis back empty during a rollback, 4 of 4
// trials).
func TestStoreLostWhileAnotherReplicaTakesTheLease(t *testing.T) {
	gate, entered, release := gateWebhook(t)
	defer release() // before the harness's cleanup stops the daemons
	h := newHarness(t, harnessOpts{redisStore: true, extraTarget: gate})
	b, both := secondReplica(t, h)
	h.until("version 1 adopted", 5, both(func() bool { return h.target().KnownGood == "1" }))
	owner, other := h.d, b
	if b.leases.Owns("api") {
		owner, other = b, h.d
	}
	idle := func() {
		end := time.Now().Add(25 * time.Millisecond)
		for time.Now().Before(end) && owner.runner.Book().Running()+other.runner.Book().Running() > 0 {
			runtime.Gosched()
		}
	}
	tick := func(ds ...*Daemon) {
		h.clk.Advance(time.Second)
		for _, d := range ds {
			d.Tick(h.ctx)
		}
		idle()
	}
	h.sim.Deploy(fn, alias, "3", nil) // version 3 fails its probes
	for waiting := false; !waiting; {
		tick(owner, other)
		select {
		case <-entered:
			waiting = true
		default:
			if h.clk.Since(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) > 10*time.Minute {
				t.Fatal("the rollback plan never reached its webhook step")
			}
		}
	}
	id := h.incident().ID
	if err := h.redis.FlushAll(h.ctx).Err(); err != nil { // restarted without persistence
		t.Fatal(err)
	}
	tick(other) // reaches the empty store first
	if !other.leases.Owns("api") {
		t.Fatal("precondition: the other replica did not take the lease in the empty store")
	}
	tick(owner) // notices the loss, records its incident again
	if in, err := h.store.GetIncident(h.ctx, id); err != nil || in.Outcome != "" {
		t.Fatalf("precondition: the incident recorded again, open: outcome %q (%v)", in.Outcome, err)
	}
	if owner.leases.Owns("api") {
		t.Fatal("precondition: the old owner took the lease back")
	}
	release()
	done := false
	for i := 0; i < 150 && !done; i++ {
		tick(other, owner)
		in, err := h.store.GetIncident(h.ctx, id)
		done = err == nil && in.Outcome != ""
	}
	if in, err := h.store.GetIncident(h.ctx, id); err != nil || in.Outcome != store.OutcomeRolledBack {
		t.Fatalf("incident recorded again by the old owner: outcome %q (%v), want rolled back by the new owner", in.Outcome, err)
	}
	if v, _, _ := h.sim.Alias(fn, alias); v != "1" {
		t.Fatalf("alias on %s, want 1", v)
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 1 {
		t.Fatalf("UpdateAlias calls = %d, want 1: the new owner's plan found the alias reverted", n)
	}
	for i := 0; i < 10 && !alertMentions(h, string(event.RollbackDone), id); i++ {
		tick(other, owner)
	}
	if !alertMentions(h, string(event.RollbackDone), id) {
		t.Fatalf("the trip's page never resolved; alerts %v", h.alertTypes())
	}
}

// gateWebhook is a rollback step (extraTarget's webhook action) that holds
// the plan until release is called: entered gets a token when the plan
// reaches it. Release it before the harness's cleanup (defer): that stops
// the daemons, whose plan would wait in it.
func gateWebhook(t *testing.T) (extraTarget string, entered <-chan struct{}, release func()) {
	in, gate := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		select {
		case in <- struct{}{}:
		default:
		}
		<-gate
	}))
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(srv.Close)
	t.Cleanup(release) // first (LIFO): the server's Close waits for its handlers
	return fmt.Sprintf(`
  [[target.actions.webhook]]
  name = "gate"
  url = %q
  timeout = "1m"
  retries = 0
`, srv.URL), in, release
}
