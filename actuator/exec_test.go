package actuator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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
		"CANARYD_TO_VERSION": "1", "CANARYD_FUNCTION": fnName, "CANARYD_ALIAS": aliasNm, "CANARYD_TRIGGER": "policy", "DB_TARGET": "blue",
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

// TestExecHookGetsNoDaemonEnvironment is issue #13 item 5: a hook running
// /usr/bin/env sees the CANARYD_* variables, PATH, HOME/TMPDIR and its own
// env — not the daemon's environment with its credentials.
func TestExecHookGetsNoDaemonEnvironment(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-aws-secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdz-session-token")
	t.Setenv("CANARYD_ADMIN_TOKEN", "daemon-admin-token-77")
	t.Setenv("HOME", "/home/canaryd")
	e := newEnv(t, nil, nil)
	res := e.execute(hookPlan(e, nil, []config.ExecHook{{Name: "env", Argv: []string{"/usr/bin/env"},
		Env: map[string]string{"DB_TARGET": "blue"}}}))

	sr := res.Steps[1]
	if sr.Status != store.StepDone {
		t.Fatalf("exec %s: %s", sr.Status, sr.Error)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSpace(execDetailOf(t, sr).Output), "\n") {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{
		"PATH": HookPATH, "HOME": "/home/canaryd", "DB_TARGET": "blue",
		"CANARYD_TARGET": "checkout", "CANARYD_INCIDENT": incident, "CANARYD_FROM_VERSION": "2",
		"CANARYD_TO_VERSION": "1", "CANARYD_FUNCTION": fnName, "CANARYD_ALIAS": aliasNm, "CANARYD_TRIGGER": "policy",
	}
	if tmp, ok := os.LookupEnv("TMPDIR"); ok {
		want["TMPDIR"] = tmp
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hook environment %v\nwant exactly %v", got, want)
	}
}

// TestSecretsRedactedFromJournal: whatever a hook prints or fails with,
// known secrets — the daemon's (Config.Redactor), the plan target's own and
// the AWS credentials in the environment — reach neither the journal, nor
// OnStep, nor the Result.
func TestSecretsRedactedFromJournal(t *testing.T) {
	const (
		adminToken = "admin-token-from-config-123"
		hmacKey    = "webhook-hmac-of-the-target"
		awsKey     = "wJalrXUtnFEMI-aws-secret-key"
		cut        = "SPLIT-SECRET-0123456789abcdef" // straddles the start of the kept tail
	)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsKey)
	e := newEnv(t, nil, func(c *Config) { c.Redactor = config.NewRedactor(adminToken, cut) })
	tg := e.target()
	// The first hook's output ends with the cut secret placed so that the
	// 2 KiB tail starts in its middle; the second prints secrets and fails.
	pad := strings.Repeat("x", execOutputTail-len(cut)/2)
	tg.Actions = config.Actions{
		Webhooks: []config.WebhookHook{{Name: "unreachable", URL: "http://127.0.0.1:1/hook", Secret: config.NewSecret(hmacKey)}},
		Exec: []config.ExecHook{
			{Name: "long", Argv: []string{"/bin/echo", "-n", strings.Repeat("y", 3000) + cut + pad}},
			{Name: "leaky", Argv: []string{"/bin/sh", "-c", `printf '%s %s %s\n' "$1" "$2" "$3"; echo "$1" >&2; exit 3`, "sh", adminToken, hmacKey, awsKey}},
		},
	}
	res := e.execute(BuildPlan(tg, e.input()))

	if res.Steps[3].Status != store.StepFailed {
		t.Fatalf("leaky hook: %s", res.Steps[3].Status)
	}
	journal, err := e.st.Journal(t.Context(), incident)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, j := range append(journal, e.steps...) {
		fmt.Fprintf(&all, "%s %s\n", j.Detail, j.Error)
	}
	for _, s := range res.Steps {
		fmt.Fprintf(&all, "%s %s\n", s.Detail, s.Error)
	}
	all.WriteString(res.Reason)
	for _, secret := range []string{adminToken, hmacKey, awsKey, cut, cut[len(cut)/2:], cut[:len(cut)/2]} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("%q reached the journal, OnStep or the result", secret)
		}
	}
	if d := execDetailOf(t, res.Steps[3]); !strings.Contains(d.Output, "[redacted] [redacted] [redacted]") {
		t.Errorf("leaky hook output %q, want its secrets replaced", d.Output)
	}
	if d := execDetailOf(t, res.Steps[2]); len(d.Output) != execOutputTail || !strings.HasSuffix(d.Output, "[redacted]"+pad) {
		t.Errorf("long hook output %d bytes ending %q, want the %d-byte tail ending with the redacted secret and the padding",
			len(d.Output), d.Output[max(0, len(d.Output)-40):], execOutputTail)
	}
}
