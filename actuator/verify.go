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
	// SupersededBy is the version the alias moved to before or during
	// verification (a newer deploy); health was then not judged.
	SupersededBy string `json:"superseded_by,omitempty"`
	// AliasCheck says why the alias could not be re-read, when it could not.
	AliasCheck string `json:"alias_check,omitempty"`
}

// runVerify asks the daemon's Verifier whether the target recovered once
// the alias is back. Not healthy — or health that cannot be observed — fails
// the step, which makes the plan's outcome unhealthy_after_rollback (the
// alias stays reverted; notify pages a human).
//
// The alias is read before and after (issue #13 item 7): if it no longer
// points at the rollback target alone, a newer deploy landed: the step is
// aborted, "superseded by version N during verify", and so is the plan
// (Reevaluate: watch the newer deploy) — never "did not recover", which
// would blame the known-good version, nor "verified" for a version that is
// no longer live.
func (a *Actuator) runVerify(ctx context.Context, p Plan, s Step, before []StepResult) stepOutcome {
	d := &verifyDetail{Window: s.Window.Duration.String()}
	if alias, ok := aliasResult(before); !ok || alias.Status != store.StepDone {
		return stepOutcome{status: store.StepSkipped, detail: d, err: errors.New("alias was not reverted")}
	}
	if out, moved := a.supersededDuringVerify(ctx, p, d, "before"); moved {
		return out
	}
	healthy, why, err := a.cfg.Verifier(ctx, p.Target, s.Window.Duration)
	d.Healthy, d.Why = healthy, why
	if out, moved := a.supersededDuringVerify(ctx, p, d, "during"); moved {
		return out
	}
	switch {
	case err != nil:
		return failed(d, fmt.Errorf("health could not be observed: %w", err))
	case !healthy:
		return failed(d, fmt.Errorf("not healthy after %s: %s", s.Window.Duration, why))
	}
	return done(d)
}

// supersededDuringVerify reads the alias and, when it routes to anything
// but the rollback target, returns the aborted outcome naming the version.
// An alias that cannot be read is noted in the detail, not judged.
func (a *Actuator) supersededDuringVerify(ctx context.Context, p Plan, d *verifyDetail, when string) (stepOutcome, bool) {
	if ctx.Err() != nil {
		return stepOutcome{}, false
	}
	cur, err := a.readAlias(ctx, a.cfg.Lambda(p.Target.Name), p.Target.Function, p.Target.Alias)
	if err != nil {
		d.AliasCheck = fmt.Sprintf("alias not re-read %s verification: %v", when, err)
		return stepOutcome{}, false
	}
	v := movedTo(cur, p.Input.ToVersion, p.Input.ToVersion)
	if v == "" {
		return stepOutcome{}, false
	}
	d.SupersededBy = v
	return stepOutcome{status: store.StepAborted, detail: d, err: fmt.Errorf(
		"superseded by version %s %s verify: the alias was reverted to %s, then a newer deploy moved it%s; health of %s not judged",
		v, when, p.Input.ToVersion, weights(cur.Weights), p.Input.ToVersion)}, true
}
