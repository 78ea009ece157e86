package actuator

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
)

// startCluster starts three real redis-servers in cluster mode, splits the
// slots between them and waits (bounded) until the cluster reports ok.
func startCluster(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var addrs []string
	var nodes []*redis.Client
	for i := 0; i < 3; i++ {
		s := testredis.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
		addrs = append(addrs, s.Addr)
		nodes = append(nodes, s.Client(t))
	}
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, n := range nodes {
		if err := n.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", ranges[i][0], ranges[i][1]).Err(); err != nil {
			t.Fatalf("addslots: %v", err)
		}
	}
	for _, n := range nodes[1:] {
		host, port, _ := strings.Cut(addrs[0], ":")
		if err := n.ClusterMeet(ctx, host, port).Err(); err != nil {
			t.Fatalf("meet: %v", err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		for {
			info, _ := n.ClusterInfo(ctx).Result()
			if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok: %s", info)
			}
			time.Sleep(20 * time.Millisecond) // gossip between external processes: nothing to wait on
		}
	}
	return addrs
}

func TestRedisClusterScansEveryMaster(t *testing.T) {
	addrs := startCluster(t)
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = cc.Close() })
	_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, prefix := range []string{"page:", "keep:"} {
			for i := 0; i < 3000; i++ {
				p.Set(ctx, fmt.Sprintf("%s%d", prefix, i), "v", 0)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func(pattern string) int64 {
		var n atomic.Int64
		err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			n.Add(int64(countKeys(t, node, pattern)))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n.Load()
	}
	var perMaster atomic.Int32 // ForEachMaster runs nodes concurrently
	_ = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		if node.DBSize(ctx).Val() > 0 {
			perMaster.Add(1)
		}
		return nil
	})
	if perMaster.Load() != 3 {
		t.Fatalf("keys on %d masters, want all 3", perMaster.Load())
	}

	e := newEnv(t, nil, nil)
	sr := redisStep(t, e, config.RedisAction{Name: "cluster", Conn: config.RedisConn{Addrs: addrs, Cluster: true},
		Patterns: []string{"page:*"}, BatchSize: 200})

	if sr.Status != store.StepDone || keysRemoved(t, sr) != 3000 {
		t.Fatalf("step %s removed %d (%s), want done with 3000", sr.Status, keysRemoved(t, sr), sr.Error)
	}
	if n := count("page:*"); n != 0 {
		t.Errorf("%d page keys left", n)
	}
	if n := count("keep:*"); n != 3000 {
		t.Errorf("keep keys %d, want 3000", n)
	}
}
