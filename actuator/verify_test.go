package actuator

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// TestVerifyReportsANewerDeployAsSuperseded is issue #13 item 7: a deploy
// landing before or during verification is reported as superseding the
// rollback — whatever the probes say — never as "did not recover" (blaming
// the known-good version) nor as "verified" (for a version no longer live).
func TestVerifyReportsANewerDeployAsSuperseded(t *testing.T) {
	cases := []struct {
		name         string
		afterAlias   bool // deploy when the alias step is journaled done, before verify
		healthy      bool // what the probes say
		wantVerifier bool
		wantReason   string
	}{
		{name: "during verify, probes failing", healthy: false, wantVerifier: true, wantReason: "superseded by version 4 during verify"},
		{name: "during verify, probes passing", healthy: true, wantVerifier: true, wantReason: "superseded by version 4 during verify"},
		{name: "before verify", afterAlias: true, wantVerifier: false, wantReason: "superseded by version 4 before verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			called := false
			e = newEnv(t, nil, func(c *Config) {
				c.Verifier = func(context.Context, config.Target, time.Duration) (bool, string, error) {
					called = true
					e.sim.Deploy(fnName, aliasNm, "4", nil) // the pipeline deploys again
					return tc.healthy, "probe /health", nil
				}
				if tc.afterAlias {
					c.OnStep = func(j store.JournalEntry) {
						if j.Step == 0 && j.Status == store.StepDone {
							e.sim.Deploy(fnName, aliasNm, "4", nil)
						}
					}
				}
			})
			tg := e.target()
			tg.Actions = config.Actions{Verify: config.Verify{Window: config.Duration{Duration: time.Minute}}}

			res := e.execute(BuildPlan(tg, e.input()))

			if res.Outcome != OutcomeAborted || !res.Reevaluate || !strings.Contains(res.Reason, tc.wantReason) {
				t.Fatalf("outcome %s reevaluate=%v (%s), want aborted: %q", res.Outcome, res.Reevaluate, res.Reason, tc.wantReason)
			}
			if called != tc.wantVerifier {
				t.Errorf("verifier called = %v, want %v", called, tc.wantVerifier)
			}
			v := res.Steps[len(res.Steps)-1]
			var d verifyDetail
			if err := json.Unmarshal(v.Detail, &d); err != nil || v.Status != store.StepAborted || d.SupersededBy != "4" {
				t.Errorf("verify step %s detail %s, want aborted, superseded_by 4", v.Status, v.Detail)
			}
			if res.Steps[0].Status != store.StepDone {
				t.Errorf("alias step %s, want done (the rollback happened)", res.Steps[0].Status)
			}
			if ver, _, _ := e.sim.Alias(fnName, aliasNm); ver != "4" {
				t.Errorf("alias at %s: the newer deploy was clobbered", ver)
			}
		})
	}
}
