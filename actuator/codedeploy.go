package actuator

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

// A target's alias may also be deployed by CodeDeploy (issue #14): a Lambda
// deployment config such as Canary10Percent5Minutes shifts the alias
// itself, so reverting the alias while a deployment is in progress would
// be undone at CodeDeploy's next step. The codedeploy step, first in the
// plan, stops every deployment of the target's deployment group that is
// not finished — with autoRollbackEnabled by default, so CodeDeploy's own
// rollback points the alias at the original version too. It is not
// critical: should it fail (e.g. AccessDenied) the alias is still reverted,
// and the outcome names the step.

// codeDeployActive are the statuses of a deployment that is not finished
// (the SDK's DeploymentStatus values other than Succeeded, Failed, Stopped).
var codeDeployActive = []cdtypes.DeploymentStatus{
	cdtypes.DeploymentStatusCreated, cdtypes.DeploymentStatusQueued, cdtypes.DeploymentStatusInProgress,
	cdtypes.DeploymentStatusReady, cdtypes.DeploymentStatusBaking,
}

// codeDeployDetail is the journal detail of a codedeploy step.
type codeDeployDetail struct {
	Application     string          `json:"application"`
	DeploymentGroup string          `json:"deployment_group"`
	AutoRollback    bool            `json:"auto_rollback"`
	Deployments     []stoppedDeploy `json:"deployments"` // the unfinished deployments found, and what stopping each did
}

// stoppedDeploy is one deployment the step stopped or tried to.
type stoppedDeploy struct {
	ID string `json:"id"`
	// Status is StopDeployment's status (Pending, Succeeded),
	// "already_completed" when it finished between the list and the stop,
	// "rollback_left_running" for CodeDeploy's own rollback deployment,
	// or "failed".
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// runCodeDeploy stops the deployments of the target's deployment group
// that are in progress. Run again (a resume), it finds none left, or gets
// DeploymentAlreadyCompletedException for one it stopped before: both are
// fine.
func (a *Actuator) runCodeDeploy(ctx context.Context, p Plan, s Step) stepOutcome {
	cfg := s.CodeDeploy
	d := &codeDeployDetail{Application: cfg.Application, DeploymentGroup: cfg.DeploymentGroup,
		AutoRollback: cfg.AutoRollbackEnabled(), Deployments: []stoppedDeploy{}}
	var cl *codedeploy.Client
	if a.cfg.CodeDeploy != nil {
		cl = a.cfg.CodeDeploy(p.Target.Name)
	}
	if cl == nil {
		return failed(d, errors.New("no CodeDeploy client configured"))
	}
	ids, err := a.listActiveDeployments(ctx, cl, cfg.Application, cfg.DeploymentGroup)
	if err != nil {
		return failed(d, fmt.Errorf("list deployments of %s/%s: %w", cfg.Application, cfg.DeploymentGroup, err))
	}
	var errs []error
	for _, id := range ids {
		sd := stoppedDeploy{ID: id}
		rollback, err := a.isRollbackDeployment(ctx, cl, id)
		if err != nil {
			sd.Status, sd.Message = "failed", err.Error()
			errs = append(errs, fmt.Errorf("get deployment %s: %w", id, err))
			d.Deployments = append(d.Deployments, sd)
			continue
		}
		if rollback {
			// CodeDeploy's own rollback (ours, when a run that stopped
			// the deployment died before journaling it): it moves the
			// alias back to the original version; leave it be.
			sd.Status = "rollback_left_running"
			d.Deployments = append(d.Deployments, sd)
			continue
		}
		_, err = a.withRetry(ctx, func(int) error {
			out, err := cl.StopDeployment(ctx, &codedeploy.StopDeploymentInput{
				DeploymentId: aws.String(id), AutoRollbackEnabled: aws.Bool(d.AutoRollback)})
			if err == nil {
				sd.Status, sd.Message = string(out.Status), aws.ToString(out.StatusMessage)
			}
			return err
		})
		var completed *cdtypes.DeploymentAlreadyCompletedException
		switch {
		case err == nil:
		case errors.As(err, &completed):
			sd.Status, sd.Message = "already_completed", completed.ErrorMessage()
		default:
			sd.Status, sd.Message = "failed", err.Error()
			errs = append(errs, fmt.Errorf("stop deployment %s: %w", id, err))
		}
		d.Deployments = append(d.Deployments, sd)
	}
	if len(errs) > 0 {
		return failed(d, errors.Join(errs...))
	}
	return done(d)
}

// isRollbackDeployment reports whether a deployment is one CodeDeploy
// started to roll another back.
func (a *Actuator) isRollbackDeployment(ctx context.Context, cl *codedeploy.Client, id string) (bool, error) {
	var rollback bool
	_, err := a.withRetry(ctx, func(int) error {
		out, err := cl.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
		if err == nil && out.DeploymentInfo != nil {
			info := out.DeploymentInfo
			rollback = info.Creator == cdtypes.DeploymentCreatorCodeDeployRollback ||
				info.RollbackInfo != nil && aws.ToString(info.RollbackInfo.RollbackTriggeringDeploymentId) != ""
		}
		return err
	})
	return rollback, err
}

// listActiveDeployments returns the ids of the group's unfinished
// deployments, every page.
func (a *Actuator) listActiveDeployments(ctx context.Context, cl *codedeploy.Client, app, group string) ([]string, error) {
	var ids []string
	in := &codedeploy.ListDeploymentsInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group),
		IncludeOnlyStatuses: codeDeployActive}
	for {
		var out *codedeploy.ListDeploymentsOutput
		_, err := a.withRetry(ctx, func(int) error {
			var err error
			out, err = cl.ListDeployments(ctx, in)
			return err
		})
		if err != nil {
			return ids, err
		}
		ids = append(ids, out.Deployments...)
		if aws.ToString(out.NextToken) == "" {
			return ids, nil
		}
		in.NextToken = out.NextToken
	}
}
