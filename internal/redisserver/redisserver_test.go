package redisserver

import (
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A server that could not bind its port must not be taken for the one
// that holds it: both are passwordless, so PING alone would succeed.
func TestWaitServingTellsServersApart(t *testing.T) {
	a, err := Start(t.TempDir())
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	c := redis.NewClient(&redis.Options{Addr: a.Addr})
	t.Cleanup(func() { _ = c.Close() })

	if err := WaitServing(c, a.cmd.Process.Pid, a.exited, 5*time.Second); err != nil {
		t.Fatalf("the server itself: %v", err)
	}
	never := make(chan struct{})
	err = WaitServing(c, a.cmd.Process.Pid+1, never, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "another redis-server") {
		t.Fatalf("another pid on the port: %v, want an error naming the other server", err)
	}

	// A second server on the same port exits; waiting for it fails.
	_, port, _ := net.SplitHostPort(a.Addr)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
	}
	b := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = b.Wait(); close(exited) }()
	t.Cleanup(func() { _ = b.Process.Kill(); <-exited })
	if err := WaitServing(c, b.Process.Pid, exited, 10*time.Second); err == nil {
		t.Fatal("a server that could not bind its port was taken for the one holding it")
	}
}
