package daemon

import (
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/store"
)

// TestTwoReplicasOneRollback runs two daemons on one Redis store: only the
// lease holder polls and acts, a bad deploy causes exactly one rollback,
// and when the holder dies the other replica takes the target over within
// the lease TTL and protects the next deploy (promises 3 and scale-out).
func TestTwoReplicasOneRollback(t *testing.T) {
	h := newHarness(t, harnessOpts{redisStore: true})
	b, both := secondReplica(t, h)
	h.until("version 1 adopted", 5, both(func() bool { return h.target().KnownGood == "1" }))
	aOwns := h.d.leases.Owns("api")
	bOwns := b.leases.Owns("api")
	if aOwns == bOwns {
		t.Fatalf("want exactly one owner: a %v b %v", h.d.leases.Names(), b.leases.Names())
	}
	owner, other := h.d, b
	if bOwns {
		owner, other = b, h.d
	}
	h.sim.Deploy(fn, alias, "2", nil)
	h.until("2 promoted", 150, both(func() bool { return h.target().KnownGood == "2" }))
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("rollback of 3", 150, both(func() bool { return h.incident().Outcome != "" }))
	if n := len(h.sim.Calls("UpdateAlias")); n != 1 {
		t.Fatalf("UpdateAlias calls = %d with two replicas, want 1", n)
	}
	incs, _ := h.store.ListIncidents(h.ctx, "api", 0)
	if len(incs) != 1 {
		t.Fatalf("incidents = %d, want 1", len(incs))
	}

	// A pipeline announces a deploy to the replica that does not own the
	// target (a load balancer in front of both): the watch starts at once
	// in the shared store and the owner acts on it.
	h.sim.Deploy(fn, alias, "4", nil)
	ann, err := other.Controller().AnnounceDeploy(h.ctx, "api", "4")
	if err != nil || !ann.Changed || ann.WatchID == "" {
		t.Fatalf("announce on the non-owner: %+v %v", ann, err)
	}
	if w, err := h.store.GetWatch(h.ctx, ann.WatchID); err != nil || w.NewVersion != "4" || w.Source != "announce" {
		t.Fatalf("announced watch %+v %v", w, err)
	}
	h.setBad("4", true)
	h.until("rollback of announced 4", 150, both(func() bool {
		incs, _ := h.store.ListIncidents(h.ctx, "api", 0)
		return len(incs) == 2 && incs[0].Outcome != ""
	}))
	if n := len(h.sim.Calls("UpdateAlias")); n != 2 {
		t.Fatalf("UpdateAlias calls = %d, want 2", n)
	}

	// The owner dies (stops ticking, never releases its lease). The other
	// must take over within the lease TTL and roll back the next bad deploy.
	owner.runner.Cancel()
	ttl := h.conf.Store.LeaseTTL.Duration
	deadline := h.clk.Now().Add(ttl + 2*time.Second)
	for h.clk.Now().Before(deadline) {
		h.clk.Advance(time.Second)
		other.Tick(h.ctx)
	}
	if !other.leases.Owns("api") {
		t.Fatalf("the surviving replica did not take the target over within the lease TTL %s", ttl)
	}
	h.sim.Deploy(fn, alias, "3", nil) // the same bad version again, a new deploy
	ok := false
	for i := 0; i < 200 && !ok; i++ {
		h.clk.Advance(2 * time.Second)
		other.Tick(h.ctx)
		incs, _ := h.store.ListIncidents(h.ctx, "api", 0)
		ok = len(incs) == 3 && incs[0].Outcome == "rolled_back"
	}
	if !ok {
		t.Fatal("the surviving replica did not roll back the deploy after taking over")
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 3 {
		t.Fatalf("UpdateAlias calls = %d, want 3 (one per incident)", n)
	}
}

// TestManualRollbackFinishedByTheSurvivor: the owner dies in the middle of
// a manual rollback (alias reverted, CloudFront step intended); the other
// replica takes the lease and finishes the plan from its journal: the
// invalidation, the cache clean-up and the verification run once (issue
// #13: the journal stayed at "CloudFront intent" forever).
func TestManualRollbackFinishedByTheSurvivor(t *testing.T) {
	h := newHarness(t, harnessOpts{redisStore: true})
	b, both := secondReplica(t, h)
	h.until("version 1 adopted", 5, both(func() bool { return h.target().KnownGood == "1" }))
	owner, survivor := h.d, b
	if bOwns := b.leases.Owns("api"); bOwns {
		owner, survivor = b, h.d
	}
	h.sim.Deploy(fn, alias, "4", nil)
	// What the owner did before it died: the incident, the alias step done
	// (the alias is back on 1), the CloudFront step intended.
	inc := store.Incident{ID: "manual-api-20260302T100500Z", Target: "api", OpenedAt: h.clk.Now(),
		FromVersion: "4", ToVersion: "1", Trigger: "manual", Actor: "erin"}
	if err := h.store.CreateIncident(h.ctx, inc); err != nil {
		t.Fatal(err)
	}
	h.sim.Deploy(fn, alias, "1", nil)
	for _, e := range []store.JournalEntry{
		{PlanID: inc.ID, Target: "api", Step: 0, Name: "lambda-alias", Status: store.StepIntent, Time: h.clk.Now()},
		{PlanID: inc.ID, Target: "api", Step: 0, Name: "lambda-alias", Status: store.StepDone, Time: h.clk.Now()},
		{PlanID: inc.ID, Target: "api", Step: 1, Name: "cloudfront:" + dist, Status: store.StepIntent, Time: h.clk.Now()},
	} {
		if err := h.store.AppendJournal(h.ctx, e, store.Fence{}); err != nil {
			t.Fatal(err)
		}
	}
	owner.runner.Cancel() // dies: stops ticking, never releases its lease
	ok := false
	for i := 0; i < 120 && !ok; i++ {
		h.clk.Advance(time.Second)
		survivor.Tick(h.ctx)
		got, err := h.store.GetIncident(h.ctx, inc.ID)
		ok = err == nil && got.Outcome != ""
	}
	got, _ := h.store.GetIncident(h.ctx, inc.ID)
	if got.Outcome != store.OutcomeRolledBack {
		t.Fatalf("manual incident after the owner died: %+v", got)
	}
	if n := len(h.sim.Invalidations(dist)); n != 1 {
		t.Fatalf("invalidations = %d, want 1", n)
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 0 {
		t.Fatalf("UpdateAlias calls = %d: the done alias step ran again", n)
	}
}

// secondReplica starts replica-b beside the harness's daemon (replica-a) on
// the same Redis store; both(cond) ticks b before checking cond while the
// harness steps a.
func secondReplica(t *testing.T, h *harness) (*Daemon, func(cond func() bool) func() bool) {
	confB := *h.conf
	confB.Daemon.ReplicaID = "replica-b"
	h.conf.Daemon.ReplicaID = "replica-a"
	b, err := New(Config{Conf: &confB, Store: h.openStore(), Clock: h.clk, Logger: zaptest.NewLogger(t).Named("b"),
		AWS:         awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")},
		Synchronous: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.runner.Cancel(); b.runner.Wait(); dropNotifier(b) })
	return b, func(cond func() bool) func() bool {
		return func() bool { b.Tick(h.ctx); return cond() }
	}
}
