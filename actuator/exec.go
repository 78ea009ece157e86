package actuator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/canaryd/canaryd/config"
)

// DefaultExecTimeout bounds an exec hook when none is configured.
const DefaultExecTimeout = 60 * time.Second

// execOutputTail is how much of a hook's combined output the journal keeps.
const execOutputTail = 2048

// execDetail is the journal detail of an exec step.
type execDetail struct {
	Command  string `json:"command"` // argv[0]; the arguments may carry secrets
	ExitCode int    `json:"exit_code"`
	TimedOut bool   `json:"timed_out,omitempty"`
	Output   string `json:"output,omitempty"` // last bytes of stdout+stderr
}

// HookPATH is the PATH an exec hook gets unless its env sets one: the
// daemon's own PATH is not passed on (nor anything else of its
// environment, which holds credentials).
const HookPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// hookPassThrough are the daemon's variables a hook inherits when set:
// where its home and temporary directories are, never secrets.
var hookPassThrough = []string{"HOME", "TMPDIR"}

// HookEnv returns the incident variables an exec hook receives.
func HookEnv(p Plan) []string {
	return []string{
		"CANARYD_TARGET=" + p.Target.Name,
		"CANARYD_INCIDENT=" + p.ID,
		"CANARYD_FROM_VERSION=" + p.Input.FromVersion,
		"CANARYD_TO_VERSION=" + p.Input.ToVersion,
		"CANARYD_FUNCTION=" + p.Target.Function,
		"CANARYD_ALIAS=" + p.Target.Alias,
		"CANARYD_TRIGGER=" + p.Input.Trigger, // policy | operator | manual, or pre_traffic | post_traffic for a rollout's hooks
	}
}

// hookEnviron is an exec hook's whole environment (issue #13 item 5):
// PATH=HookPATH, HOME and TMPDIR as the daemon has them, the CANARYD_*
// incident variables and, last so that they win, the hook's own env.
func hookEnviron(p Plan, h *config.ExecHook, lookup func(string) (string, bool)) []string {
	env := []string{"PATH=" + HookPATH}
	for _, k := range hookPassThrough {
		if v, ok := lookup(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, HookEnv(p)...)
	return append(env, sortedEnv(h.Env)...)
}

// runExec runs the hook's argv (never through a shell) in its own process
// group, killed as a group when the timeout (on the injected clock) ends,
// with a minimal environment. Known secrets are redacted from the output
// kept for the journal.
func (a *Actuator) runExec(ctx context.Context, p Plan, s Step, red *config.Redactor) stepOutcome {
	h := s.Exec
	if len(h.Argv) == 0 {
		return failed(nil, fmt.Errorf("exec %s: empty argv", h.Name))
	}
	d := &execDetail{Command: h.Argv[0], ExitCode: -1}
	timeout := h.Timeout.Duration
	if timeout <= 0 {
		timeout = DefaultExecTimeout
	}
	cctx, cancel := a.withTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, h.Argv[0], h.Argv[1:]...)
	cmd.Env = hookEnviron(p, h, os.LookupEnv)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // bound the wait for pipes held by stray children
	out := &tail{max: execOutputTail + 2*red.MaxLen()}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	d.Output = out.redacted(red, execOutputTail)
	if cmd.ProcessState != nil {
		d.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case err == nil:
		return done(d)
	case ctx.Err() == nil && cctx.Err() != nil:
		d.TimedOut = true
		return failed(d, fmt.Errorf("exec %s: killed after timeout %s", h.Name, timeout))
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return failed(d, fmt.Errorf("exec %s: exit status %d", h.Name, d.ExitCode))
	}
	return failed(d, fmt.Errorf("exec %s: %w", h.Name, err))
}

func sortedEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	first bool // bytes were dropped from the front
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.first = true
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// redacted returns the last keep bytes of the output with red's secrets
// replaced. The tail holds 2·red.MaxLen() bytes more than keep, so a secret
// that reaches into the kept part is whole in the buffer; and when the
// front was cut, the first MaxLen bytes (which may hold the end of a secret
// cut in two) are dropped after redaction.
func (t *tail) redacted(red *config.Redactor, keep int) string {
	t.mu.Lock()
	s, cut := string(t.buf), t.first
	t.mu.Unlock()
	s = red.Redact(s)
	if n := red.MaxLen(); cut && n > 0 {
		s = s[min(n, len(s)):]
	}
	if len(s) > keep {
		s = s[len(s)-keep:]
	}
	return s
}
