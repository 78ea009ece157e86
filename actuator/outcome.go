package actuator

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/canaryd/canaryd/store"
)

// summarize decides a plan's Outcome from its step results: one function,
// used for fresh and resumed runs alike.
func summarize(p Plan, steps []StepResult, daemonDry bool) (o Outcome, reason string, reevaluate bool) {
	// A plan journaled as not executed stays so, even if dry-run was turned
	// off since: nothing was done, and nothing is done on a re-run.
	if notExecuted(steps) {
		return OutcomeNotExecuted, alertReason(p, daemonDry), false
	}
	var soft, skipped []string
	for i, sr := range steps {
		s := p.Steps[i]
		switch {
		case sr.Status == store.StepAborted:
			return OutcomeAborted, sr.Error + "; re-evaluate the target", true
		case sr.Status == store.StepFailed && s.Kind == KindVerify:
			return OutcomeUnhealthyAfter, "rollback did not restore health: " + sr.Error, false
		case sr.Status == store.StepFailed && s.Critical:
			return OutcomeFailed, fmt.Sprintf("step %s failed: %s", s.Name, sr.Error), false
		case sr.Status == store.StepFailed:
			soft = append(soft, s.Name)
		case sr.Status == store.StepNotExecuted:
			skipped = append(skipped, s.Name)
		}
	}
	reason = fmt.Sprintf("alias %s:%s reverted to version %s", p.Target.Function, p.Target.Alias, p.Input.ToVersion)
	if already(steps) {
		reason += " (it already was)"
	}
	if len(soft) > 0 {
		reason += "; non-critical steps failed: " + strings.Join(soft, ", ")
	}
	if len(skipped) > 0 {
		reason += "; not executed (dry-run since the plan began): " + strings.Join(skipped, ", ")
	}
	return OutcomeRolledBack, reason, false
}

// notExecuted reports whether no step of the plan was acted upon.
func notExecuted(steps []StepResult) bool {
	for _, s := range steps {
		if s.Status != store.StepNotExecuted {
			return false
		}
	}
	return true
}

// already reports whether the alias step found the alias already reverted.
func already(steps []StepResult) bool {
	sr, ok := aliasResult(steps)
	if !ok {
		return false
	}
	var d aliasDetail
	return json.Unmarshal(sr.Detail, &d) == nil && d.AlreadyReverted
}

// aliasResult is the alias step's result: the first step, or the second
// when the plan first stops CodeDeploy.
func aliasResult(steps []StepResult) (StepResult, bool) {
	for _, sr := range steps {
		if sr.Kind == KindLambdaAlias {
			return sr, true
		}
	}
	return StepResult{}, false
}
