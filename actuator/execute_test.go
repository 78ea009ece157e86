package actuator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/redisstore"
)

func TestExecuteRevertsAliasConditionallyAndClearsRouting(t *testing.T) {
	cases := []struct {
		name    string
		weights map[string]float64 // nil: alias fully on 2; else split 1 + weights
	}{
		{name: "full deploy", weights: nil},
		{name: "traffic split", weights: map[string]float64{"2": 0.25}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry())
			e := newEnv(t, tc.weights, func(c *Config) { c.Metrics = m })
			seed(t, e.rc, "page:", 300)
			seed(t, e.rc, "session:", 50)

			res := e.execute(BuildPlan(e.target(), e.input()))

			if res.Outcome != OutcomeRolledBack {
				t.Fatalf("outcome %s (%s), want rolled_back; steps %+v", res.Outcome, res.Reason, res.Steps)
			}
			ups := e.sim.Calls("UpdateAlias")
			if len(ups) != 1 {
				t.Fatalf("UpdateAlias calls = %d, want 1", len(ups))
			}
			p := ups[0].Params
			if p["FunctionVersion"] != "1" || p["RevisionId"] != e.rev {
				t.Errorf("UpdateAlias params %v, want version 1 under revision %s", p, e.rev)
			}
			if w, ok := p["AdditionalVersionWeights"].(map[string]float64); !ok || len(w) != 0 {
				t.Errorf("UpdateAlias routing %#v, want an explicitly empty AdditionalVersionWeights", p["AdditionalVersionWeights"])
			}
			v, w, rev := e.sim.Alias(fnName, aliasNm)
			if v != "1" || len(w) != 0 || rev == e.rev {
				t.Errorf("alias now %s %v %s, want 1 with no routing and a new revision", v, w, rev)
			}
			if n := len(e.sim.Invalidations(distID)); n != 1 {
				t.Errorf("invalidations = %d, want 1", n)
			}
			if n := countKeys(t, e.rc, "page:*"); n != 0 {
				t.Errorf("%d page keys left", n)
			}
			if n := countKeys(t, e.rc, "session:*"); n != 50 {
				t.Errorf("session keys = %d, want all 50 kept", n)
			}
			journal, err := e.st.Journal(context.Background(), incident)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, j := range journal {
				got = append(got, j.Name+"="+string(j.Status))
			}
			want := []string{"lambda-alias=intent", "lambda-alias=done", "cloudfront:" + distID + "=intent",
				"cloudfront:" + distID + "=done", "redis:pages=intent", "redis:pages=done"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("journal %v, want %v", got, want)
			}
			if len(e.steps) != len(journal) {
				t.Errorf("OnStep saw %d entries, journal has %d", len(e.steps), len(journal))
			}
			if got := testutil.ToFloat64(m.StepOutcomes.WithLabelValues("lambda-alias", "done")); got != 1 {
				t.Errorf("steps{lambda-alias,done} = %v, want 1", got)
			}
		})
	}
}

func TestExecuteDoesNotClobberNewerDeploy(t *testing.T) {
	cases := []struct {
		name       string
		move       func(e *env)
		wantUpdate int // UpdateAlias calls made (refused ones included)
		wantVer    string
		wantReason string
	}{
		{name: "alias moved to a newer version", move: func(e *env) { e.sim.Deploy(fnName, aliasNm, "3", nil) },
			wantUpdate: 0, wantVer: "3", wantReason: "alias moved to version 3 (newer deploy); not clobbering"},
		{name: "newer version in the traffic split", move: func(e *env) { e.sim.Deploy(fnName, aliasNm, "2", map[string]float64{"3": 0.1}) },
			wantUpdate: 0, wantVer: "2", wantReason: "alias moved to version 3 (newer deploy); not clobbering"},
		{name: "same versions, new revision: RevisionId condition refuses", move: func(e *env) { e.sim.Deploy(fnName, aliasNm, "2", nil) },
			wantUpdate: 1, wantVer: "2", wantReason: "alias revision changed since observed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			seed(t, e.rc, "page:", 10)
			p := BuildPlan(e.target(), e.input())
			tc.move(e)
			_, _, revBefore := e.sim.Alias(fnName, aliasNm)

			res := e.execute(p)

			if res.Outcome != OutcomeAborted || !res.Reevaluate {
				t.Fatalf("outcome %s reevaluate=%v, want aborted + re-evaluate", res.Outcome, res.Reevaluate)
			}
			if !strings.Contains(res.Reason, tc.wantReason) {
				t.Errorf("reason %q, want it to contain %q", res.Reason, tc.wantReason)
			}
			if n := len(e.sim.Calls("UpdateAlias")); n != tc.wantUpdate {
				t.Errorf("UpdateAlias calls = %d, want %d", n, tc.wantUpdate)
			}
			if v, _, rev := e.sim.Alias(fnName, aliasNm); v != tc.wantVer || rev != revBefore {
				t.Errorf("alias %s rev %s, want untouched %s rev %s", v, rev, tc.wantVer, revBefore)
			}
			want := []store.StepStatus{store.StepAborted, store.StepSkipped, store.StepSkipped}
			if got := statuses(res); !reflect.DeepEqual(got, want) {
				t.Errorf("steps %v, want %v", got, want)
			}
			if n := len(e.sim.Calls("CreateInvalidation")); n != 0 {
				t.Errorf("CreateInvalidation calls = %d after abort, want 0", n)
			}
			if n := countKeys(t, e.rc, "page:*"); n != 10 {
				t.Errorf("page keys = %d after abort, want 10", n)
			}
		})
	}
}

func TestExecuteTwiceChangesNothing(t *testing.T) {
	e := newEnv(t, nil, nil)
	seed(t, e.rc, "page:", 20)
	p := BuildPlan(e.target(), e.input())
	first := e.execute(p)
	seed(t, e.rc, "page:", 5) // a finished redis step must not run again
	second := e.execute(p)

	if first.Outcome != OutcomeRolledBack || second.Outcome != first.Outcome {
		t.Fatalf("outcomes %s then %s, want rolled_back twice", first.Outcome, second.Outcome)
	}
	if n := len(e.sim.Calls("UpdateAlias")); n != 1 {
		t.Errorf("UpdateAlias calls = %d, want 1", n)
	}
	if n := len(e.sim.Calls("CreateInvalidation")); n != 1 {
		t.Errorf("CreateInvalidation calls = %d, want 1", n)
	}
	if n := countKeys(t, e.rc, "page:*"); n != 5 {
		t.Errorf("page keys = %d, want the 5 seeded after the first run", n)
	}
	for _, s := range second.Steps {
		if !s.Resumed {
			t.Errorf("second run re-ran step %s", s.Name)
		}
	}
	j, _ := e.st.Journal(context.Background(), incident)
	if len(j) != 6 {
		t.Errorf("journal has %d entries after two runs, want 6", len(j))
	}
}

// TestExecuteRejournalsWhatTheStoreLost: the store's Redis comes back
// empty after the first two steps; the plan ends with every step's outcome
// in the journal again, and nothing run twice.
func TestExecuteRejournalsWhatTheStoreLost(t *testing.T) {
	storeRedis := testredis.Start(t).Client(t)
	st, err := redisstore.New(redisstore.Options{Client: storeRedis})
	if err != nil {
		t.Fatal(err)
	}
	var flushed bool // OnStep runs on the plan's goroutine
	e := newEnv(t, nil, func(c *Config) {
		c.Store = st
		c.OnStep = func(j store.JournalEntry) {
			if strings.HasPrefix(j.Name, "cloudfront:") && j.Status == store.StepDone && !flushed {
				flushed = true
				if err := storeRedis.FlushAll(context.Background()).Err(); err != nil {
					t.Error(err)
				}
			}
		}
	})
	seed(t, e.rc, "page:", 10)

	res := e.execute(BuildPlan(e.target(), e.input()))

	if res.Outcome != OutcomeRolledBack {
		t.Fatalf("outcome %s (%s)", res.Outcome, res.Reason)
	}
	journal, err := st.Journal(context.Background(), incident)
	if err != nil {
		t.Fatal(err)
	}
	outcome := map[string]store.StepStatus{}
	for _, j := range journal {
		outcome[j.Name] = j.Status
	}
	want := map[string]store.StepStatus{"lambda-alias": store.StepDone, "cloudfront:" + distID: store.StepDone, "redis:pages": store.StepDone}
	if !reflect.DeepEqual(outcome, want) {
		t.Errorf("last status per step %v, want %v (journal %+v)", outcome, want, journal)
	}
	if n, m := len(e.sim.Calls("UpdateAlias")), len(e.sim.Invalidations(distID)); n != 1 || m != 1 {
		t.Errorf("UpdateAlias calls %d, invalidations %d; want 1 and 1 (nothing run again)", n, m)
	}
	var d aliasDetail
	for _, j := range journal {
		if j.Name == "lambda-alias" && (json.Unmarshal(j.Detail, &d) != nil || d.To != "1") {
			t.Errorf("re-journaled alias detail %s, want the step's own (to version 1)", j.Detail)
		}
	}
}

func TestExecuteResumesAfterAliasUpdatedButNotJournaled(t *testing.T) {
	e := newEnv(t, nil, nil)
	p := BuildPlan(e.target(), e.input())
	// A previous run journaled the intent, its UpdateAlias landed, and it
	// died before journaling the outcome.
	if err := e.st.AppendJournal(context.Background(), store.JournalEntry{PlanID: incident, Target: "checkout",
		Step: 0, Name: "lambda-alias", Status: store.StepIntent, Time: epoch}, store.Fence{}); err != nil {
		t.Fatal(err)
	}
	e.sim.Deploy(fnName, aliasNm, "1", nil)

	res := e.execute(p)

	if res.Outcome != OutcomeRolledBack {
		t.Fatalf("outcome %s (%s)", res.Outcome, res.Reason)
	}
	if n := len(e.sim.Calls("UpdateAlias")); n != 0 {
		t.Errorf("UpdateAlias calls = %d, want 0: the alias was already reverted", n)
	}
	var d aliasDetail
	if err := json.Unmarshal(res.Steps[0].Detail, &d); err != nil || !d.AlreadyReverted {
		t.Errorf("alias detail %s, want already_reverted", res.Steps[0].Detail)
	}
	if !strings.Contains(res.Reason, "already") {
		t.Errorf("reason %q does not say the alias already was reverted", res.Reason)
	}
}

func TestExecuteRidesOutFaultStorms(t *testing.T) {
	for _, f := range []awssim.Fault{
		{API: "*", Kind: awssim.FaultThrottle, Rate: 0.5},
		{API: "*", Kind: awssim.Fault5xx, Status: 503, Rate: 0.4},
		{API: "*", Kind: awssim.FaultReset, Rate: 0.3},
	} {
		t.Run(f.Kind.String(), func(t *testing.T) { rideOutStorm(t, f) })
	}
}

func rideOutStorm(t *testing.T, fault awssim.Fault) {
	// The SDK's adaptive mode paces requests with a client-side rate
	// limiter in real time (a minute for this storm); the test swaps in
	// standard mode with 3 attempts so that it is the step-level policy,
	// on the fake clock, that has to ride the storm out.
	var e *env
	e = newEnv(t, nil, func(c *Config) {
		c.Retry = RetryPolicy{Attempts: 12, Base: time.Second, Max: 8 * time.Second}
		c.Lambda = func(string) *lambda.Client {
			return lambda.NewFromConfig(e.aws, func(o *lambda.Options) { o.Retryer = fastRetryer() })
		}
		c.CloudFront = func(string) *cloudfront.Client {
			return cloudfront.NewFromConfig(e.aws, func(o *cloudfront.Options) { o.Retryer = fastRetryer() })
		}
	})
	autoAdvance(t, e.clk, 8*time.Second)
	const n = 8 // incidents on as many functions, each with two distributions
	revs := make([]string, n)
	for i := range n {
		fn := fmt.Sprintf("fn-%d", i)
		e.sim.Deploy(fn, aliasNm, "1", nil)
		revs[i] = e.sim.Deploy(fn, aliasNm, "2", nil)
		e.sim.CreateDistribution(fmt.Sprintf("D%d-A", i))
		e.sim.CreateDistribution(fmt.Sprintf("D%d-B", i))
	}
	e.sim.InjectFault(fault)

	for i := range n {
		tg := config.Target{Name: fmt.Sprintf("t%d", i), Function: fmt.Sprintf("fn-%d", i), Alias: aliasNm,
			Actions: config.Actions{CloudFront: []config.CloudFrontAction{
				{Distribution: fmt.Sprintf("D%d-A", i), Paths: []string{"/*"}},
				{Distribution: fmt.Sprintf("D%d-B", i), Paths: []string{"/index.html"}},
			}}}
		in := PlanInput{IncidentID: fmt.Sprintf("inc-%d", i), FromVersion: "2", ToVersion: "1", RevisionID: revs[i]}
		res := e.execute(BuildPlan(tg, in))
		if res.Outcome != OutcomeRolledBack {
			t.Fatalf("incident %d: outcome %s (%s); steps %+v", i, res.Outcome, res.Reason, res.Steps)
		}
		if v, w, _ := e.sim.Alias(tg.Function, aliasNm); v != "1" || len(w) != 0 {
			t.Errorf("%s alias %s %v, want 1", tg.Function, v, w)
		}
		for _, d := range []string{"A", "B"} {
			if k := len(e.sim.Invalidations(fmt.Sprintf("D%d-%s", i, d))); k != 1 {
				t.Errorf("distribution D%d-%s has %d invalidations, want 1", i, d, k)
			}
		}
	}
	throttled := 0
	for _, c := range e.sim.Calls("") {
		if c.Err != "" {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("no call was faulted: the storm did not happen")
	}
	if k := okCalls(e.sim, "UpdateAlias"); k != n {
		t.Errorf("successful UpdateAlias = %d, want one per incident (%d)", k, n)
	}
	t.Logf("%d faulted calls ridden out", throttled)
}

func TestExecutePermanentErrorFailsAtOnce(t *testing.T) {
	e := newEnv(t, nil, nil)
	tg := e.target()
	tg.Function = "no-such-function"
	res := e.execute(BuildPlan(tg, e.input()))

	if res.Outcome != OutcomeFailed {
		t.Fatalf("outcome %s, want rollback_failed", res.Outcome)
	}
	if n := len(e.sim.Calls("GetAlias")); n != 1 {
		t.Errorf("GetAlias calls = %d, want 1 (not found is not retried)", n)
	}
	if !strings.Contains(res.Steps[0].Error, "ResourceNotFoundException") {
		t.Errorf("error %q does not name the cause", res.Steps[0].Error)
	}
	if got := statuses(res); got[1] != store.StepSkipped || got[2] != store.StepSkipped {
		t.Errorf("steps %v, want later steps skipped", got)
	}
}

func TestExecuteStaleFenceStopsBeforeActing(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	old, err := e.st.AcquireLease(ctx, "checkout", "replica-a", 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(20 * time.Second)
	if _, err := e.st.AcquireLease(ctx, "checkout", "replica-b", 15*time.Second); err != nil {
		t.Fatal(err)
	}

	_, err = e.act.Execute(ctx, BuildPlan(e.target(), e.input()), old)

	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Execute error %v, want ErrFenced", err)
	}
	if n := len(e.sim.Calls("")); n != 0 {
		t.Errorf("%d AWS calls made under a stale fence, want 0", n)
	}
}

func TestExecuteDryRunChangesNothing(t *testing.T) {
	cases := []struct {
		name       string
		daemonDry  bool
		mutInput   func(*PlanInput)
		wantReason string
	}{
		{name: "daemon dry-run", daemonDry: true, wantReason: "dry-run"},
		{name: "plan dry-run", mutInput: func(in *PlanInput) { in.DryRun = true }, wantReason: "dry-run"},
		{name: "no known-good version", mutInput: func(in *PlanInput) { in.ToVersion = "" }, wantReason: "no known-good"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, func(c *Config) { c.DryRun = tc.daemonDry })
			seed(t, e.rc, "page:", 10)
			in := e.input()
			if tc.mutInput != nil {
				tc.mutInput(&in)
			}
			res := e.execute(BuildPlan(e.target(), in))

			if res.Outcome != OutcomeNotExecuted || !strings.Contains(res.Reason, tc.wantReason) {
				t.Errorf("outcome %s (%s), want not_executed mentioning %q", res.Outcome, res.Reason, tc.wantReason)
			}
			if n := len(e.sim.Calls("")); n != 0 {
				t.Errorf("%d AWS calls in dry-run", n)
			}
			if n := countKeys(t, e.rc, "page:*"); n != 10 {
				t.Errorf("page keys = %d, want 10", n)
			}
			j, _ := e.st.Journal(context.Background(), incident)
			if len(j) != 3 {
				t.Fatalf("journal has %d entries, want one per step", len(j))
			}
			for _, x := range j {
				if x.Status != store.StepNotExecuted {
					t.Errorf("step %s journaled %s, want not_executed", x.Name, x.Status)
				}
			}
		})
	}
}

func TestExecuteVerify(t *testing.T) {
	cases := []struct {
		name        string
		verifier    Verifier
		wantOutcome Outcome
		wantStatus  store.StepStatus
	}{
		{name: "healthy", verifier: func(context.Context, config.Target, time.Duration) (bool, string, error) {
			return true, "probes green", nil
		}, wantOutcome: OutcomeRolledBack, wantStatus: store.StepDone},
		{name: "unhealthy", verifier: func(context.Context, config.Target, time.Duration) (bool, string, error) {
			return false, "probe /health: 5 of 6 failed", nil
		}, wantOutcome: OutcomeUnhealthyAfter, wantStatus: store.StepFailed},
		{name: "cannot observe", verifier: func(context.Context, config.Target, time.Duration) (bool, string, error) {
			return false, "", errors.New("probe endpoint unreachable")
		}, wantOutcome: OutcomeUnhealthyAfter, wantStatus: store.StepFailed},
		{name: "no verifier", verifier: nil, wantOutcome: OutcomeRolledBack, wantStatus: store.StepSkipped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gotWindow time.Duration
			var aliasAtVerify string
			var e *env
			e = newEnv(t, nil, func(c *Config) {
				if tc.verifier != nil {
					c.Verifier = func(ctx context.Context, tg config.Target, w time.Duration) (bool, string, error) {
						gotWindow = w
						aliasAtVerify, _, _ = e.sim.Alias(fnName, aliasNm)
						return tc.verifier(ctx, tg, w)
					}
				}
			})
			tg := e.target()
			tg.Actions.Verify.Window = config.Duration{Duration: 2 * time.Minute}
			res := e.execute(BuildPlan(tg, e.input()))

			last := res.Steps[len(res.Steps)-1]
			if res.Outcome != tc.wantOutcome || last.Kind != KindVerify || last.Status != tc.wantStatus {
				t.Fatalf("outcome %s, verify %s %s, want %s / %s", res.Outcome, last.Kind, last.Status, tc.wantOutcome, tc.wantStatus)
			}
			if tc.wantOutcome == OutcomeUnhealthyAfter && !strings.HasPrefix(res.Reason, "rollback did not restore health") {
				t.Errorf("reason %q", res.Reason)
			}
			if tc.verifier != nil && (gotWindow != 2*time.Minute || aliasAtVerify != "1") {
				t.Errorf("verifier saw window %s alias %s, want 2m after the revert to 1", gotWindow, aliasAtVerify)
			}
		})
	}
}

func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.MaxBackoff = 10 * time.Millisecond
	})
}

// A plan journaled in dry-run stays not executed when dry-run is turned
// off and the same incident is executed again.
func TestDryRunPlanIsNotExecutedLater(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.DryRun = true })
	p := BuildPlan(e.target(), e.input())
	if res := e.execute(p); res.Outcome != OutcomeNotExecuted {
		t.Fatalf("dry-run outcome %s", res.Outcome)
	}
	live := New(Config{Store: e.st, Lambda: e.cfg.Lambda, CloudFront: e.cfg.CloudFront, Clock: e.clk})
	res, err := live.Execute(context.Background(), p, store.Fence{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeNotExecuted || len(e.sim.Calls("UpdateAlias")) != 0 {
		t.Errorf("outcome %s, %d UpdateAlias; want not_executed and none", res.Outcome, len(e.sim.Calls("UpdateAlias")))
	}
}
