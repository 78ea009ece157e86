package daemon

import (
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/canaryd/canaryd/awsclient"
)

// TestTwoReplicasOneRollback runs two daemons on one Redis store: only the
// lease holder polls and acts, a bad deploy causes exactly one rollback,
// and when the holder dies the other replica takes the target over within
// the lease TTL and protects the next deploy (promises 3 and scale-out).
func TestTwoReplicasOneRollback(t *testing.T) {
	h := newHarness(t, harnessOpts{redisStore: true})
	confB := *h.conf
	confB.Daemon.ReplicaID = "replica-b"
	h.conf.Daemon.ReplicaID = "replica-a"
	b, err := New(Config{Conf: &confB, Store: h.openStore(), Clock: h.clk, Logger: zaptest.NewLogger(t).Named("b"),
		AWS:         awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")},
		Synchronous: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.cancelWork(); b.plans.Wait() })
	both := func(cond func() bool) func() bool {
		return func() bool { b.Tick(h.ctx); return cond() }
	}
	h.until("version 1 adopted", 5, both(func() bool { return h.target().KnownGood == "1" }))
	_, aOwns := h.d.owned["api"]
	_, bOwns := b.owned["api"]
	if aOwns == bOwns {
		t.Fatalf("want exactly one owner: a %v b %v", h.d.owned, b.owned)
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
	owner.cancelWork()
	ttl := h.conf.Store.LeaseTTL.Duration
	deadline := h.clk.Now().Add(ttl + 2*time.Second)
	for h.clk.Now().Before(deadline) {
		h.clk.Advance(time.Second)
		other.Tick(h.ctx)
	}
	if _, ok := other.owned["api"]; !ok {
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
