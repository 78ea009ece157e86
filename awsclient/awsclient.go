// Package awsclient builds aws-sdk-go-v2 configs and clients for a target:
// region, optional AssumeRole, adaptive retries and an optional endpoint
// override (a VPC endpoint, or awssim in tests and the demo). The daemon has
// no other code path for the simulator: only the endpoint differs.
package awsclient

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/canaryd/canaryd/config"
)

// Options selects how to reach AWS for one target.
type Options struct {
	Region      string
	RoleARN     string // optional: assume this role (other accounts)
	ExternalID  string
	EndpointURL string // optional: override every service's endpoint
	MaxAttempts int    // default 5
	MaxBackoff  time.Duration
	// RetryMode is "adaptive" (default) or "standard". Adaptive mode also
	// rate-limits the client after throttling responses, which delays
	// later calls by up to seconds; standard retries with backoff only.
	RetryMode string
	// Credentials, when set, replaces the default credential chain
	// (tests and the demo pass static credentials here).
	Credentials aws.CredentialsProvider
	// Metrics, when set, counts every call made with the config.
	Metrics *Metrics
	// Deadlines (promise 13: no hung dependency stops protection). A read
	// (Get*, List*, Describe*) and a change (UpdateAlias, CreateInvalidation,
	// Publish, ...) is each bounded as a whole, the SDK's retries included,
	// by ReadTimeout or ActionTimeout; every attempt's TCP connect and TLS
	// handshake by ConnectTimeout and its wait for the response headers by
	// ResponseHeaderTimeout. Zero values take the config package defaults.
	ReadTimeout           time.Duration
	ActionTimeout         time.Duration
	ConnectTimeout        time.Duration
	ResponseHeaderTimeout time.Duration
}

// Load returns an aws.Config for o, with a bounded HTTP transport and
// per-operation deadlines. The HTTP client is the SDK's BuildableClient,
// so AWS_CA_BUNDLE (corporate proxies) keeps working.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	attempts := o.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	maxBackoff := o.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 20 * time.Second
	}
	o = o.withDefaults()
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(httpClient(o)),
		awsconfig.WithRetryer(func() aws.Retryer {
			std := func(so *retry.StandardOptions) {
				so.MaxAttempts = attempts
				so.MaxBackoff = maxBackoff
			}
			if o.RetryMode == "standard" {
				return retry.NewStandard(std)
			}
			return retry.NewAdaptiveMode(func(am *retry.AdaptiveModeOptions) {
				am.StandardOptions = append(am.StandardOptions, std)
			})
		}),
	}
	if o.Region != "" {
		opts = append(opts, awsconfig.WithRegion(o.Region))
	}
	if o.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(o.Credentials))
	}
	if o.EndpointURL != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(o.EndpointURL))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config (region %q): %w", o.Region, err)
	}
	cfg.APIOptions = append(cfg.APIOptions, deadlines(o.ReadTimeout, o.ActionTimeout))
	if o.Metrics != nil {
		cfg.APIOptions = append(cfg.APIOptions, o.Metrics.middleware())
	}
	if o.RoleARN != "" {
		stsClient := sts.NewFromConfig(cfg)
		provider := stscreds.NewAssumeRoleProvider(stsClient, o.RoleARN, func(ar *stscreds.AssumeRoleOptions) {
			ar.RoleSessionName = "canaryd"
			if o.ExternalID != "" {
				ar.ExternalID = aws.String(o.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return cfg, nil
}

// Clients is the set of service clients canaryd uses for one target.
type Clients struct {
	Lambda     *lambda.Client
	CloudWatch *cloudwatch.Client
	CloudFront *cloudfront.Client
	SNS        *sns.Client
	CodeDeploy *codedeploy.Client // stops a target's in-progress deployments on a trip
}

// New builds all clients from one config.
func New(cfg aws.Config) Clients {
	return Clients{
		Lambda:     lambda.NewFromConfig(cfg),
		CloudWatch: cloudwatch.NewFromConfig(cfg),
		CloudFront: cloudfront.NewFromConfig(cfg),
		SNS:        sns.NewFromConfig(cfg),
		CodeDeploy: codedeploy.NewFromConfig(cfg),
	}
}

// ForTarget returns base with a target's region and role and the [aws]
// settings applied; the config's endpoint override wins over base's.
func ForTarget(base Options, a config.AWS, t config.Target) Options {
	o := base
	o.Region, o.RoleARN, o.ExternalID = t.Region, t.RoleARN, t.ExternalID
	if a.EndpointURL != "" {
		o.EndpointURL = a.EndpointURL
	}
	o.MaxAttempts, o.MaxBackoff, o.RetryMode = a.MaxAttempts, a.MaxBackoff.Duration, a.RetryMode
	o.ReadTimeout, o.ActionTimeout = a.ReadTimeout.Duration, a.ActionTimeout.Duration
	o.ConnectTimeout, o.ResponseHeaderTimeout = a.ConnectTimeout.Duration, a.ResponseHeaderTimeout.Duration
	return o
}
