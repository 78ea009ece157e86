// Package redisserver starts a throw-away redis-server on a free loopback
// port: the tests' real Redis, and the demo's cache when none is given.
package redisserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotInstalled says no redis-server binary was found.
var ErrNotInstalled = errors.New("redis-server not installed (apt-get install -y redis-server)")

// Server is a running redis-server.
type Server struct {
	Addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has ended
}

// Start launches redis-server with persistence off and its files in dir,
// and waits until it answers PING. extraArgs are passed through (e.g.
// "--requirepass", "secret"). A port taken between choosing and binding is
// retried on another port.
func Start(dir string, extraArgs ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/redis-server"); statErr != nil {
			return nil, ErrNotInstalled
		}
		bin = "/usr/bin/redis-server"
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir}, extraArgs...)
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, exited: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(s.exited) }()
		if lastErr = s.waitReady(password(extraArgs)); lastErr == nil {
			return s, nil
		}
		s.Stop()
	}
	return nil, fmt.Errorf("redis-server did not become ready: %w", lastErr)
}

func password(args []string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--requirepass" {
			return args[i+1]
		}
	}
	return ""
}

// waitReady waits until this server, not another, answers.
func (s *Server) waitReady(pass string) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: pass})
	defer c.Close()
	return WaitServing(c, s.cmd.Process.Pid, s.exited, 10*time.Second)
}

// WaitServing polls the server c talks to until it answers as the process
// pid (INFO's process_id), for up to within: the process gives no other
// signal that it listens. It fails at once when the process has ended
// (exited is closed): a server that could not bind its port exits, and
// without the pid check the port's other holder would answer instead, a
// server another test (or trial) owns, passwordless too or not, which this
// one would share and lose when that one stops.
func WaitServing(c *redis.Client, pid int, exited <-chan struct{}, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-exited:
			return errors.New("redis-server exited (port taken?)")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		got, err := serverPID(ctx, c)
		cancel()
		if err == nil && got != pid {
			err = fmt.Errorf("another redis-server (pid %d) answers on this port", got)
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond) // an external process coming up: nothing to wait on
	}
}

// serverPID is the process_id the server reports in INFO server.
func serverPID(ctx context.Context, c *redis.Client) (int, error) {
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server has no process_id")
}

// Stop kills the server and waits for it.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
