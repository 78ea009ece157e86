package awsclient_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
)

func TestMetricsCountCallsByOperationAndOutcome(t *testing.T) {
	sim, _ := awssim.Start(t, awssim.Options{})
	sim.CreateFunction("fn")
	sim.CreateAlias("fn", "live", "$LATEST")
	reg := prometheus.NewRegistry()
	m := awsclient.NewMetrics(reg)
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", EndpointURL: sim.URL(),
		Credentials: credentials.NewStaticCredentialsProvider("A", "B", ""), MaxAttempts: 1, RetryMode: "standard", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	lc := lambda.NewFromConfig(cfg)
	ctx := context.Background()
	if _, err := lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("nope"), Name: aws.String("live")}); err == nil {
		t.Fatal("want an error for an unknown function")
	}
	sim.InjectFault(awssim.Fault{API: "GetAlias", Kind: awssim.FaultThrottle, Count: 1})
	_, _ = lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	for outcome, want := range map[string]float64{"ok": 1, "error": 1, "throttled": 1} {
		if got := testutil.ToFloat64(m.Calls.WithLabelValues("Lambda", "GetAlias", outcome)); got != want {
			t.Errorf("GetAlias %s = %v, want %v", outcome, got, want)
		}
	}
}
