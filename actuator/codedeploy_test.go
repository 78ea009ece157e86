package actuator

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

const (
	cdApp   = "shop"
	cdGroup = "checkout-live"
	cdStep  = "codedeploy:" + cdApp + "/" + cdGroup
)

// newCodeDeployEnv is the issue #14 situation: CodeDeploy is shifting the
// alias from known-good 1 to bad 2 (Canary10Percent5Minutes: 10% on 2) and
// the watch trips. It returns the env and the deployment's id.
func newCodeDeployEnv(t *testing.T, mut func(*Config)) (*env, string) {
	t.Helper()
	var e *env
	e = newEnv(t, map[string]float64{"2": 0.1}, func(c *Config) {
		c.CodeDeploy = func(string) *codedeploy.Client { return codedeploy.NewFromConfig(e.aws) }
		if mut != nil {
			mut(c)
		}
	})
	return e, e.sim.StartCodeDeployDeployment(cdApp, cdGroup, fnName, aliasNm, "2")
}

func cdTarget() config.Target {
	return config.Target{Name: "checkout", Function: fnName, Alias: aliasNm,
		CodeDeploy: &config.CodeDeploy{Application: cdApp, DeploymentGroup: cdGroup}}
}

// callIndex is the position in the call log of the first call of api.
func callIndex(calls []awssim.Call, api string) int {
	for i, c := range calls {
		if c.API == api {
			return i
		}
	}
	return -1
}

// TestCodeDeployStoppedBeforeRevert is issue #14: on a trip canaryd stops
// the deployment in progress, with auto-rollback, before it reverts the
// alias, so CodeDeploy's next step does not shift the bad version back.
// Without the step, it does.
func TestCodeDeployStoppedBeforeRevert(t *testing.T) {
	t.Run("without codedeploy the revert is undone", func(t *testing.T) {
		e, _ := newCodeDeployEnv(t, nil)
		tg := cdTarget()
		tg.CodeDeploy = nil
		if res := e.execute(BuildPlan(tg, e.input())); res.Outcome != OutcomeRolledBack {
			t.Fatalf("outcome %s: %s", res.Outcome, res.Reason)
		}
		e.sim.CodeDeployShift()
		if v, w, _ := e.sim.Alias(fnName, aliasNm); v != "2" || len(w) != 0 {
			t.Fatalf("alias %s %v: the simulator does not model the problem", v, w)
		}
	})

	e, id := newCodeDeployEnv(t, nil)
	p := BuildPlan(cdTarget(), e.input())
	var desc bytes.Buffer
	if err := p.Describe(&desc); err != nil || !strings.Contains(desc.String(), "1. "+cdStep) || !strings.Contains(desc.String(), "with auto-rollback") {
		t.Errorf("plan text:\n%s", desc.String())
	}

	res := e.execute(p)

	if res.Outcome != OutcomeRolledBack || len(res.Steps) != 2 || res.Steps[0].Name != cdStep || res.Steps[0].Kind != KindCodeDeploy ||
		res.Steps[0].Status != store.StepDone || res.Steps[1].Kind != KindLambdaAlias || res.Steps[1].Status != store.StepDone {
		t.Fatalf("outcome %s (%s), steps %+v", res.Outcome, res.Reason, res.Steps)
	}
	calls := e.sim.Calls("")
	stop, update := callIndex(calls, "StopDeployment"), callIndex(calls, "UpdateAlias")
	if stop < 0 || update < 0 || stop > update || calls[stop].Time.After(calls[update].Time) {
		t.Fatalf("StopDeployment at %d, UpdateAlias at %d in the call log: want the stop first", stop, update)
	}
	if s := e.sim.Calls("StopDeployment"); len(s) != 1 || s[0].Params["deploymentId"] != id || s[0].Params["autoRollbackEnabled"] != true || s[0].Err != "" {
		t.Fatalf("StopDeployment calls %+v", s)
	}
	d, _ := e.sim.CodeDeployDeployment(id)
	if d.Status != awssim.DeploymentStopped || !d.StoppedWithAutoRollback {
		t.Errorf("deployment %+v, want Stopped with auto-rollback", d)
	}
	var det codeDeployDetail
	if err := json.Unmarshal(res.Steps[0].Detail, &det); err != nil || !det.AutoRollback || len(det.Deployments) != 1 ||
		det.Deployments[0].ID != id || det.Deployments[0].Status != "Succeeded" {
		t.Errorf("detail %s", res.Steps[0].Detail)
	}

	_, _, rev := e.sim.Alias(fnName, aliasNm)
	e.sim.CodeDeployShift() // CodeDeploy's next step: only its rollback runs, to 1
	if v, w, now := e.sim.Alias(fnName, aliasNm); v != "1" || len(w) != 0 || now != rev {
		t.Errorf("after CodeDeploy's next step the alias is %s %v (revision %s, was %s); want 1 alone, untouched", v, w, now, rev)
	}
}

// TestCodeDeployResume: a plan resumed after a crash between the stop and
// the revert does not stop again; one resumed after a crash between
// StopDeployment and its journal entry stops nothing more — it leaves the
// rollback deployment CodeDeploy started running — and neither fails.
func TestCodeDeployResume(t *testing.T) {
	t.Run("crash between the steps", func(t *testing.T) {
		ctx, crash := context.WithCancel(context.Background())
		defer crash()
		e, id := newCodeDeployEnv(t, func(c *Config) {
			on := c.OnStep
			c.OnStep = func(j store.JournalEntry) {
				on(j)
				if j.Name == cdStep && j.Status == store.StepDone {
					crash() // the process dies before the alias step
				}
			}
		})
		p := BuildPlan(cdTarget(), e.input())
		if res, err := e.act.Execute(ctx, p, store.Fence{}); err == nil && res.Outcome == OutcomeRolledBack {
			t.Fatalf("the crashed run finished: %+v", res)
		}
		if n := e.sim.CallCount("UpdateAlias"); n != 0 {
			t.Fatalf("the crashed run updated the alias (%d calls)", n)
		}

		res := e.execute(p) // the restarted daemon resumes

		if res.Outcome != OutcomeRolledBack || !res.Steps[0].Resumed || res.Steps[0].Status != store.StepDone || res.Steps[1].Status != store.StepDone {
			t.Fatalf("resumed: outcome %s (%s), steps %+v", res.Outcome, res.Reason, res.Steps)
		}
		if n := e.sim.CallCount("StopDeployment"); n != 1 {
			t.Errorf("StopDeployment called %d times, want once", n)
		}
		if d, _ := e.sim.CodeDeployDeployment(id); d.Status != awssim.DeploymentStopped {
			t.Errorf("deployment %+v", d)
		}
		if v, w, _ := e.sim.Alias(fnName, aliasNm); v != "1" || len(w) != 0 {
			t.Errorf("alias %s %v", v, w)
		}
	})

	t.Run("crash before the stop was journaled", func(t *testing.T) {
		e, id := newCodeDeployEnv(t, nil)
		p := BuildPlan(cdTarget(), e.input())
		// The dead run journaled the intent and stopped the deployment.
		if err := e.st.AppendJournal(context.Background(), store.JournalEntry{PlanID: incident, Target: "checkout", Step: 0,
			Name: cdStep, Status: store.StepIntent, Time: e.clk.Now()}, store.Fence{}); err != nil {
			t.Fatal(err)
		}
		if _, err := codedeploy.NewFromConfig(e.aws).StopDeployment(context.Background(), &codedeploy.StopDeploymentInput{
			DeploymentId: aws.String(id), AutoRollbackEnabled: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		d, _ := e.sim.CodeDeployDeployment(id)

		res := e.execute(p)

		if res.Outcome != OutcomeRolledBack || res.Steps[0].Resumed || res.Steps[0].Status != store.StepDone || res.Steps[1].Status != store.StepDone {
			t.Fatalf("outcome %s (%s), steps %+v", res.Outcome, res.Reason, res.Steps)
		}
		if n := e.sim.CallCount("StopDeployment"); n != 1 {
			t.Errorf("StopDeployment called %d times, want only the dead run's", n)
		}
		rb, _ := e.sim.CodeDeployDeployment(d.RollbackDeploymentID)
		if rb.Status != awssim.DeploymentInProgress {
			t.Errorf("CodeDeploy's rollback deployment %+v was stopped", rb)
		}
		var det codeDeployDetail
		if err := json.Unmarshal(res.Steps[0].Detail, &det); err != nil || len(det.Deployments) != 1 ||
			det.Deployments[0].ID != rb.ID || det.Deployments[0].Status != "rollback_left_running" {
			t.Errorf("detail %s", res.Steps[0].Detail)
		}
	})
}

// TestCodeDeployDeniedStillReverts: without codedeploy:StopDeployment the
// step fails and says why, the alias is still reverted, and the outcome
// names the failed step.
func TestCodeDeployDeniedStillReverts(t *testing.T) {
	e, id := newCodeDeployEnv(t, nil)
	e.sim.Deny("codedeploy:StopDeployment")

	res := e.execute(BuildPlan(cdTarget(), e.input()))

	if res.Outcome != OutcomeRolledBack || !strings.Contains(res.Reason, "non-critical steps failed: "+cdStep) {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Reason)
	}
	if res.Steps[0].Status != store.StepFailed || !strings.Contains(res.Steps[0].Error, "AccessDenied") || !strings.Contains(res.Steps[0].Error, id) {
		t.Errorf("codedeploy step %s: %q", res.Steps[0].Status, res.Steps[0].Error)
	}
	if res.Steps[1].Status != store.StepDone || okCalls(e.sim, "UpdateAlias") != 1 {
		t.Errorf("alias step %s (%s)", res.Steps[1].Status, res.Steps[1].Error)
	}
	if v, w, _ := e.sim.Alias(fnName, aliasNm); v != "1" || len(w) != 0 {
		t.Errorf("alias %s %v", v, w)
	}
	if c := e.sim.Calls("StopDeployment"); len(c) != 1 || !awssim.IsAccessDenied(c[0].Err) {
		t.Errorf("StopDeployment calls %+v: an access-denied error is not retried", c)
	}
}

// shiftBeforeUpdate runs CodeDeploy's next step just before the first
// UpdateAlias reaches AWS: its rollback deployment lands between canaryd's
// read of the alias and its conditional update.
type shiftBeforeUpdate struct {
	sim     *awssim.Sim
	base    http.RoundTripper
	shifted atomic.Bool
}

func (s *shiftBeforeUpdate) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/aliases/") && s.shifted.CompareAndSwap(false, true) {
		s.sim.CodeDeployShift()
	}
	return s.base.RoundTrip(r)
}

// TestCodeDeployRolledBackFirst: after StopDeployment with auto-rollback,
// CodeDeploy may put the alias back on the known-good version before
// canaryd does. Read first, or as the reason its conditional update is
// refused, an alias serving the known-good version alone is success — not
// "aborted: a newer deploy".
func TestCodeDeployRolledBackFirst(t *testing.T) {
	t.Run("before the alias is read", func(t *testing.T) {
		var e *env
		e, _ = newCodeDeployEnv(t, func(c *Config) {
			on := c.OnStep
			c.OnStep = func(j store.JournalEntry) {
				on(j)
				if j.Name == cdStep && j.Status == store.StepDone {
					e.sim.CodeDeployShift()
				}
			}
		})
		res := e.execute(BuildPlan(cdTarget(), e.input()))
		if res.Outcome != OutcomeRolledBack || !strings.Contains(res.Reason, "(it already was)") || e.sim.CallCount("UpdateAlias") != 0 {
			t.Fatalf("outcome %s (%s), UpdateAlias calls %d", res.Outcome, res.Reason, e.sim.CallCount("UpdateAlias"))
		}
	})
	t.Run("between the read and the conditional update", func(t *testing.T) {
		var e *env
		var rt *shiftBeforeUpdate
		e, _ = newCodeDeployEnv(t, func(c *Config) {
			c.Lambda = func(string) *lambda.Client {
				return lambda.NewFromConfig(e.aws, func(o *lambda.Options) { o.HTTPClient = &http.Client{Transport: rt} })
			}
		})
		rt = &shiftBeforeUpdate{sim: e.sim, base: http.DefaultTransport}

		res := e.execute(BuildPlan(cdTarget(), e.input()))

		if res.Outcome != OutcomeRolledBack || res.Steps[1].Status != store.StepDone {
			t.Fatalf("outcome %s (%s), alias step %s (%s)", res.Outcome, res.Reason, res.Steps[1].Status, res.Steps[1].Error)
		}
		if ups := e.sim.Calls("UpdateAlias"); !rt.shifted.Load() || len(ups) != 1 || ups[0].Err != "PreconditionFailedException" {
			t.Fatalf("UpdateAlias calls %+v, want one refused: the alias moved", ups)
		}
		var d aliasDetail
		if err := json.Unmarshal(res.Steps[1].Detail, &d); err != nil || !d.AlreadyReverted || d.MovedTo != "" {
			t.Errorf("detail %s, want already_reverted", res.Steps[1].Detail)
		}
	})
	t.Run("serving the known-good version with a zero weight left", func(t *testing.T) {
		d := &aliasDetail{From: "2", To: "1"}
		if out, decided := judgeAlias(d, AliasState{Version: "1", Weights: map[string]float64{"2": 0}}); !decided || out.status != store.StepDone || !d.AlreadyReverted {
			t.Errorf("judgeAlias = %+v, %v", out, decided)
		}
	})
}
