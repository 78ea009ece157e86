// Package redistopo starts real Redis topologies for tests — a master with
// replicas watched by redis-sentinel, or a Cluster of several masters
// (with replicas) — and lets a test kill any node to force a failover.
// Every process listens on a free loopback port, keeps its files in a
// test temp dir and is killed when the test ends.
package redistopo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/internal/redisserver"
)

// Node is one redis-server (or redis-sentinel) process.
type Node struct {
	Addr     string
	Port     int
	Password string // requirepass; "" for none

	mu  sync.Mutex
	cmd *exec.Cmd
}

// startNode writes conf (without port, bind and dir, added here) to a
// file in its own directory and starts redis-server on it; sentinel
// starts it in sentinel mode. It waits until the node answers PING.
func startNode(t testing.TB, conf, password string, sentinel bool) *Node {
	t.Helper()
	port, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "redis.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n%s", port, dir, conf)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{path}
	if sentinel {
		args = append(args, "--sentinel")
	}
	cmd := exec.Command(serverBinary(), args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	n := &Node{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Password: password, cmd: cmd}
	t.Cleanup(n.Kill)
	if err := n.waitPing(); err != nil {
		t.Fatalf("redis node %s: %v", n.Addr, err)
	}
	return n
}

func serverBinary() string {
	if bin, err := exec.LookPath("redis-server"); err == nil {
		return bin
	}
	return "/usr/bin/redis-server"
}

// Client returns a plain client of this node; the caller closes it.
func (n *Node) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: n.Addr, Password: n.Password})
}

// Kill SIGKILLs the node (a crash) and waits for it to be gone.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	_, _ = n.cmd.Process.Wait()
	n.cmd = nil
}

// Alive reports whether the node's process has not been killed.
func (n *Node) Alive() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// waitPing polls PING for up to 10 s: a starting process gives no other
// signal that it listens.
func (n *Node) waitPing() error {
	c := n.Client()
	defer c.Close()
	return poll(10*time.Second, func(ctx context.Context) error { return c.Ping(ctx).Err() })
}

// poll calls f until it succeeds or within passes; it returns f's last
// error. Redis processes agree on their topology by gossip: there is no
// event a test could wait on.
func poll(within time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := f(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// errNotYet says a topology has not reached the state a poll waits for.
var errNotYet = errors.New("not yet")
