package awssim

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"
	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/awsclient"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// start returns a simulator on a fake clock at t0 and the clients for it.
func start(t *testing.T, o Options) (*Sim, awsclient.Clients, *clockwork.FakeClock) {
	t.Helper()
	clk := clockwork.NewFakeClockAt(t0)
	if o.Clock == nil {
		o.Clock = clk
	}
	s, cfg := Start(t, o)
	return s, awsclient.New(cfg), clk
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// apiCode returns the AWS error code of err ("" if none).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestStartWorksWithCABundleSet(t *testing.T) {
	bundle := os.Getenv("AWS_CA_BUNDLE")
	if bundle == "" {
		bundle = "/etc/ssl/certs/ca-certificates.crt"
		if _, err := os.Stat(bundle); err != nil {
			t.Skip("no CA bundle on this machine")
		}
		t.Setenv("AWS_CA_BUNDLE", bundle)
	}
	s, c, _ := start(t, Options{})
	s.CreateFunction("fn")
	if _, err := c.Lambda.GetFunctionConfiguration(ctx(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatalf("call with AWS_CA_BUNDLE=%s: %v", bundle, err)
	}
	if os.Getenv("AWS_CA_BUNDLE") != bundle {
		t.Fatalf("AWS_CA_BUNDLE changed")
	}
}

func TestUnsignedRequestRejected(t *testing.T) {
	s, cfg := Start(t, Options{})
	cfg.Credentials = aws.AnonymousCredentials{}
	s.CreateFunction("fn")
	_, err := lambda.NewFromConfig(cfg).GetFunctionConfiguration(ctx(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("fn")})
	if got := apiCode(err); got != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned call: code %q (err %v), want MissingAuthenticationTokenException", got, err)
	}
}

func TestServe(t *testing.T) {
	s := New(Options{})
	url, stop, err := s.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if s.URL() != url {
		t.Fatalf("URL() = %q, want %q", s.URL(), url)
	}
	cfg, err := s.Config(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	s.CreateFunction("fn")
	if _, err := lambda.NewFromConfig(cfg).GetFunctionConfiguration(ctx(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
