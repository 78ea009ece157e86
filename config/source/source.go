// Package source reads config.toml from where --config points: a file, an
// S3 object (s3://bucket/key) or an SSM parameter (ssm:NAME), the last two
// through the AWS SDK with the daemon's credential chain. On ECS Fargate a
// config in S3 or SSM needs no image of its own and no mounted volume; it
// is read again on SIGHUP, as a file is.
//
// It is a package of its own so that config — which the pure policy
// package imports — does not link the AWS SDK.
package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
)

// DefaultTimeout bounds one read, the SDK's retries included.
const DefaultTimeout = 30 * time.Second

// Options says how to reach AWS. Region and endpoint default to the SDK's
// environment (AWS_REGION, AWS_ENDPOINT_URL).
type Options struct {
	AWS     awsclient.Options
	Timeout time.Duration
}

// IsRemote reports whether ref names an S3 object or an SSM parameter.
func IsRemote(ref string) bool {
	return strings.HasPrefix(ref, "s3://") || strings.HasPrefix(ref, "ssm:")
}

// Load reads ref and parses it as config.toml; problems name ref.
func Load(ctx context.Context, ref string, o Options) (*config.Config, error) {
	if !IsRemote(ref) {
		return config.Load(ref)
	}
	data, err := Read(ctx, ref, o)
	if err != nil {
		return nil, err
	}
	return config.Parse(data, ref, config.Options{})
}

// Read returns the bytes of an s3:// or ssm: reference.
func Read(ctx context.Context, ref string, o Options) ([]byte, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cfg, err := awsclient.Load(ctx, o.AWS)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", ref, err)
	}
	switch {
	case strings.HasPrefix(ref, "s3://"):
		return readS3(ctx, cfg, ref)
	case strings.HasPrefix(ref, "ssm:"):
		return readSSM(ctx, cfg, strings.TrimPrefix(ref, "ssm:"))
	}
	return nil, fmt.Errorf("read config %s: not an s3:// or ssm: reference", ref)
}

func readS3(ctx context.Context, cfg aws.Config, ref string) ([]byte, error) {
	bucket, key, ok := strings.Cut(strings.TrimPrefix(ref, "s3://"), "/")
	if !ok || bucket == "" || key == "" {
		return nil, fmt.Errorf("read config %s: want s3://bucket/key", ref)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) { so.UsePathStyle = cfg.BaseEndpoint != nil })
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("read config %s: s3:GetObject: %w", ref, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, config.MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", ref, err)
	}
	if len(b) > config.MaxConfigBytes {
		return nil, fmt.Errorf("read config %s: larger than the limit of %d bytes", ref, config.MaxConfigBytes)
	}
	return b, nil
}

func readSSM(ctx context.Context, cfg aws.Config, name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("read config ssm:: want ssm:PARAMETER_NAME")
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read config ssm:%s: ssm:GetParameter: %w", name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, fmt.Errorf("read config ssm:%s: the parameter has no value", name)
	}
	return bytes.Clone([]byte(*out.Parameter.Value)), nil
}
