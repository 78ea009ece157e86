package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/internal/redisserver"
)

// replica is one canaryd process (restarted as often as an experiment
// likes; its log accumulates over the restarts).
type replica struct {
	w       *world
	id      string
	addr    string
	cfgPath string
	conf    configData // what cfgPath was written from
	client  *api.Client
	logs    *syncBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process has exited
	err    error         // its exit status
	frozen bool          // SIGSTOPped
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the daemon. It does not wait for it to be ready.
func (r *replica) start() {
	r.w.t.Helper()
	cmd := exec.Command(r.w.bin, "run", "--config", r.cfgPath, "--log-format", "json")
	cmd.Env = r.w.env()
	cmd.Stdout, cmd.Stderr = r.logs, r.logs
	if err := cmd.Start(); err != nil {
		r.w.t.Fatalf("start %s: %v", r.id, err)
	}
	done := make(chan struct{})
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	go func() {
		err := cmd.Wait()
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		close(done)
	}()
	fmt.Fprintf(r.logs, "### chaos: %s started (pid %d) at %s\n", r.id, cmd.Process.Pid, time.Now().Format(time.RFC3339Nano))
}

// alive reports whether the process runs.
func (r *replica) alive() bool {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// kill SIGKILLs the process and waits for it to be gone.
func (r *replica) kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil || !r.alive() {
		return
	}
	_ = cmd.Process.Kill()
	<-done
	fmt.Fprintf(r.logs, "### chaos: %s SIGKILLed at %s\n", r.id, time.Now().Format(time.RFC3339Nano))
}

// freeze SIGSTOPs the process: it holds its lease and its connections
// but does nothing (a long GC pause, a VM migration, a stuck host) until
// thaw.
func (r *replica) freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGSTOP)
		r.frozen = true
		fmt.Fprintf(r.logs, "### chaos: %s SIGSTOPped at %s\n", r.id, time.Now().Format(time.RFC3339Nano))
	}
}

// thaw SIGCONTs a frozen process.
func (r *replica) thaw() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil && r.cmd.Process != nil && r.frozen {
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
		r.frozen = false
		fmt.Fprintf(r.logs, "### chaos: %s SIGCONTed at %s\n", r.id, time.Now().Format(time.RFC3339Nano))
	}
}

func (r *replica) isFrozen() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frozen
}

// stop sends SIGTERM and waits (bounded) for a clean exit.
func (r *replica) stop() error {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil || !r.alive() {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		r.kill()
		return fmt.Errorf("%s did not exit within 15 s of SIGTERM", r.id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return fmt.Errorf("%s exit after SIGTERM: %w", r.id, r.err)
	}
	return nil
}

// ready reports whether the admin API answers /readyz.
func (r *replica) ready(ctx context.Context) bool {
	if !r.alive() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return r.client.Ready(ctx) == nil
}

// serving reports whether the replica is ready and the admin API on its
// port is its own: /readyz needs no credentials, so a process of another
// trial that took the port (this one's start then fails) answers it too;
// the status, read with this world's admin secret, proves whose it is.
func (r *replica) serving(ctx context.Context) bool {
	if !r.ready(ctx) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := r.client.Status(ctx)
	return err == nil
}

// owns reports whether this replica holds fn's lease, by its own status.
func (r *replica) owns(ctx context.Context, fn string) bool {
	if !r.alive() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := r.client.Status(ctx)
	if err != nil {
		return false
	}
	for _, ts := range st.Targets {
		if ts.Name == fn {
			return ts.LeaseOwner == r.id
		}
	}
	return false
}

// rollback asks this replica for a manual rollback of fn.
func (r *replica) rollback(ctx context.Context, fn, to, actor string) (api.RollbackResponse, error) {
	return r.client.Rollback(ctx, api.RollbackRequest{Target: fn, ToVersion: to, Reason: "chaos", Actor: actor})
}

// conflict reports whether err is the API's 409.
func conflict(err error) bool { return errors.Is(err, api.ErrConflict) }

func newReplica(w *world, id, addr, cfgPath string, conf configData) *replica {
	return &replica{w: w, id: id, addr: addr, cfgPath: cfgPath, conf: conf, logs: &syncBuffer{},
		client: api.NewClient("http://"+addr, w.secrets.admin, &http.Client{Timeout: 60 * time.Second})}
}

// restartIfPortTaken starts the replica again on a new admin port when its
// process exited because another process bound the port it was given
// between redisserver.FreePort and the daemon's listen (several trials run
// at once); it reports whether it did.
func (r *replica) restartIfPortTaken() bool {
	if r.alive() || !strings.Contains(r.logs.String(), "address already in use") {
		return false
	}
	port, err := redisserver.FreePort()
	if err != nil {
		r.w.t.Fatal(err)
	}
	r.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	r.conf.Listen = r.addr
	writeConfig(r.w.t, r.cfgPath, r.conf)
	r.client = api.NewClient("http://"+r.addr, r.w.secrets.admin, &http.Client{Timeout: 60 * time.Second})
	fmt.Fprintf(r.logs, "### chaos: %s: admin port taken by another process; restarting on %s\n", r.id, r.addr)
	r.start()
	return true
}

// env is the daemon's environment: the secrets it is configured to read,
// AWS credentials for the simulator, and nothing from the test's own.
func (w *world) env() []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + w.dir, "TMPDIR=" + w.dir,
		"AWS_ACCESS_KEY_ID=AKIDCHAOS", "AWS_SECRET_ACCESS_KEY=" + w.secrets.aws,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"CHAOS_STORE_PASSWORD=" + w.secrets.store, "CHAOS_ALERT_SECRET=" + w.secrets.alert,
		"CHAOS_HOOK_SECRET=" + w.secrets.hook, "CHAOS_PROBE_TOKEN=" + w.secrets.probe,
		"GORACE=halt_on_error=1",
	}
	return env
}
