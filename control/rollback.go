package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/effects"
	"github.com/canaryd/canaryd/runner"
	"github.com/canaryd/canaryd/store"
)

// Rollback plans, and unless PlanOnly executes, a manual rollback: the same
// plan and journal as an automatic one, run on the replica that owns the
// target. It waits for the plan a while (runner.ManualWait); a plan still
// running or interrupted by then is reported as such and goes on.
func (c *Controller) Rollback(ctx context.Context, req api.RollbackRequest) (api.RollbackResponse, error) {
	t, err := c.target(req.Target)
	if err != nil {
		return api.RollbackResponse{}, err
	}
	fence, owned := c.cfg.Leases.Fence(req.Target)
	plan, err := c.cfg.Daemon.Planner().PlanManual(ctx, t.Conf, req.ToVersion)
	if errors.Is(err, actuator.ErrNoSuchVersion) || errors.Is(err, actuator.ErrNoKnownGood) {
		return api.RollbackResponse{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if err != nil {
		return api.RollbackResponse{}, err
	}
	resp := describe(plan)
	if req.PlanOnly {
		resp.Outcome = "planned"
		return resp, nil
	}
	if !owned {
		return resp, fmt.Errorf("%w: this replica does not hold the lease of %s", api.ErrUnavailable, req.Target)
	}
	plan.Input.Actor, plan.Input.Reason = req.Actor, req.Reason
	inc, err := c.cfg.Rollbacks.OpenManual(ctx, t, plan)
	if err != nil {
		var open effects.IncidentOpenError
		if errors.As(err, &open) {
			return resp, fmt.Errorf("%w: a rollback of %s is already under way: incident %s (%s)", api.ErrConflict, req.Target, open.ID, open.Trigger)
		}
		if errors.Is(err, runner.ErrOpenedUnprepared) {
			// The incident is open and in flight here: the runner ends the
			// watches, records the known-good and runs the plan once the
			// store answers again.
			resp.IncidentID, resp.Outcome, resp.Message = inc.ID, "started", interrupted(err, inc)
			return resp, nil
		}
		return resp, err
	}
	resp.IncidentID, resp.Outcome = inc.ID, "started"
	res, err := c.cfg.Rollbacks.RunManual(ctx, t, inc, plan, fence)
	switch {
	case errors.Is(err, runner.ErrStillRunning):
		resp.Message = fmt.Sprintf("still running after %s (an AWS brown-out is retried for up to retry_for); follow it with: canaryd history --incident %s", runner.ManualWait, inc.ID)
		return resp, nil
	case err != nil:
		// The journal could not be written (the store is down), the lease
		// was lost or the daemon is stopping: the plan resumes from its
		// journal (runner.ResumeManual, or the target's next owner).
		resp.Message = interrupted(err, inc)
		return resp, nil
	}
	resp.Outcome, resp.Message = string(res.Outcome), res.Reason
	return resp, nil
}

// interrupted is the answer's message for a manual rollback stopped by
// err that resumes on its own.
func interrupted(err error, inc store.Incident) string {
	return fmt.Sprintf("interrupted (%v); it resumes from its journal within %s, on the replica that owns %s; follow it with: canaryd history --incident %s",
		err, runner.ManualSweep, inc.Target, inc.ID)
}

// describe is a plan as the API shows it.
func describe(p actuator.Plan) api.RollbackResponse {
	var buf bytes.Buffer
	_ = p.Describe(&buf)
	r := api.RollbackResponse{Target: p.Target.Name, FromVersion: p.Input.FromVersion, ToVersion: p.Input.ToVersion, PlanText: buf.String()}
	for _, s := range p.Steps {
		r.Plan = append(r.Plan, api.PlanStep{Name: s.Name, Description: string(s.Kind), Critical: s.Critical})
	}
	return r
}
