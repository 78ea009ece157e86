package actuator

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

func execDetailOf(t *testing.T, sr StepResult) execDetail {
	t.Helper()
	var d execDetail
	if err := json.Unmarshal(sr.Detail, &d); err != nil {
		t.Fatalf("exec detail %s: %v", sr.Detail, err)
	}
	return d
}

func TestExecHookEnvironment(t *testing.T) {
	e := newEnv(t, nil, nil)
	out := filepath.Join(t.TempDir(), "env")
	res := e.execute(hookPlan(e, nil, []config.ExecHook{{Name: "dump", Argv: helperArgv(),
		Env: map[string]string{helperEnv: "env", "ACT_OUT": out, "DB_TARGET": "blue"}}}))

	if res.Steps[1].Status != store.StepDone {
		t.Fatalf("exec %s: %s", res.Steps[1].Status, res.Steps[1].Error)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	want := map[string]string{
		"CANARYD_TARGET": "checkout", "CANARYD_INCIDENT": incident, "CANARYD_FROM_VERSION": "2",
		"CANARYD_TO_VERSION": "1", "CANARYD_FUNCTION": fnName, "CANARYD_ALIAS": aliasNm, "DB_TARGET": "blue",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if env["PATH"] == "" {
		t.Error("PATH not inherited")
	}
}

func TestExecHookArgvIsNotAShell(t *testing.T) {
	e := newEnv(t, nil, nil)
	arg := "$HOME; echo injected > /dev/null"
	res := e.execute(hookPlan(e, nil, []config.ExecHook{{Name: "echo", Argv: []string{"/bin/echo", arg}}}))
	d := execDetailOf(t, res.Steps[1])
	if res.Steps[1].Status != store.StepDone || strings.TrimSpace(d.Output) != arg {
		t.Errorf("output %q, want the argument verbatim %q", d.Output, arg)
	}
}

func TestExecHookFailureExitCode(t *testing.T) {
	e := newEnv(t, nil, nil)
	res := e.execute(hookPlan(e, nil, []config.ExecHook{{Name: "bad", Argv: []string{"/bin/sh", "-c", "echo nope >&2; exit 7"}}}))
	sr := res.Steps[1]
	d := execDetailOf(t, sr)
	if sr.Status != store.StepFailed || d.ExitCode != 7 || !strings.Contains(sr.Error, "exit status 7") || !strings.Contains(d.Output, "nope") {
		t.Errorf("status %s exit %d error %q output %q", sr.Status, d.ExitCode, sr.Error, d.Output)
	}
	e2 := newEnv(t, nil, nil)
	res = e2.execute(hookPlan(e2, nil, []config.ExecHook{{Name: "missing", Argv: []string{"/no/such/binary"}}}))
	if res.Steps[1].Status != store.StepFailed {
		t.Errorf("missing binary: %s", res.Steps[1].Status)
	}
}

func TestExecHookKilledAtTimeout(t *testing.T) {
	e := newEnv(t, nil, nil)
	out := filepath.Join(t.TempDir(), "pid")
	done := make(chan Result, 1)
	go func() {
		done <- e.execute(hookPlan(e, nil, []config.ExecHook{{Name: "hang", Argv: helperArgv(),
			Env: map[string]string{helperEnv: "hang", "ACT_OUT": out}, Timeout: config.Duration{Duration: 30 * time.Second}}}))
	}()
	pid := waitForPID(t, out)
	e.clk.Advance(30 * time.Second)
	res := <-done

	sr := res.Steps[1]
	d := execDetailOf(t, sr)
	if sr.Status != store.StepFailed || !d.TimedOut || !strings.Contains(sr.Error, "killed after timeout 30s") {
		t.Errorf("status %s timed_out %v error %q", sr.Status, d.TimedOut, sr.Error)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("hook process %d still exists (kill 0: %v)", pid, err)
	}
}

// waitForPID waits (bounded) for the helper to write its pid: an external
// process coming up, there is no event to wait on.
func waitForPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			pid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("hook never started")
	return 0
}
