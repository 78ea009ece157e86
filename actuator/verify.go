package actuator

import (
	"context"
	"errors"
	"fmt"

	"github.com/canaryd/canaryd/store"
)

// verifyDetail is the journal detail of the verify step.
type verifyDetail struct {
	Window  string `json:"window"`
	Healthy bool   `json:"healthy"`
	Why     string `json:"why,omitempty"`
}

// runVerify asks the daemon's Verifier whether the target recovered once
// the alias is back. Not healthy — or health that cannot be observed — fails
// the step, which makes the plan's outcome unhealthy_after_rollback (the
// alias stays reverted; notify pages a human).
func (a *Actuator) runVerify(ctx context.Context, p Plan, s Step, before []StepResult) stepOutcome {
	d := &verifyDetail{Window: s.Window.Duration.String()}
	if len(before) == 0 || before[0].Kind != KindLambdaAlias || before[0].Status != store.StepDone {
		return stepOutcome{status: store.StepSkipped, detail: d, err: errors.New("alias was not reverted")}
	}
	healthy, why, err := a.cfg.Verifier(ctx, p.Target, s.Window.Duration)
	d.Healthy, d.Why = healthy, why
	switch {
	case err != nil:
		return failed(d, fmt.Errorf("health could not be observed: %w", err))
	case !healthy:
		return failed(d, fmt.Errorf("not healthy after %s: %s", s.Window.Duration, why))
	}
	return done(d)
}
