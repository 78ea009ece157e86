package awssim

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/canaryd/canaryd/awsclient"
)

func gmdInput() *cloudwatch.GetMetricDataInput {
	return &cloudwatch.GetMetricDataInput{StartTime: aws.Time(t0), EndTime: aws.Time(t0.Add(time.Minute)),
		MetricDataQueries: []types.MetricDataQuery{metricStat("a", "App", "A", dimsA, 60, "Sum")}}
}

func errCodes(calls []Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Err)
	}
	return out
}

// TestRetryerRecoversFromThrottling: 2 throttles then success. The
// GetMetricData case uses awsclient's real adaptive retryer (whose client
// side rate limiter makes it take ~4s); the others use FastRetries.
func TestRetryerRecoversFromThrottling(t *testing.T) {
	cases := []struct {
		api, code string
		adaptive  bool
		call      func(c awsclient.Clients, topic string) error
	}{
		{"GetMetricData", "Throttling", true, func(c awsclient.Clients, _ string) error {
			_, err := c.CloudWatch.GetMetricData(ctx(t), gmdInput())
			return err
		}},
		{"UpdateAlias", "TooManyRequestsException", false, func(c awsclient.Clients, _ string) error {
			_, err := c.Lambda.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
			return err
		}},
		{"CreateInvalidation", "Throttling", false, func(c awsclient.Clients, _ string) error {
			_, err := c.CloudFront.CreateInvalidation(ctx(t), batch("r", "/a"))
			return err
		}},
		{"Publish", "Throttling", false, func(c awsclient.Clients, topic string) error {
			_, err := c.SNS.Publish(ctx(t), &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.api, func(t *testing.T) {
			s, c, _ := start(t, Options{FastRetries: !tc.adaptive})
			s.CreateAlias("fn", "live", "1")
			s.CreateDistribution("EDIST")
			topic := s.CreateTopic("t")
			s.InjectFault(Fault{API: tc.api, Kind: FaultThrottle, Count: 2})
			if err := tc.call(c, topic); err != nil {
				t.Fatalf("call after 2 throttles: %v", err)
			}
			if got := errCodes(s.Calls(tc.api)); !equalStrings(got, []string{tc.code, tc.code, ""}) {
				t.Fatalf("attempts %q, want 2 throttles then success", got)
			}
		})
	}
}

func TestThrottleExhaustsRetries(t *testing.T) {
	s, c, _ := start(t, Options{FastRetries: true})
	s.InjectFault(Fault{API: "GetMetricData", Kind: FaultThrottle, Count: 100})
	_, err := c.CloudWatch.GetMetricData(ctx(t), gmdInput())
	if apiCode(err) != "Throttling" || httpStatus(err) != 400 {
		t.Fatalf("err %v (status %d), want Throttling 400", err, httpStatus(err))
	}
	if n := len(s.Calls("GetMetricData")); n != 5 {
		t.Fatalf("%d attempts, want awsclient's 5", n)
	}
}

func TestServerErrors(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateAlias("fn", "live", "1")
	s.CreateDistribution("EDIST")
	noRetryCW := func(o *cloudwatch.Options) { o.RetryMaxAttempts = 1 }
	noRetryCF := func(o *cloudfront.Options) { o.RetryMaxAttempts = 1 }
	cases := []struct {
		name       string
		api        string
		status     int
		call       func() error
		wantCode   string
		wantStatus int
	}{
		{"cloudwatch 500", "GetMetricData", 500, func() error { _, err := c.CloudWatch.GetMetricData(ctx(t), gmdInput(), noRetryCW); return err }, "InternalServiceFault", 500},
		{"cloudwatch 503", "GetMetricData", 503, func() error { _, err := c.CloudWatch.GetMetricData(ctx(t), gmdInput(), noRetryCW); return err }, "ServiceUnavailable", 503},
		{"lambda 500", "GetAlias", 500, func() error {
			_, err := c.Lambda.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}, noRetry)
			return err
		}, "ServiceException", 500},
		{"cloudfront 503", "CreateInvalidation", 503, func() error {
			_, err := c.CloudFront.CreateInvalidation(ctx(t), batch("r", "/a"), noRetryCF)
			return err
		}, "ServiceUnavailable", 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.InjectFault(Fault{API: tc.api, Kind: Fault5xx, Status: tc.status, Count: 1})
			err := tc.call()
			if httpStatus(err) != tc.wantStatus || apiCode(err) == "" {
				t.Fatalf("err %v (code %q status %d), want %d", err, apiCode(err), httpStatus(err), tc.wantStatus)
			}
			if tc.wantCode == "InternalServiceFault" && apiCode(err) != "InternalServiceError" {
				t.Fatalf("cloudwatch 500 code %q, want InternalServiceError", apiCode(err))
			}
			if err := tc.call(); err != nil {
				t.Fatalf("call after the fault: %v", err)
			}
		})
	}
	// with retries, one 5xx is absorbed
	s.InjectFault(Fault{API: "GetMetricData", Kind: Fault5xx, Count: 1})
	if _, err := c.CloudWatch.GetMetricData(ctx(t), gmdInput()); err != nil {
		t.Fatalf("retry after 5xx: %v", err)
	}
}

func TestConnectionReset(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateAlias("fn", "live", "1")
	in := &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}
	s.InjectFault(Fault{API: "GetAlias", Kind: FaultReset, Count: 1})
	if _, err := c.Lambda.GetAlias(ctx(t), in, noRetry); err == nil || apiCode(err) != "" {
		t.Fatalf("reset without retry: %v, want a transport error", err)
	}
	s.InjectFault(Fault{API: "GetAlias", Kind: FaultReset, Count: 1})
	if _, err := c.Lambda.GetAlias(ctx(t), in); err != nil {
		t.Fatalf("retry after reset: %v", err)
	}
	if got := errCodes(s.Calls("GetAlias")); !equalStrings(got, []string{"ConnectionReset", "ConnectionReset", ""}) {
		t.Fatalf("calls %q", got)
	}
}

func TestLatencyFault(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateAlias("fn", "live", "1")
	s.InjectFault(Fault{API: "GetAlias", Kind: FaultLatency, Latency: time.Hour, Count: 1})
	short, cancel := context.WithTimeout(ctx(t), 50*time.Millisecond)
	defer cancel()
	_, err := c.Lambda.GetAlias(short, &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}, noRetry)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow call: %v, want deadline exceeded", err)
	}
	if _, err := c.Lambda.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}); err != nil {
		t.Fatalf("after latency fault: %v", err)
	}
}

func TestRateFaultsAreDeterministic(t *testing.T) {
	pattern := func() []string {
		s, c, _ := start(t, Options{FastRetries: true})
		s.CreateAlias("fn", "live", "1")
		s.InjectFault(Fault{API: "GetAlias", Kind: FaultThrottle, Rate: 0.3})
		for range 40 {
			_, _ = c.Lambda.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}, noRetry)
		}
		return errCodes(s.Calls("GetAlias"))
	}
	a, b := pattern(), pattern()
	if !equalStrings(a, b) {
		t.Fatalf("rate faults differ between runs:\n%q\n%q", a, b)
	}
	n := 0
	for _, code := range a {
		if code == "TooManyRequestsException" {
			n++
		}
	}
	if n < 4 || n > 20 {
		t.Fatalf("%d of 40 calls throttled at rate 0.3", n)
	}
}

func TestScheduledFault(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateAlias("fn", "live", "1")
	s.InjectFault(Fault{API: "GetAlias", Kind: Fault5xx, Status: 503, After: 2, Count: 2})
	for range 5 {
		_, _ = c.Lambda.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}, noRetry)
	}
	var statuses []int
	for _, call := range s.Calls("GetAlias") {
		statuses = append(statuses, call.Status)
	}
	if want := []int{200, 200, 503, 503, 200}; fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
}

func TestWildcardFault(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateAlias("fn", "live", "1")
	s.InjectFault(Fault{API: "*", Kind: FaultThrottle, Count: 1})
	_, err := c.CloudWatch.GetMetricData(ctx(t), gmdInput(), func(o *cloudwatch.Options) { o.RetryMaxAttempts = 1 })
	if apiCode(err) != "Throttling" {
		t.Fatalf("wildcard fault: %v", err)
	}
	if _, err := c.Lambda.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}, noRetry); err != nil {
		t.Fatalf("Count 1 wildcard hit twice: %v", err)
	}
}

// A fault with Match hits only the calls it names.
func TestFaultMatchesOneFunction(t *testing.T) {
	sim, cfg := Start(t, Options{})
	sim.Deploy("slow", "live", "1", nil)
	sim.Deploy("fast", "live", "1", nil)
	sim.InjectFault(Fault{API: "GetAlias", Kind: Fault5xx, Rate: 1, Match: map[string]string{"FunctionName": "slow"}})
	c := lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	if _, err := c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("fast"), Name: aws.String("live")}); err != nil {
		t.Fatalf("fast: %v", err)
	}
	if _, err := c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("slow"), Name: aws.String("live")}); err == nil {
		t.Fatal("slow: want the injected 5xx")
	}
}
