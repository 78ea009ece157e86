package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store/storetest"
)

// TestConformanceSentinel runs the suite through a UniversalClient built
// with a MasterName, i.e. a Sentinel failover client that asks a real
// redis-sentinel for the master's address.
func TestConformanceSentinel(t *testing.T) {
	master := testredis.Start(t)
	sentinel := startSentinel(t, master.Addr)
	client := redis.NewUniversalClient(&redis.UniversalOptions{MasterName: "mymaster", Addrs: []string{sentinel}})
	t.Cleanup(func() { _ = client.Close() })
	if _, ok := client.(*redis.Client); !ok {
		t.Fatalf("UniversalClient with MasterName is %T, want a failover *redis.Client", client)
	}
	storetest.Run(t, opener(client))
}

// startSentinel runs redis-server in sentinel mode monitoring master and
// returns its address once it reports the master.
func startSentinel(t *testing.T, master string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sport := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster %s %s 1\n", sport, dir, host, port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sport))
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer sc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		got, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
		cancel()
		if err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == master {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel did not report master %s: %v %v", master, got, err)
		}
		// Waiting for an external process to come up: no event to wait on.
		time.Sleep(20 * time.Millisecond)
	}
}
