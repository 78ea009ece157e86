package actuator

import (
	"fmt"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// StepKind is what a step does; it is also the bounded metric label.
type StepKind string

// Step kinds.
const (
	KindCodeDeploy  StepKind = "codedeploy"
	KindLambdaAlias StepKind = "lambda-alias"
	KindCloudFront  StepKind = "cloudfront"
	KindRedis       StepKind = "redis"
	KindWebhook     StepKind = "webhook"
	KindExec        StepKind = "exec"
	KindVerify      StepKind = "verify"
)

// AllKinds lists every step kind (metric label pre-initialisation).
var AllKinds = []StepKind{KindCodeDeploy, KindLambdaAlias, KindCloudFront, KindRedis, KindWebhook, KindExec, KindVerify}

// PlanInput is what a plan is built from besides the target's config: the
// incident and the alias state observed when the watch tripped. BuildPlan is
// a pure function of (target, input), so the daemon rebuilds the same plan
// after a restart and Execute resumes it from the journal.
type PlanInput struct {
	IncidentID  string             // the plan ID and journal key
	FromVersion string             // the bad version (the watch's NewVersion)
	ToVersion   string             // the known-good version; "" = none known: alert only
	RevisionID  string             // alias RevisionId observed (store.Watch.RevisionID)
	Weights     map[string]float64 // alias routing observed, for the record
	Trigger     string             // policy | operator | manual
	Actor       string             // who, for operator and manual rollbacks
	DryRun      bool               // alert only: journal as not_executed
	Reason      string             // why the rollback happens (verdict summary), for hooks
}

// InputFromWatch derives a PlanInput from the watch that tripped.
func InputFromWatch(w store.Watch, incidentID, trigger string) PlanInput {
	return PlanInput{
		IncidentID:  incidentID,
		FromVersion: w.NewVersion,
		ToVersion:   w.KnownGood,
		RevisionID:  w.RevisionID,
		Weights:     w.Weights,
		Trigger:     trigger,
		Reason:      w.Reason,
	}
}

// Step is one idempotent action of a plan. Exactly one of the action
// pointers is set for codedeploy, cloudfront, redis, webhook and exec steps.
type Step struct {
	Index    int
	Kind     StepKind
	Name     string // journal name: "lambda-alias", "codedeploy:app/group", "cloudfront:E123", "redis:sessions", ...
	Critical bool   // a failure stops the plan

	CodeDeploy *config.CodeDeploy
	CloudFront *config.CloudFrontAction
	Redis      *config.RedisAction
	Webhook    *config.WebhookHook
	Exec       *config.ExecHook
	Window     config.Duration // verify
}

// Plan is a target's rollback as ordered steps.
type Plan struct {
	ID     string // incident ID
	Target config.Target
	Input  PlanInput
	Steps  []Step
	// AlertOnly is set when the plan must not act at all (no known-good
	// version: promise 1; or dry-run); AlertReason says why.
	AlertOnly   bool
	AlertReason string

	// Observed is the alias as read by PlanManual (zero for policy plans).
	Observed AliasState
}

// AliasState is a Lambda alias as read from AWS.
type AliasState struct {
	Version    string
	Weights    map[string]float64
	RevisionID string
}

// BuildPlan returns the ordered steps of t's rollback for in: the alias
// first — preceded by stopping the target's CodeDeploy deployments in
// progress, when it names a deployment group, so that CodeDeploy does not
// shift the bad version back — then caches, then hooks, then verification.
func BuildPlan(t config.Target, in PlanInput) Plan {
	p := Plan{ID: in.IncidentID, Target: t, Input: in}
	switch {
	case in.ToVersion == "":
		p.AlertOnly, p.AlertReason = true, "no known-good version recorded: alert only"
	case in.ToVersion == in.FromVersion && len(in.Weights) == 0:
		p.AlertOnly, p.AlertReason = true, fmt.Sprintf("known-good version %s is the version under suspicion: alert only", in.ToVersion)
	case in.DryRun || t.DryRun:
		p.AlertOnly, p.AlertReason = true, "dry-run: plan journaled, not executed"
	}
	add := func(s Step) {
		s.Index = len(p.Steps)
		p.Steps = append(p.Steps, s)
	}
	if cd := t.CodeDeploy; cd != nil {
		add(Step{Kind: KindCodeDeploy, Name: "codedeploy:" + cd.Application + "/" + cd.DeploymentGroup, CodeDeploy: cd})
	}
	add(Step{Kind: KindLambdaAlias, Name: string(KindLambdaAlias), Critical: true})
	a := &t.Actions
	for i := range a.CloudFront {
		add(Step{Kind: KindCloudFront, Name: "cloudfront:" + a.CloudFront[i].Distribution, CloudFront: &a.CloudFront[i]})
	}
	for i := range a.Redis {
		add(Step{Kind: KindRedis, Name: "redis:" + a.Redis[i].Name, Critical: a.Redis[i].Critical, Redis: &a.Redis[i]})
	}
	for i := range a.Webhooks {
		add(Step{Kind: KindWebhook, Name: "webhook:" + a.Webhooks[i].Name, Critical: a.Webhooks[i].Critical, Webhook: &a.Webhooks[i]})
	}
	for i := range a.Exec {
		add(Step{Kind: KindExec, Name: "exec:" + a.Exec[i].Name, Critical: a.Exec[i].Critical, Exec: &a.Exec[i]})
	}
	if a.Verify.Window.Duration > 0 {
		add(Step{Kind: KindVerify, Name: string(KindVerify), Window: a.Verify.Window})
	}
	return p
}
