package redistopo

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the sentinels monitor the master under.
const MasterName = "mymaster"

// SentinelOptions shapes a Sentinel group.
type SentinelOptions struct {
	Replicas  int    // replicas of the master (default 1)
	Sentinels int    // sentinel processes (default 3; quorum is a majority)
	Password  string // requirepass (and masterauth) of the data nodes
	// DownAfter is how long a master must be unreachable before the
	// sentinels fail it over (default 1 s).
	DownAfter time.Duration
	// AppendOnly gives every data node an append-only file (fsync always).
	AppendOnly bool
}

// Sentinel is a master, its replicas and the sentinels watching them.
type Sentinel struct {
	Data      []*Node // the master first, as started
	Sentinels []*Node
	opts      SentinelOptions
}

// StartSentinel starts the group and waits until every sentinel reports
// the master and knows its replicas.
func StartSentinel(t testing.TB, o SentinelOptions) *Sentinel {
	t.Helper()
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Sentinels == 0 {
		o.Sentinels = 3
	}
	if o.DownAfter == 0 {
		o.DownAfter = time.Second
	}
	s := &Sentinel{opts: o}
	master := startNode(t, dataConf(o.Password, o.AppendOnly, ""), o.Password, false)
	s.Data = append(s.Data, master)
	for range o.Replicas {
		s.Data = append(s.Data, startNode(t, dataConf(o.Password, o.AppendOnly, master.Addr), o.Password, false))
	}
	host, port, _ := net.SplitHostPort(master.Addr)
	quorum := o.Sentinels/2 + 1
	conf := fmt.Sprintf("sentinel monitor %s %s %s %d\nsentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s %d\n",
		MasterName, host, port, quorum, MasterName, o.DownAfter.Milliseconds(), MasterName, 4*o.DownAfter.Milliseconds())
	if o.Password != "" {
		conf += fmt.Sprintf("sentinel auth-pass %s %s\n", MasterName, o.Password)
	}
	for range o.Sentinels {
		s.Sentinels = append(s.Sentinels, startNode(t, conf, "", true))
	}
	if err := poll(20*time.Second, func(ctx context.Context) error { return s.converged(ctx, master.Addr) }); err != nil {
		t.Fatalf("sentinel group did not converge: %v", err)
	}
	return s
}

// dataConf is a data node's config: password, persistence, replication.
func dataConf(password string, appendOnly bool, replicaOf string) string {
	var b strings.Builder
	b.WriteString("save \"\"\n")
	if appendOnly {
		b.WriteString("appendonly yes\nappendfsync always\n")
	} else {
		b.WriteString("appendonly no\n")
	}
	if password != "" {
		fmt.Fprintf(&b, "requirepass %s\nmasterauth %s\n", password, password)
	}
	if replicaOf != "" {
		host, port, _ := net.SplitHostPort(replicaOf)
		fmt.Fprintf(&b, "replicaof %s %s\n", host, port)
	}
	return b.String()
}

// converged reports whether every sentinel names master and knows all
// replicas (and each other).
func (s *Sentinel) converged(ctx context.Context, master string) error {
	for _, sn := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr})
		got, err := c.GetMasterAddrByName(ctx, MasterName).Result()
		if err == nil && (len(got) != 2 || net.JoinHostPort(got[0], got[1]) != master) {
			err = fmt.Errorf("%w: sentinel %s names master %v, want %s", errNotYet, sn.Addr, got, master)
		}
		if err == nil {
			var reps []map[string]string
			if reps, err = c.Replicas(ctx, MasterName).Result(); err == nil && len(reps) < s.opts.Replicas {
				err = fmt.Errorf("%w: sentinel %s knows %d replicas", errNotYet, sn.Addr, len(reps))
			}
		}
		if err == nil {
			var sens []map[string]string
			if sens, err = c.Sentinels(ctx, MasterName).Result(); err == nil && len(sens) < len(s.Sentinels)-1 {
				err = fmt.Errorf("%w: sentinel %s knows %d other sentinels", errNotYet, sn.Addr, len(sens))
			}
		}
		_ = c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// Addrs are the sentinels' addresses (what a client is configured with).
func (s *Sentinel) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		out[i] = n.Addr
	}
	return out
}

// Client returns a failover client (the store's UniversalClient with a
// MasterName); the caller closes it.
func (s *Sentinel) Client() redis.UniversalClient {
	return redis.NewUniversalClient(&redis.UniversalOptions{MasterName: MasterName, Addrs: s.Addrs(), Password: s.opts.Password})
}

// Master returns the data node the sentinels name master now.
func (s *Sentinel) Master(ctx context.Context) (*Node, error) {
	var lastErr error
	for _, sn := range s.Sentinels {
		if !sn.Alive() {
			continue
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr})
		got, err := c.GetMasterAddrByName(ctx, MasterName).Result()
		_ = c.Close()
		if err != nil {
			lastErr = err
			continue
		}
		addr := net.JoinHostPort(got[0], got[1])
		for _, n := range s.Data {
			if n.Addr == addr {
				return n, nil
			}
		}
		return nil, fmt.Errorf("sentinel names an unknown master %s", addr)
	}
	return nil, fmt.Errorf("no sentinel answered: %v", lastErr)
}

// KillMaster kills the current master and waits (bounded) until the
// sentinels have promoted a live replica that answers as a master. It
// returns the old and the new master.
func (s *Sentinel) KillMaster(t testing.TB, within time.Duration) (old, promoted *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	old, err := s.Master(ctx)
	cancel()
	if err != nil {
		t.Fatalf("find the master: %v", err)
	}
	old.Kill()
	err = poll(within, func(ctx context.Context) error {
		n, err := s.Master(ctx)
		if err != nil {
			return err
		}
		if n == old || !n.Alive() {
			return fmt.Errorf("%w: master still %s", errNotYet, n.Addr)
		}
		c := n.Client()
		defer c.Close()
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && !strings.Contains(info, "role:master") {
			err = fmt.Errorf("%w: %s not master yet", errNotYet, n.Addr)
		}
		promoted = n
		return err
	})
	if err != nil {
		t.Fatalf("no failover within %s: %v", within, err)
	}
	return old, promoted
}
