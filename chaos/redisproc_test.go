package chaos

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/internal/redisserver"
)

// redisProc is canaryd's store: a redis-server that an experiment can kill
// and start again on the same port, with its data (append-only file,
// fsync always) or empty.
type redisProc struct {
	t        testing.TB
	addr     string
	port     int
	dir      string
	password string
	cmd      *exec.Cmd
	exited   chan struct{} // closed once cmd is gone
	logs     *syncBuffer   // when each server started and how it ended, for the trial's logs
}

// outPath is the file every server's own output is appended to (beside its
// directory, which an empty restart removes).
func (r *redisProc) outPath() string { return r.dir + ".out" }

// log is what the trial leaves of its store: when each server started and
// ended, then the servers' own output.
func (r *redisProc) log() string {
	out, _ := os.ReadFile(r.outPath())
	return r.logs.String() + "\n--- redis-server output ---\n" + string(out)
}

// startRedis starts the store's redis-server on a free port; a port taken
// between choosing and binding it is retried on another.
func startRedis(t testing.TB, dir, password string, persistent bool) *redisProc {
	t.Helper()
	r := &redisProc{t: t, dir: dir, password: password, logs: &syncBuffer{}}
	t.Cleanup(r.kill)
	var err error
	for range 5 {
		if r.port, err = redisserver.FreePort(); err != nil {
			t.Fatal(err)
		}
		r.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
		if err = r.tryStart(persistent); err == nil {
			return r
		}
	}
	t.Fatalf("redis-server: %v", err)
	return nil
}

// start runs redis-server on r's port (again) and waits until it answers.
func (r *redisProc) start(persistent bool) {
	r.t.Helper()
	if err := r.tryStart(persistent); err != nil {
		r.t.Fatal(err)
	}
}

func (r *redisProc) tryStart(persistent bool) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	args := []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--requirepass", r.password, "--save", ""}
	if persistent {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
	}
	out, err := os.OpenFile(r.outPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close() // the server has its own descriptor
	r.cmd = exec.Command(bin, args...)
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	cmd, exited := r.cmd, make(chan struct{})
	r.exited = exited
	fmt.Fprintf(r.logs, "%s chaos: redis-server started on %s, pid %d\n", time.Now().UTC().Format(time.RFC3339Nano), r.addr, cmd.Process.Pid)
	go func() {
		// How the server ended says who ended it: "signal: killed"
		// after kill below, anything else is a crash or another
		// process's doing.
		err := cmd.Wait()
		fmt.Fprintf(r.logs, "%s chaos: redis-server pid %d ended: %v\n", time.Now().UTC().Format(time.RFC3339Nano), cmd.Process.Pid, err)
		close(exited)
	}()
	if err := r.waitReady(); err != nil {
		r.kill()
		return fmt.Errorf("redis-server on %s: %w", r.addr, err)
	}
	return nil
}

// waitReady waits until this server, not another process on its port,
// answers (redisserver.WaitServing).
func (r *redisProc) waitReady() error {
	c := r.client()
	defer c.Close()
	return redisserver.WaitServing(c, r.cmd.Process.Pid, r.exited, 10*time.Second)
}

func (r *redisProc) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.addr, Password: r.password})
}

// kill SIGKILLs the server (a crash: nothing is flushed on the way out).
func (r *redisProc) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	fmt.Fprintf(r.logs, "%s chaos: killing redis-server pid %d\n", time.Now().UTC().Format(time.RFC3339Nano), r.cmd.Process.Pid)
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// restart kills the server, leaves it down for down (a restart takes a
// while: a supervisor's backoff, loading the append-only file), and
// starts it again on the same port: from its append-only file when
// persistent, empty otherwise (its files removed).
func (r *redisProc) restart(persistent bool, down time.Duration) {
	r.t.Helper()
	r.kill()
	if !persistent {
		if err := os.RemoveAll(r.dir); err != nil {
			r.t.Fatal(err)
		}
	}
	time.Sleep(down) // the outage itself, chosen by the experiment
	r.start(persistent)
}

// String names the server in logs.
func (r *redisProc) String() string {
	return fmt.Sprintf("redis %s (%s)", r.addr, filepath.Base(r.dir))
}
