package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/redisstore"
	"github.com/canaryd/canaryd/store/storetest"
)

// opener returns a storetest opener giving each subtest its own prefix on
// client's server.
func opener(client redis.UniversalClient) storetest.Opener {
	return func(t *testing.T, clk *clockwork.FakeClock) store.Store {
		s, err := redisstore.New(redisstore.Options{Client: client, Prefix: "test:" + storetest.Key(t) + ":", Clock: clk})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	}
}

func TestConformance(t *testing.T) {
	srv := testredis.Start(t)
	storetest.Run(t, opener(srv.Client(t)))
}

// TestConformanceCluster runs the suite through a ClusterClient against a
// one-node Redis Cluster: the server rejects any command or script whose
// keys span slots (CROSSSLOT), so this proves the hash-tag layout.
func TestConformanceCluster(t *testing.T) {
	client := startCluster(t)
	storetest.Run(t, opener(client))
}

// startCluster starts a redis-server in cluster mode owning every slot.
func startCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	srv := testredis.Start(t, "--cluster-enabled", "yes")
	ctx := context.Background()
	admin := srv.Client(t)
	if err := admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := admin.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not become ok: %v %q", err, info)
		}
		// Waiting on an external process's state: there is no event to wait on.
		time.Sleep(20 * time.Millisecond)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr}})
	t.Cleanup(func() { _ = c.Close() })
	// The server must be strict, or the suite proves nothing about slots.
	err := c.Eval(ctx, "return redis.call('GET', KEYS[2])", []string{"x{a}", "x{b}"}).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("cross-slot script was not rejected: %v", err)
	}
	return c
}
