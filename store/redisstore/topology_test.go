package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/redistopo"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/backend"
	"github.com/canaryd/canaryd/store/redisstore"
	"github.com/canaryd/canaryd/store/storetest"
)

// The store on real Redis topologies: a Cluster of three masters (every
// target's keys in its own slot, spread over the masters), and a master
// with a replica watched by three sentinels, failed over while a plan's
// journal is being written.

func TestConformanceThreeMasterCluster(t *testing.T) {
	c := redistopo.StartCluster(t, redistopo.ClusterOptions{Masters: 3, Password: "cluster-pw"})
	client := c.Client()
	t.Cleanup(func() { _ = client.Close() })
	storetest.Run(t, opener(client))
	// The suite's targets must have landed on every master, or it proved
	// nothing about a multi-node cluster.
	ctx := context.Background()
	for _, m := range c.Masters {
		mc := m.Client()
		n, err := mc.DBSize(ctx).Result()
		_ = mc.Close()
		if err != nil || n == 0 {
			t.Errorf("master %s holds %d keys (%v); want some on every master", m.Addr, n, err)
		}
	}
}

func TestConformanceSentinelWithReplicas(t *testing.T) {
	s := redistopo.StartSentinel(t, redistopo.SentinelOptions{Replicas: 1, Sentinels: 3, Password: "sentinel-pw"})
	client := s.Client()
	t.Cleanup(func() { _ = client.Close() })
	storetest.Run(t, opener(client))
}

// failoverCase is one topology the store must survive a master's death on.
type failoverCase struct {
	name string
	// start returns how canaryd connects to the topology and a func that
	// kills the master holding target's keys and returns once a replica
	// took over.
	start func(t *testing.T, target string) (config.RedisConn, func())
}

// recoverWithin bounds how long the store may stay unusable after a
// replica took over from a dead master.
const recoverWithin = 15 * time.Second

// TestFailoverDuringAJournal fails the store's master over while a plan's
// journal is written, through the client canaryd builds from its config
// (backend.RedisClient). The Cluster case failed before that client set
// ClusterStateReloadInterval: go-redis sent the dead master's slots to it
// for a minute.
func TestFailoverDuringAJournal(t *testing.T) {
	cases := []failoverCase{
		{name: "sentinel", start: func(t *testing.T, _ string) (config.RedisConn, func()) {
			s := redistopo.StartSentinel(t, redistopo.SentinelOptions{Replicas: 1, Sentinels: 3, Password: "pw"})
			conn := config.RedisConn{Addrs: s.Addrs(), MasterName: redistopo.MasterName, Password: config.NewSecret("pw")}
			return conn, func() { s.KillMaster(t, 20*time.Second) }
		}},
		{name: "cluster", start: func(t *testing.T, target string) (config.RedisConn, func()) {
			c := redistopo.StartCluster(t, redistopo.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, Password: "pw"})
			conn := config.RedisConn{Addrs: c.Addrs(), Cluster: true, Password: config.NewSecret("pw")}
			return conn, func() { c.KillMasterOf(t, "{canaryd:target:"+target+"}:lease", 20*time.Second) }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() {
				t.Skip("starts a Redis topology and waits for its failover")
			}
			conn, kill := tc.start(t, "api")
			client := backend.RedisClient(conn)
			t.Cleanup(func() { _ = client.Close() })
			failoverDuringJournal(t, client, kill)
		})
	}
}

// failoverDuringJournal writes half a plan's journal, waits until the
// replica has it (as a store that acknowledged a step must be able to
// count on), kills the master, and finishes the plan through the same
// client: every call ends within its deadline, the store answers again
// once a replica is promoted, the journal holds every entry once, and a
// lease taken after the failover fences the one taken before.
func failoverDuringJournal(t *testing.T, client redis.UniversalClient, kill func()) {
	ctx := context.Background()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st, err := redisstore.New(redisstore.Options{Client: client, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	fence, err := st.AcquireLease(ctx, "api", "replica-a", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateIncident(ctx, store.Incident{ID: "inc-1", Target: "api", OpenedAt: clk.Now(), FromVersion: "3", ToVersion: "2"}); err != nil {
		t.Fatal(err)
	}
	appendStep := func(step int, status store.StepStatus) error {
		return st.AppendJournal(ctx, store.JournalEntry{PlanID: "inc-1", Target: "api", Step: step, Name: fmt.Sprintf("step-%d", step),
			Status: status, Time: clk.Now()}, fence)
	}
	for step := range 3 {
		for _, s := range []store.StepStatus{store.StepIntent, store.StepDone} {
			if err := appendStep(step, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitReplicated(t, client)
	kill()
	// The client may still point at the dead master for a moment: a
	// write retried by the caller (the actuator re-runs the step) must
	// land exactly once.
	failedOver := time.Now()
	deadline := failedOver.Add(recoverWithin)
	for step := 3; step < 6; step++ {
		for _, s := range []store.StepStatus{store.StepIntent, store.StepDone} {
			for {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				start := time.Now()
				err := st.AppendJournal(cctx, store.JournalEntry{PlanID: "inc-1", Target: "api", Step: step,
					Name: fmt.Sprintf("step-%d", step), Status: s, Time: clk.Now()}, fence)
				cancel()
				if took := time.Since(start); took > 3*time.Second {
					t.Fatalf("an append took %s during the failover: no deadline", took)
				}
				if err == nil {
					break
				}
				if errors.Is(err, store.ErrFenced) {
					t.Fatalf("append after failover fenced: the lease written before the failover was lost: %v", err)
				}
				if time.Now().After(deadline) {
					t.Fatalf("the store did not answer within %s of the failover: %v", recoverWithin, err)
				}
				time.Sleep(50 * time.Millisecond) // the promoted replica takes over by gossip: nothing to wait on
			}
		}
	}
	t.Logf("the store answered again %s after the replica took over", time.Since(failedOver).Round(10*time.Millisecond))
	js, err := st.Journal(ctx, "inc-1")
	if err != nil || len(js) != 12 {
		t.Fatalf("journal after failover: %d entries (%v), want 12", len(js), err)
	}
	for i, j := range js {
		if j.Step != i/2 {
			t.Fatalf("journal entry %d is step %d: order or duplicates lost: %+v", i, j.Step, js)
		}
	}
	clk.Advance(11 * time.Second)
	next, err := st.AcquireLease(ctx, "api", "replica-b", 10*time.Second)
	if err != nil || next.Token <= fence.Token {
		t.Fatalf("lease after failover: %+v %v; want a token above %d", next, err, fence.Token)
	}
	if err := st.CheckFence(ctx, fence); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("the pre-failover fence still passes: %v", err)
	}
}

// waitReplicated waits until every master's writes reached a replica
// (WAIT 1): what this test proves is the client's failover, not Redis's
// asynchronous replication.
func waitReplicated(t *testing.T, client redis.UniversalClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wait := func(ctx context.Context, c *redis.Client) error {
		n, err := c.Do(ctx, "WAIT", 1, 5000).Int()
		if err == nil && n < 1 {
			err = fmt.Errorf("WAIT: %d replicas acknowledged", n)
		}
		return err
	}
	var err error
	switch c := client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, wait)
	case *redis.Client:
		err = wait(ctx, c)
	default:
		err = fmt.Errorf("unexpected client %T", client)
	}
	if err != nil {
		t.Fatalf("replication: %v", err)
	}
}
