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

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process is gone
}

// startNode writes conf (without port, bind and dir, added here) to a
// file in its own directory and starts redis-server on it; sentinel
// starts it in sentinel mode. It waits until the node answers PING. A
// port taken between choosing and binding it (other tests start servers
// too) is retried on another port.
func startNode(t testing.TB, conf, password string, sentinel bool) *Node {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for range 5 {
		n, err := tryNode(dir, conf, password, sentinel)
		if err == nil {
			t.Cleanup(n.Kill)
			return n
		}
		lastErr = err
	}
	t.Fatalf("redis node: %v", lastErr)
	return nil
}

func tryNode(dir, conf, password string, sentinel bool) (*Node, error) {
	port, err := redisserver.FreePort()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "redis.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n%s", port, dir, conf)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return nil, err
	}
	args := []string{path}
	if sentinel {
		args = append(args, "--sentinel")
	}
	cmd := exec.Command(serverBinary(), args...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	n := &Node{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Password: password, cmd: cmd,
		exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.exited) }()
	if err := n.waitPing(); err != nil {
		n.Kill()
		return nil, fmt.Errorf("%s: %w", n.Addr, err)
	}
	return n, nil
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
	<-n.exited
	n.cmd = nil
}

// Alive reports whether the node's process has not been killed.
func (n *Node) Alive() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// waitPing waits until this node, not another process on its port,
// answers (redisserver.WaitServing): a process that exited (its port was
// taken) fails at once.
func (n *Node) waitPing() error {
	c := n.Client()
	defer c.Close()
	return redisserver.WaitServing(c, n.cmd.Process.Pid, n.exited, 10*time.Second)
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
