package actuator

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// brownOutEnv is an env whose Lambda client makes one attempt per call
// (the step's policy makes two per round) and that records OnRetry events.
type brownOutEnv struct {
	*env
	mu      sync.Mutex
	events  []RetryEvent
	onRetry func(RetryEvent)
}

func newBrownOutEnv(t *testing.T, more ...func(*brownOutEnv, *Config)) *brownOutEnv {
	b := &brownOutEnv{}
	b.env = newEnv(t, nil, func(c *Config) {
		c.Retry = RetryPolicy{Attempts: 2, Base: time.Second, Max: time.Second}
		c.Rounds = Backoff{Base: 10 * time.Second, Max: time.Minute}
		c.Lambda = func(string) *lambda.Client {
			return lambda.NewFromConfig(b.aws, func(o *lambda.Options) {
				o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = 1 })
			})
		}
		c.OnRetry = func(ev RetryEvent) {
			b.mu.Lock()
			b.events = append(b.events, ev)
			f := b.onRetry
			b.mu.Unlock()
			if f != nil {
				f(ev)
			}
		}
		for _, m := range more {
			m(b, c)
		}
	})
	autoAdvance(t, b.clk, time.Second)
	return b
}

func (b *brownOutEnv) kinds() []RetryKind {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []RetryKind
	for _, ev := range b.events {
		out = append(out, ev.Kind)
	}
	return out
}

// aliasOnly is the standard target with no step but the alias, retrying
// for retryFor.
func (b *brownOutEnv) aliasOnly(retryFor time.Duration) config.Target {
	tg := b.target()
	tg.Actions = config.Actions{RetryFor: config.Duration{Duration: retryFor}}
	return tg
}

// TestRollbackRidesOutABrownOut is issue #13 item 8: UpdateAlias failing
// with 503 for three rounds does not end the rollback; the fourth round
// succeeds, each failed round is journaled, and OnRetry says started,
// round, round, recovered.
func TestRollbackRidesOutABrownOut(t *testing.T) {
	b := newBrownOutEnv(t)
	b.sim.InjectFault(awssim.Fault{API: "UpdateAlias", Kind: awssim.Fault5xx, Status: 503, Count: 7})

	res := b.execute(BuildPlan(b.aliasOnly(15*time.Minute), b.input()))

	if res.Outcome != OutcomeRolledBack {
		t.Fatalf("outcome %s (%s), want rolled_back after the brown-out", res.Outcome, res.Reason)
	}
	if v, _, _ := b.sim.Alias(fnName, aliasNm); v != "1" {
		t.Errorf("alias at %s, want 1", v)
	}
	if n, ok := len(b.sim.Calls("UpdateAlias")), okCalls(b.sim, "UpdateAlias"); n != 8 || ok != 1 {
		t.Errorf("UpdateAlias calls %d (%d ok), want 7 refused and 1 applied", n, ok)
	}
	want := []RetryKind{RetryStarted, RetryRound, RetryRound, RetryRecovered}
	if got := b.kinds(); !equalKinds(got, want) {
		t.Errorf("OnRetry kinds %v, want %v", got, want)
	}
	ev := b.events[0]
	if ev.PlanID != incident || ev.Round != 1 || !ev.Until.Equal(ev.Since.Add(15*time.Minute)) || !strings.Contains(ev.Err, "503") && !strings.Contains(ev.Err, "ServiceException") {
		t.Errorf("first event %+v", ev)
	}
	journal, _ := b.st.Journal(context.Background(), incident)
	rounds := 0
	for _, j := range journal {
		if j.Status == store.StepIntent && j.Error != "" {
			rounds++
			var d roundDetail
			if err := json.Unmarshal(j.Detail, &d); err != nil || d.Round != rounds {
				t.Errorf("round entry %d: %s (%v)", rounds, j.Detail, err)
			}
		}
	}
	if rounds != 3 {
		t.Errorf("%d failed rounds journaled, want 3", rounds)
	}
	var d aliasDetail
	if err := json.Unmarshal(res.Steps[0].Detail, &d); err != nil || d.Rounds != 3 {
		t.Errorf("alias detail %s, want rounds 3", res.Steps[0].Detail)
	}
}

// TestBrownOutRetryResumesAfterACrash: a journal left by a process that
// died after two failed rounds is resumed with the same bound: the retry
// ends retry_for after the first failure, not after the restart.
func TestBrownOutRetryResumesAfterACrash(t *testing.T) {
	b := newBrownOutEnv(t)
	b.sim.InjectFault(awssim.Fault{API: "UpdateAlias", Kind: awssim.Fault5xx, Status: 503, Rate: 1})
	ctx := context.Background()
	for i, e := range []store.JournalEntry{
		{Status: store.StepIntent, Time: epoch},
		{Status: store.StepIntent, Time: epoch, Error: "round 1 failed"},
		{Status: store.StepIntent, Time: epoch.Add(10 * time.Second), Error: "round 2 failed"},
	} {
		e.PlanID, e.Target, e.Step, e.Name = incident, "checkout", 0, "lambda-alias"
		if err := b.st.AppendJournal(ctx, e, store.Fence{}); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
	b.clk.Advance(14*time.Minute + 30*time.Second) // the restart

	res := b.execute(BuildPlan(b.aliasOnly(15*time.Minute), b.input()))

	if res.Outcome != OutcomeFailed || !strings.Contains(res.Reason, "gave up after 4 rounds over 15m") {
		t.Fatalf("outcome %s (%s), want rollback_failed after 4 rounds over 15m", res.Outcome, res.Reason)
	}
	if end := b.clk.Now(); end.After(epoch.Add(16 * time.Minute)) {
		t.Errorf("retry ran until %s, past the bound epoch+15m (and a round)", end.Sub(epoch))
	}
	want := []RetryKind{RetryStarted, RetryExhausted}
	if got := b.kinds(); !equalKinds(got, want) || b.events[0].Round != 3 || !b.events[0].Since.Equal(epoch) {
		t.Errorf("OnRetry %+v, want started at round 3 since the first failure, then exhausted", b.events)
	}
}

// TestBrownOutStillStopsForANewerDeploy: a deploy landing between two
// rounds — a newer version, or the same versions under a new RevisionId —
// stops the step at once: never clobbered, no more rounds.
func TestBrownOutStillStopsForANewerDeploy(t *testing.T) {
	cases := []struct {
		name       string
		deploy     func(*brownOutEnv)
		wantUpdate int
		wantReason string
	}{
		{name: "newer version", deploy: func(b *brownOutEnv) { b.sim.Deploy(fnName, aliasNm, "3", nil) },
			wantUpdate: 2, wantReason: "alias moved to version 3"},
		{name: "new revision (412)", deploy: func(b *brownOutEnv) { b.sim.Deploy(fnName, aliasNm, "2", nil) },
			wantUpdate: 3, wantReason: "alias revision changed since observed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrownOutEnv(t)
			b.sim.InjectFault(awssim.Fault{API: "UpdateAlias", Kind: awssim.Fault5xx, Status: 503, Count: 2})
			b.onRetry = func(ev RetryEvent) {
				if ev.Kind == RetryStarted {
					tc.deploy(b)
				}
			}
			_, _, revBefore := b.sim.Alias(fnName, aliasNm)

			res := b.execute(BuildPlan(b.aliasOnly(15*time.Minute), b.input()))

			if res.Outcome != OutcomeAborted || !res.Reevaluate || !strings.Contains(res.Reason, tc.wantReason) {
				t.Fatalf("outcome %s (%s), want aborted: %s", res.Outcome, res.Reason, tc.wantReason)
			}
			if n := len(b.sim.Calls("UpdateAlias")); n != tc.wantUpdate {
				t.Errorf("UpdateAlias calls %d, want %d", n, tc.wantUpdate)
			}
			if okCalls(b.sim, "UpdateAlias") != 0 {
				t.Error("an UpdateAlias went through after the newer deploy")
			}
			if _, _, rev := b.sim.Alias(fnName, aliasNm); rev == revBefore {
				t.Error("the newer deploy did not happen")
			}
			if got := b.kinds(); !equalKinds(got, []RetryKind{RetryStarted}) {
				t.Errorf("OnRetry kinds %v, want started only", got)
			}
		})
	}
}

func equalKinds(a, b []RetryKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// cloudFrontStorm is a brownOutEnv whose CloudFront client also makes one
// attempt per call, with the standard target (alias, invalidation, Redis)
// retrying for retryFor.
func cloudFrontStorm(t *testing.T, retryFor time.Duration) (*brownOutEnv, config.Target) {
	b := newBrownOutEnv(t, func(b *brownOutEnv, c *Config) {
		c.CloudFront = func(string) *cloudfront.Client {
			return cloudfront.NewFromConfig(b.aws, func(o *cloudfront.Options) {
				o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = 1 })
			})
		}
	})
	tg := b.target()
	tg.Actions.RetryFor = config.Duration{Duration: retryFor}
	return b, tg
}

// TestCloudFrontRidesOutAThrottlingStorm: an invalidation throttled for
// two whole rounds of retries is created in the third (one invalidation,
// the same CallerReference), the failed rounds are journaled, and nobody
// is paged: the alias is already back.
func TestCloudFrontRidesOutAThrottlingStorm(t *testing.T) {
	b, tg := cloudFrontStorm(t, 15*time.Minute)
	b.sim.InjectFault(awssim.Fault{API: "CreateInvalidation", Kind: awssim.FaultThrottle, Count: 5})

	res := b.execute(BuildPlan(tg, b.input()))

	if res.Outcome != OutcomeRolledBack || strings.Contains(res.Reason, "failed") {
		t.Fatalf("outcome %s (%s), want rolled_back with every step done", res.Outcome, res.Reason)
	}
	if n := len(b.sim.Invalidations(distID)); n != 1 {
		t.Errorf("%d invalidations, want 1", n)
	}
	var d cloudFrontDetail
	if err := json.Unmarshal(res.Steps[1].Detail, &d); err != nil || res.Steps[1].Status != store.StepDone || d.Rounds != 2 {
		t.Errorf("cloudfront step %s detail %s, want done after 2 failed rounds", res.Steps[1].Status, res.Steps[1].Detail)
	}
	journal, _ := b.st.Journal(context.Background(), incident)
	rounds := 0
	for _, j := range journal {
		if j.Step == 1 && j.Status == store.StepIntent && j.Error != "" {
			rounds++
		}
	}
	if rounds != 2 {
		t.Errorf("%d failed rounds of the cloudfront step journaled, want 2", rounds)
	}
	if got := b.kinds(); len(got) != 0 {
		t.Errorf("OnRetry told %v for a non-critical step, want nothing", got)
	}
}

// TestCloudFrontStormIsBounded: an invalidation throttled without end
// gives up after NonCriticalRetryFor, not the target's retry_for, and the
// plan goes on: the alias is reverted, the cache flushed.
func TestCloudFrontStormIsBounded(t *testing.T) {
	b, tg := cloudFrontStorm(t, 15*time.Minute)
	b.sim.InjectFault(awssim.Fault{API: "CreateInvalidation", Kind: awssim.FaultThrottle, Rate: 1})
	start := b.clk.Now()

	res := b.execute(BuildPlan(tg, b.input()))

	took := b.clk.Since(start)
	if res.Outcome != OutcomeRolledBack || !strings.Contains(res.Reason, "non-critical steps failed: cloudfront") {
		t.Errorf("outcome %s (%s), want rolled_back naming the failed cloudfront step", res.Outcome, res.Reason)
	}
	if res.Steps[1].Status != store.StepFailed || !strings.Contains(res.Steps[1].Error, "gave up after") {
		t.Errorf("cloudfront step %s: %s", res.Steps[1].Status, res.Steps[1].Error)
	}
	if res.Steps[2].Status != store.StepDone {
		t.Errorf("redis step %s after the failed invalidation, want done", res.Steps[2].Status)
	}
	if took < NonCriticalRetryFor || took > NonCriticalRetryFor+time.Minute {
		t.Errorf("the plan took %s of fake time, want just over %s", took, NonCriticalRetryFor)
	}
}
