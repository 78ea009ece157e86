package actuator

// The crash test: a child process (this test binary, ACTUATOR_HELPER=crash)
// runs the plan against the parent's awssim, redis-server, webhook server
// and bbolt file, and SIGKILLs itself right after journal write #K. The
// parent then resumes with Execute and checks that every action happened
// exactly once and the journal is complete — for every K.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// crashSetup is what parent and child share, passed through the environment.
type crashSetup struct {
	SimURL, Redis, Bolt, HookURL, ExecOut, Rev string
	KillAfter                                  int
}

func (c crashSetup) environ() []string {
	return append(os.Environ(), helperEnv+"=crash",
		"ACT_SIM_URL="+c.SimURL, "ACT_REDIS="+c.Redis, "ACT_BOLT="+c.Bolt, "ACT_HOOK_URL="+c.HookURL,
		"ACT_EXEC_OUT="+c.ExecOut, "ACT_REV="+c.Rev, "ACT_KILL_AFTER="+strconv.Itoa(c.KillAfter))
}

func crashSetupFromEnv() crashSetup {
	k, _ := strconv.Atoi(os.Getenv("ACT_KILL_AFTER"))
	return crashSetup{SimURL: os.Getenv("ACT_SIM_URL"), Redis: os.Getenv("ACT_REDIS"), Bolt: os.Getenv("ACT_BOLT"),
		HookURL: os.Getenv("ACT_HOOK_URL"), ExecOut: os.Getenv("ACT_EXEC_OUT"), Rev: os.Getenv("ACT_REV"), KillAfter: k}
}

// plan is the crash test's plan: every kind of step.
func (c crashSetup) plan() Plan {
	tg := config.Target{Name: "checkout", Function: fnName, Alias: aliasNm, Actions: config.Actions{
		CloudFront: []config.CloudFrontAction{{Distribution: distID, Paths: []string{"/*"}}},
		Redis:      []config.RedisAction{{Name: "pages", Conn: config.RedisConn{Addrs: []string{c.Redis}}, Patterns: []string{"page:*"}}},
		Webhooks:   []config.WebhookHook{{Name: "bot", URL: c.HookURL, Secret: config.NewSecret("k"), Retries: 2}},
		Exec:       []config.ExecHook{{Name: "record", Argv: helperArgv(), Env: map[string]string{helperEnv: "append", "ACT_OUT": c.ExecOut}}},
		Verify:     config.Verify{Window: config.Duration{Duration: time.Minute}},
	}}
	return BuildPlan(tg, PlanInput{IncidentID: incident, FromVersion: "2", ToVersion: "1", RevisionID: c.Rev, Trigger: "policy"})
}

// actuatorFor builds an actuator on the shared parts, as the daemon would.
func (c crashSetup) actuatorFor(st store.Store, clk clockwork.Clock, onStep func(store.JournalEntry)) (*Actuator, error) {
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", EndpointURL: c.SimURL,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	return New(Config{
		Store:      st,
		Lambda:     func(string) *lambda.Client { return lambda.NewFromConfig(cfg) },
		CloudFront: func(string) *cloudfront.Client { return cloudfront.NewFromConfig(cfg) },
		Clock:      clk,
		Retry:      RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 10 * time.Millisecond},
		Verifier: func(context.Context, config.Target, time.Duration) (bool, string, error) {
			return true, "ok", nil
		},
		OnStep: onStep,
	}), nil
}

// runCrashChild is the child: run the plan, die after journal write K.
func runCrashChild() int {
	c := crashSetupFromEnv()
	st, err := boltstore.Open(c.Bolt, boltstore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	writes := 0
	a, err := c.actuatorFor(st, clockwork.NewRealClock(), func(store.JournalEntry) {
		writes++
		if writes == c.KillAfter {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := a.Execute(context.Background(), c.plan(), store.Fence{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

func TestCrashBetweenAnyTwoJournalWritesResumesExactlyOnce(t *testing.T) {
	steps := len(crashSetup{}.plan().Steps)
	for k := 1; k <= 2*steps; k++ {
		t.Run(fmt.Sprintf("kill after write %d", k), func(t *testing.T) { crashAndResume(t, k, steps) })
	}
}

func crashAndResume(t *testing.T, k, steps int) {
	clk := clockwork.NewFakeClockAt(epoch)
	sim, _ := awssim.Start(t, awssim.Options{Clock: clk})
	sim.CreateDistribution(distID)
	sim.Deploy(fnName, aliasNm, "1", nil)
	rds := testredis.Start(t)
	rc := rds.Client(t)
	seed(t, rc, "page:", 1200)
	seed(t, rc, "session:", 30)
	var deliveries atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { deliveries.Add(1) }))
	t.Cleanup(hook.Close)
	dir := t.TempDir()
	c := crashSetup{SimURL: sim.URL(), Redis: rds.Addr, Bolt: filepath.Join(dir, "state.db"), HookURL: hook.URL,
		ExecOut: filepath.Join(dir, "exec.log"), Rev: sim.Deploy(fnName, aliasNm, "2", nil), KillAfter: k}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = c.environ()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}

	st, err := boltstore.Open(c.Bolt, boltstore.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	before, _ := st.Journal(context.Background(), incident)
	if len(before) != k {
		t.Fatalf("journal has %d entries after the kill, want %d", len(before), k)
	}
	a, err := c.actuatorFor(st, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Execute(context.Background(), c.plan(), store.Fence{})
	if err != nil {
		t.Fatal(err)
	}

	if res.Outcome != OutcomeRolledBack {
		t.Fatalf("outcome %s (%s)", res.Outcome, res.Reason)
	}
	if n := len(sim.Calls("UpdateAlias")); n != 1 {
		t.Errorf("UpdateAlias calls = %d, want 1", n)
	}
	if n := len(sim.Calls("CreateInvalidation")); n != 1 {
		t.Errorf("CreateInvalidation calls = %d, want 1", n)
	}
	if v, w, _ := sim.Alias(fnName, aliasNm); v != "1" || len(w) != 0 {
		t.Errorf("alias %s %v, want 1", v, w)
	}
	if n := countKeys(t, rc, "page:*"); n != 0 {
		t.Errorf("%d page keys left", n)
	}
	if n := countKeys(t, rc, "session:*"); n != 30 {
		t.Errorf("session keys %d, want 30", n)
	}
	if n := deliveries.Load(); n != 1 {
		t.Errorf("webhook deliveries = %d, want 1", n)
	}
	if b, _ := os.ReadFile(c.ExecOut); strings.Count(string(b), incident) != 1 {
		t.Errorf("exec hook ran %d times, want 1", strings.Count(string(b), incident))
	}
	after, _ := st.Journal(context.Background(), incident)
	final := map[int]store.StepStatus{}
	for _, e := range after {
		if e.Status != store.StepIntent {
			if _, dup := final[e.Step]; dup {
				t.Errorf("step %d has two outcomes", e.Step)
			}
			final[e.Step] = e.Status
		}
	}
	for i := 0; i < steps; i++ {
		if final[i] != store.StepDone {
			t.Errorf("step %d final status %q, want done", i, final[i])
		}
	}
}
