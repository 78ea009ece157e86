// Package extracalls calls AWS in every way the IAM agreement test must
// see; it is never built into canaryd.
package extracalls

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

type publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Calls calls.
func Calls(ctx context.Context, cfg aws.Config, p publisher) {
	l := lambda.NewFromConfig(cfg)
	_, _ = l.DeleteAlias(ctx, &lambda.DeleteAliasInput{})
	pg := lambda.NewListAliasesPaginator(l, &lambda.ListAliasesInput{})
	_, _ = pg.NextPage(ctx)
	_, _ = p.Publish(ctx, &sns.PublishInput{})
	get := cloudwatch.NewFromConfig(cfg).GetMetricData
	_, _ = get(ctx, &cloudwatch.GetMetricDataInput{})
	_ = stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), "arn")
}
