package awssim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/canaryd/canaryd/awsclient"
)

// TestDenyAnswersEachServicesAccessDenied: a denied action is refused with
// 403 and the error the SDK returns against AWS, before the operation's own
// checks (a stale RevisionId is not looked at); Allow lifts it.
func TestDenyAnswersEachServicesAccessDenied(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateFunction("fn")
	s.PublishVersion("fn")
	s.CreateAlias("fn", "live", "1")
	s.CreateDistribution("E1")
	topic := s.CreateTopic("alerts")
	staleUpdate := func() error {
		_, err := c.Lambda.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"),
			FunctionVersion: aws.String("1"), RevisionId: aws.String("00000000-0000-0000-0000-000000000000")})
		return err
	}
	cases := []struct {
		name, action, code string
		call               func() error
		typed              func(error) bool
	}{
		{"lambda", "lambda:UpdateAlias", "AccessDeniedException", staleUpdate, nil},
		{"cloudwatch", "cloudwatch:GetMetricData", "AccessDenied", func() error {
			_, err := c.CloudWatch.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(t0.Add(-time.Hour)), EndTime: aws.Time(t0),
				MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("m"), Expression: aws.String("1")}}})
			return err
		}, nil},
		{"cloudfront", "cloudfront:CreateInvalidation", "AccessDenied", func() error {
			_, err := c.CloudFront.CreateInvalidation(ctx(t), &cloudfront.CreateInvalidationInput{DistributionId: aws.String("E1"),
				InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String("r"), Paths: &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/*"}}}})
			return err
		}, func(err error) bool { var e *cftypes.AccessDenied; return asErr(err, &e) }},
		{"sns", "sns:Publish", "AuthorizationError", func() error {
			_, err := c.SNS.Publish(ctx(t), &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("x")})
			return err
		}, func(err error) bool { var e *snstypes.AuthorizationErrorException; return asErr(err, &e) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.Deny(tc.action)
			err := tc.call()
			if got := apiCode(err); got != tc.code || httpStatus(err) != 403 {
				t.Fatalf("denied %s: code %q status %d (%v), want %s 403", tc.action, got, httpStatus(err), err, tc.code)
			}
			if tc.typed != nil && !tc.typed(err) {
				t.Errorf("denied %s: %T is not the SDK's modelled error", tc.action, err)
			}
			s.Allow(tc.action)
			if err := tc.call(); err != nil && IsAccessDenied(apiCode(err)) {
				t.Errorf("after Allow: %v", err)
			}
		})
	}
	if err := staleUpdate(); apiCode(err) != "PreconditionFailedException" {
		t.Fatalf("allowed stale UpdateAlias: %v, want PreconditionFailedException", err)
	}
	calls := s.Calls("UpdateAlias")
	if len(calls) < 2 || !IsAccessDenied(calls[0].Err) || calls[0].Params["RevisionId"] == nil {
		t.Fatalf("call log %+v: the denied call is recorded with its parameters", calls)
	}
	if v, _, _ := s.Alias("fn", "live"); v != "1" {
		t.Fatalf("alias moved to %s", v)
	}
}

func TestDenyWholeService(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateFunction("fn")
	s.Deny("lambda:*")
	_, err := c.Lambda.ListVersionsByFunction(ctx(t), &lambda.ListVersionsByFunctionInput{FunctionName: aws.String("fn")})
	if apiCode(err) != "AccessDeniedException" {
		t.Fatalf("lambda:* denied ListVersionsByFunction: %v", err)
	}
}

// TestAssumeRole: the SDK's AssumeRole provider gets credentials from the
// simulator, and a denied sts:AssumeRole is AccessDenied.
func TestAssumeRole(t *testing.T) {
	s, _ := Start(t, Options{})
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", EndpointURL: s.URL(), MaxAttempts: 1,
		RoleARN: "arn:aws:iam::210987654321:role/canaryd", ExternalID: "ext",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.SessionToken == "" || !strings.HasPrefix(creds.AccessKeyID, "ASIASIM") {
		t.Fatalf("assumed credentials %+v, %v", creds, err)
	}
	calls := s.Calls("AssumeRole")
	if len(calls) != 1 || calls[0].Params["RoleArn"] != "arn:aws:iam::210987654321:role/canaryd" || calls[0].Params["ExternalId"] != "ext" {
		t.Fatalf("calls %+v", calls)
	}
	s.Deny("sts:AssumeRole")
	cfg, _ = awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", EndpointURL: s.URL(), MaxAttempts: 1,
		RoleARN: "arn:aws:iam::210987654321:role/canaryd", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	if _, err := cfg.Credentials.Retrieve(context.Background()); apiCode(err) != "AccessDenied" {
		t.Fatalf("denied AssumeRole: %v", err)
	}
}
