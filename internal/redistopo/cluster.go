package redistopo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterOptions shapes a Cluster.
type ClusterOptions struct {
	Masters           int    // default 3
	ReplicasPerMaster int    // 0: no failover possible
	Password          string // requirepass (and masterauth) of every node
	// NodeTimeout is cluster-node-timeout: how long a master may be
	// unreachable before its replica takes over (default 1 s).
	NodeTimeout time.Duration
}

// Cluster is a Redis Cluster: masters splitting the 16384 slots, and
// their replicas.
type Cluster struct {
	Masters  []*Node // as started
	Replicas []*Node // Replicas[i*ReplicasPerMaster+j] replicates Masters[i]
	opts     ClusterOptions
}

// StartCluster starts the nodes, splits the slots evenly between the
// masters, attaches the replicas and waits until every node reports the
// cluster ok.
func StartCluster(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	if o.Masters == 0 {
		o.Masters = 3
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = time.Second
	}
	conf := fmt.Sprintf("cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout %d\n%s",
		o.NodeTimeout.Milliseconds(), dataConf(o.Password, false, ""))
	c := &Cluster{opts: o}
	for range o.Masters {
		c.Masters = append(c.Masters, startNode(t, conf, o.Password, false))
	}
	for range o.Masters * o.ReplicasPerMaster {
		c.Replicas = append(c.Replicas, startNode(t, conf, o.Password, false))
	}
	ctx := context.Background()
	per := 16384 / o.Masters
	for i, m := range c.Masters {
		lo, hi := i*per, (i+1)*per-1
		if i == o.Masters-1 {
			hi = 16383
		}
		c.do(t, m, "CLUSTER", "ADDSLOTSRANGE", lo, hi)
	}
	first := c.Masters[0]
	for _, n := range c.all()[1:] {
		c.do(t, n, "CLUSTER", "MEET", "127.0.0.1", first.Port)
	}
	c.waitAll(t, func(info string) bool {
		return strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.all())))
	})
	for i, r := range c.Replicas {
		m := c.Masters[i/max(1, o.ReplicasPerMaster)]
		mc := m.Client()
		id, err := mc.ClusterMyID(ctx).Result()
		_ = mc.Close()
		if err != nil {
			t.Fatalf("CLUSTER MYID of %s: %v", m.Addr, err)
		}
		// A replica may refuse until it has heard of its master by gossip.
		if err := poll(10*time.Second, func(ctx context.Context) error {
			rc := r.Client()
			defer rc.Close()
			return rc.Do(ctx, "CLUSTER", "REPLICATE", id).Err()
		}); err != nil {
			t.Fatalf("CLUSTER REPLICATE %s on %s: %v", id, r.Addr, err)
		}
	}
	c.waitAll(t, func(info string) bool { return strings.Contains(info, "cluster_state:ok") })
	c.waitReplication(t)
	return c
}

func (c *Cluster) all() []*Node { return append(append([]*Node{}, c.Masters...), c.Replicas...) }

func (c *Cluster) do(t testing.TB, n *Node, args ...any) {
	t.Helper()
	cl := n.Client()
	defer cl.Close()
	if err := cl.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("%v on %s: %v", args, n.Addr, err)
	}
}

// waitAll waits until CLUSTER INFO of every live node satisfies ok.
func (c *Cluster) waitAll(t testing.TB, ok func(info string) bool) {
	t.Helper()
	err := poll(20*time.Second, func(ctx context.Context) error {
		for _, n := range c.all() {
			if !n.Alive() {
				continue
			}
			cl := n.Client()
			info, err := cl.ClusterInfo(ctx).Result()
			_ = cl.Close()
			if err != nil {
				return err
			}
			if !ok(info) {
				return fmt.Errorf("%w: %s: %s", errNotYet, n.Addr, strings.ReplaceAll(info, "\r\n", " "))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
}

// waitReplication waits until every live replica's link to its master is up.
func (c *Cluster) waitReplication(t testing.TB) {
	t.Helper()
	err := poll(20*time.Second, func(ctx context.Context) error {
		for _, r := range c.Replicas {
			if !r.Alive() {
				continue
			}
			cl := r.Client()
			info, err := cl.Info(ctx, "replication").Result()
			_ = cl.Close()
			if err != nil {
				return err
			}
			if strings.Contains(info, "role:slave") && !strings.Contains(info, "master_link_status:up") {
				return fmt.Errorf("%w: replica %s not linked", errNotYet, r.Addr)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("cluster replication: %v", err)
	}
}

// Addrs are the masters' addresses (a client's seed list).
func (c *Cluster) Addrs() []string {
	out := make([]string, 0, len(c.Masters))
	for _, n := range c.Masters {
		out = append(out, n.Addr)
	}
	return out
}

// Client returns a ClusterClient seeded with every node; the caller
// closes it. It re-reads the slot map every second: a test's own view
// must follow a failover at once (go-redis's default is a minute).
func (c *Cluster) Client() *redis.ClusterClient {
	var addrs []string
	for _, n := range c.all() {
		addrs = append(addrs, n.Addr)
	}
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Password: c.opts.Password,
		ClusterStateReloadInterval: time.Second})
}

// MasterOf returns the node that serves key's slot now, as the first
// live node that answers CLUSTER SHARDS sees it.
func (c *Cluster) MasterOf(ctx context.Context, key string) (*Node, error) {
	for _, n := range c.all() {
		if !n.Alive() {
			continue
		}
		cl := n.Client()
		slot, err := cl.ClusterKeySlot(ctx, key).Result()
		var shards []redis.ClusterShard
		if err == nil {
			shards, err = cl.ClusterShards(ctx).Result()
		}
		_ = cl.Close()
		if err != nil {
			continue
		}
		if m := c.shardMaster(shards, slot); m != nil {
			return m, nil
		}
	}
	return nil, fmt.Errorf("no live node serves the slot of %q", key)
}

// shardMaster finds the master of the shard holding slot.
func (c *Cluster) shardMaster(shards []redis.ClusterShard, slot int64) *Node {
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if slot < r.Start || slot > r.End {
				continue
			}
			for _, sn := range sh.Nodes {
				if sn.Role != "master" {
					continue
				}
				for _, m := range c.all() {
					if int64(m.Port) == sn.Port {
						return m
					}
				}
			}
		}
	}
	return nil
}

// KillMasterOf kills the master serving key's slot and waits (bounded)
// until a live replica serves it and the cluster is ok again. It returns
// the old and the new master of the slot.
func (c *Cluster) KillMasterOf(t testing.TB, key string, within time.Duration) (old, promoted *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	old, err := c.MasterOf(ctx, key)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	old.Kill()
	err = poll(within, func(ctx context.Context) error {
		n, err := c.MasterOf(ctx, key)
		if err != nil {
			return err
		}
		if n == old {
			return fmt.Errorf("%w: slot still on %s", errNotYet, old.Addr)
		}
		promoted = n
		return nil
	})
	if err != nil {
		t.Fatalf("no cluster failover within %s: %v", within, err)
	}
	c.waitAll(t, func(info string) bool { return strings.Contains(info, "cluster_state:ok") })
	return old, promoted
}
