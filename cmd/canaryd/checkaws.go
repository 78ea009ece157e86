package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/watcher"
)

// awsChecker proves, one call per permission and without changing
// anything, what a target's rollback needs from AWS.
type awsChecker struct {
	base awsclient.Options
	// invalidate allows one real CloudFront invalidation of a path nothing
	// serves, the only way to prove cloudfront:CreateInvalidation.
	invalidate bool
	timeout    time.Duration // per target, default 30s
	now        func() time.Time
}

// staleRevision is a RevisionId no alias can have: AWS must refuse an
// UpdateAlias carrying it with PreconditionFailedException — once it has
// authorised the call. So that answer proves lambda:UpdateAlias, and
// AccessDenied proves it missing, while the alias stays as it is.
const staleRevision = "00000000-0000-4000-8000-00000000c4ec"

func (c awsChecker) target(ctx context.Context, r *checkReport, cfg *config.Config, t config.Target) {
	timeout := c.timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	o := awsclient.ForTarget(c.base, cfg.AWS, t)
	o.MaxAttempts = 2
	awsCfg, err := awsclient.Load(ctx, o)
	if err != nil {
		r.add(checkLine{checkFail, t.Name, "aws config", err.Error()})
		return
	}
	if t.RoleARN != "" {
		_, err := awsCfg.Credentials.Retrieve(ctx)
		r.add(awsLine(t.Name, "sts:AssumeRole", err, "assumed "+t.RoleARN))
		if err != nil {
			return
		}
	}
	lc := lambda.NewFromConfig(awsCfg)
	c.lambda(ctx, r, lc, t)
	if watcher.ReadsConcurrency(t) {
		c.concurrency(ctx, r, lc, t)
	}
	c.metrics(ctx, r, cloudwatch.NewFromConfig(awsCfg), t)
	cf := cloudfront.NewFromConfig(awsCfg)
	for _, a := range t.Actions.CloudFront {
		c.cloudfront(ctx, r, cf, t, a)
	}
	if t.CodeDeploy != nil {
		c.codedeploy(ctx, r, codedeploy.NewFromConfig(awsCfg), t)
	}
	if ro := t.Rollout; ro != nil {
		for _, h := range []*config.TrafficHook{ro.PreTraffic, ro.PostTraffic} {
			if h != nil && h.Lambda != nil {
				c.invokeHook(ctx, r, lc, t, h.Lambda)
			}
		}
	}
}

// codedeploy lists the group's deployments (codedeploy:ListDeployments)
// and reads the newest (codedeploy:GetDeployment). StopDeployment has no
// call that proves it without stopping something: the line says which
// grant the plan needs.
func (c awsChecker) codedeploy(ctx context.Context, r *checkReport, cd *codedeploy.Client, t config.Target) {
	app, group := t.CodeDeploy.Application, t.CodeDeploy.DeploymentGroup
	out, err := cd.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group)})
	n := 0
	if err == nil {
		n = len(out.Deployments)
	}
	r.add(awsLine(t.Name, "codedeploy:ListDeployments", err, fmt.Sprintf("deployment group %s/%s readable (%d deployments listed)", app, group, n)))
	if err == nil && n > 0 {
		_, err := cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(out.Deployments[0])})
		r.add(awsLine(t.Name, "codedeploy:GetDeployment", err, "deployment "+out.Deployments[0]+" readable"))
	} else if err == nil {
		r.add(checkLine{checkUnproved, t.Name, "codedeploy:GetDeployment", "the group has no deployment to read; grant it on the deployment group (README IAM policy)"})
	}
	r.add(checkLine{checkUnproved, t.Name, "codedeploy:StopDeployment", fmt.Sprintf(
		"no call proves it without stopping a deployment; a rollback stops %s/%s's deployments in progress with it: grant it on arn:aws:codedeploy:REGION:ACCOUNT:deploymentgroup:%s/%s", app, group, app, group)})
}

// invokeHook proves lambda:InvokeFunction on a rollout's lambda traffic
// hook with a DryRun invoke: Lambda checks the permission and the
// parameters and runs nothing.
func (c awsChecker) invokeHook(ctx context.Context, r *checkReport, lc *lambda.Client, t config.Target, h *config.LambdaHook) {
	_, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(h.Function), InvocationType: lambdatypes.InvocationTypeDryRun})
	r.add(awsLine(t.Name, "lambda:InvokeFunction", err, "traffic hook "+h.Function+" may be invoked (DryRun: nothing ran)"))
}

// lambda reads the alias and its versions and proves UpdateAlias with a
// stale RevisionId.
func (c awsChecker) lambda(ctx context.Context, r *checkReport, lc *lambda.Client, t config.Target) {
	fn, name := aws.String(t.Function), aws.String(t.Alias)
	alias, err := lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: fn, Name: name})
	var version, split, rev string
	if err == nil {
		version, rev = aws.ToString(alias.FunctionVersion), aws.ToString(alias.RevisionId)
		if alias.RoutingConfig != nil {
			split = trafficSplit(alias.RoutingConfig.AdditionalVersionWeights)
		}
	}
	r.add(awsLine(t.Name, "lambda:GetAlias", err, fmt.Sprintf("%s:%s -> version %s%s (RevisionId %s)",
		t.Function, t.Alias, version, split, rev)))
	versions, err := lc.ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: fn, MaxItems: aws.Int32(50)})
	n := 0
	if err == nil {
		n = len(versions.Versions)
	}
	r.add(awsLine(t.Name, "lambda:ListVersionsByFunction", err, fmt.Sprintf("%d versions readable", n)))
	if version == "" {
		for _, a := range []string{"lambda:GetFunctionConfiguration", "lambda:UpdateAlias"} {
			r.add(checkLine{checkFail, t.Name, a, "not checked: the alias could not be read"})
		}
		return
	}
	_, err = lc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: fn, Qualifier: aws.String(version)})
	r.add(awsLine(t.Name, "lambda:GetFunctionConfiguration", err, "version "+version+" readable"))
	r.add(c.updateAlias(ctx, lc, t, version))
}

// concurrency reads the concurrency limit a throttles share rule's
// capacity reads (watcher.ReadConcurrencyLimit). The daemon works without
// it, so a failure warns: the rule then takes the most the known-good
// served in a minute as its capacity.
func (c awsChecker) concurrency(ctx context.Context, r *checkReport, lc *lambda.Client, t config.Target) {
	l, err := watcher.ReadConcurrencyLimit(ctx, lc, t)
	if err != nil {
		line := awsLine(t.Name, l.Action, err, "")
		line.Status, line.Detail = checkWarn, line.Detail+"; the throttles rule takes the most the known-good served in a minute as its capacity"
		r.add(line)
		return
	}
	if l.Reserved {
		r.add(checkLine{checkOK, t.Name, "lambda:GetFunctionConcurrency", fmt.Sprintf("reserved concurrency %d: the throttles rule's capacity reads the function's ConcurrentExecutions", l.Limit)})
		return
	}
	r.add(checkLine{checkOK, t.Name, "lambda:GetFunctionConcurrency", "no reserved concurrency"})
	r.add(checkLine{checkOK, t.Name, "lambda:GetAccountSettings", fmt.Sprintf("unreserved pool %d: the throttles rule's capacity reads the account's UnreservedConcurrentExecutions", l.Limit)})
}

// updateAlias sends the alias its own version under a RevisionId it cannot
// have: refused with PreconditionFailedException (permission proved,
// nothing changed) or AccessDenied (permission missing).
func (c awsChecker) updateAlias(ctx context.Context, lc *lambda.Client, t config.Target, version string) checkLine {
	_, err := lc.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(t.Function), Name: aws.String(t.Alias),
		FunctionVersion: aws.String(version), RevisionId: aws.String(staleRevision)})
	switch {
	case err == nil:
		return checkLine{checkWarn, t.Name, "lambda:UpdateAlias", "permitted, but AWS accepted a RevisionId that should not match (the alias was rewritten to its own version " + version + ")"}
	case apiCode(err) == "PreconditionFailedException":
		return checkLine{checkOK, t.Name, "lambda:UpdateAlias", "permitted: AWS refused a deliberately stale RevisionId with PreconditionFailedException; the alias is unchanged"}
	}
	return awsLine(t.Name, "lambda:UpdateAlias", err, "")
}

// metrics reads the alias's Invocations for the last hour: proof that
// cloudwatch:GetMetricData is allowed and the dimensions are right.
func (c awsChecker) metrics(ctx context.Context, r *checkReport, cw *cloudwatch.Client, t config.Target) {
	end := c.now().Truncate(time.Minute)
	fn := watcher.FunctionName(t.Function)
	out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(end.Add(-time.Hour)), EndTime: aws.Time(end),
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id: aws.String("inv"),
			MetricStat: &cwtypes.MetricStat{Period: aws.Int32(int32(t.MetricPeriod.Duration.Seconds())), Stat: aws.String("Sum"),
				Metric: &cwtypes.Metric{Namespace: aws.String("AWS/Lambda"), MetricName: aws.String("Invocations"),
					Dimensions: []cwtypes.Dimension{
						{Name: aws.String("FunctionName"), Value: aws.String(fn)},
						{Name: aws.String("Resource"), Value: aws.String(fn + ":" + t.Alias)},
					}}},
		}},
	})
	n := 0
	if err == nil {
		for _, res := range out.MetricDataResults {
			n += len(res.Values)
		}
	}
	detail := fmt.Sprintf("metrics readable (%d invocation datapoints in the last hour)", n)
	if err == nil && n == 0 {
		r.add(checkLine{checkWarn, t.Name, "cloudwatch:GetMetricData", detail + ": no traffic, or the function/alias dimensions do not match"})
		return
	}
	r.add(awsLine(t.Name, "cloudwatch:GetMetricData", err, detail))
}

// cloudfront proves GetInvalidation (and that the distribution exists) by
// asking for an invalidation that cannot exist. CreateInvalidation has no
// call without an effect: it is proved only with --invalidate.
func (c awsChecker) cloudfront(ctx context.Context, r *checkReport, cf *cloudfront.Client, t config.Target, a config.CloudFrontAction) {
	what := "distribution " + a.Distribution
	_, err := cf.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(a.Distribution), Id: aws.String("CANARYDCHECK")})
	switch {
	case apiCode(err) == "NoSuchInvalidation":
		r.add(checkLine{checkOK, t.Name, "cloudfront:GetInvalidation", what + " exists and its invalidations are readable"})
	case err == nil:
		r.add(checkLine{checkOK, t.Name, "cloudfront:GetInvalidation", what + " readable"})
	default:
		r.add(awsLine(t.Name, "cloudfront:GetInvalidation", err, ""))
	}
	if !c.invalidate {
		r.add(checkLine{checkUnproved, t.Name, "cloudfront:CreateInvalidation", what + ": no CloudFront call proves it without creating an invalidation; " +
			"`canaryd check --aws --invalidate` creates one of a path nothing serves (/canaryd-check/<random>)"})
		return
	}
	nonce := randomHex(8)
	out, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: aws.String(a.Distribution),
		InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String("canaryd-check-" + nonce),
			Paths: &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/canaryd-check/" + nonce}}}})
	id := ""
	if err == nil && out.Invalidation != nil {
		id = aws.ToString(out.Invalidation.Id)
	}
	r.add(awsLine(t.Name, "cloudfront:CreateInvalidation", err, what+": invalidation "+id+" of /canaryd-check/"+nonce+" created"))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
