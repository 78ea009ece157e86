package watcher

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap/zaptest"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// A throttles rule judging a share of requests gets the concurrency's use
// with its baseline, over the shape history and the baseline window: the
// Maximum of the function's ConcurrentExecutions over its reserved
// concurrency, or of the account's UnreservedConcurrentExecutions over the
// unreserved pool, read through the real Lambda and CloudWatch clients. A
// target without such a rule, a reader without Lambda clients, and a
// denied limit read (logged) get none, and the rest of the baseline stays.
func TestBaselineReadsConcurrencyUse(t *testing.T) {
	clk := clockwork.NewFakeClockAt(t0)
	sim, awsCfg := awssim.Start(t, awssim.Options{Clock: clk, HideFutureData: true, FastRetries: true})
	cw, lc := cloudwatch.NewFromConfig(awsCfg), lambda.NewFromConfig(awsCfg)
	reader := func(withLambda bool) *MetricReader {
		cfg := MetricReaderConfig{Clients: func(string) *cloudwatch.Client { return cw }, Clock: clk, Logger: zaptest.NewLogger(t)}
		if withLambda {
			cfg.LambdaClients = func(string) *lambda.Client { return lc }
		}
		r, err := NewMetricReader(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	share := config.Rule{Name: "thr", Kind: config.RuleThrottles, Threshold: 0.002}
	tg := lambdaTarget("api", share)
	tg.BaselineWindow = config.Duration{Duration: 10 * time.Minute}
	tg.ShapeWindow = config.Duration{Duration: time.Hour}
	sim.CreateFunction("api")
	// 600 a minute of 500 ms: 5 in flight on average, a peak of 6 (awssim).
	sim.LambdaTraffic("api", "live", "5", minute(10, 30), minute(12, 30), awssim.Profile{InvocationsPerMin: 600, DurationMs: 500, Seed: 4})
	sim.SetAccountConcurrency(1000)
	aw := activeWatch(tg, t0.Add(-15*time.Second), nil)
	uses := func(r *MetricReader, tg config.Target) (map[string]sample.Sample, int) {
		t.Helper()
		aw.Target = tg
		ss, _, err := r.BaselineFor(context.Background(), aw, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]sample.Sample{}
		for _, s := range ss {
			if s.Metric == sample.MetricConcurrencyUse {
				if s.Version != "" || s.Outcome != sample.OutcomeOK {
					t.Fatalf("concurrency's use sample %+v: want alias-level, ok", s)
				}
				out[s.Time.Format("15:04")] = s
			}
		}
		return out, len(ss)
	}
	// Without a reservation: the account's unreserved pool.
	got, total := uses(reader(true), tg)
	if len(got) != 60 {
		t.Fatalf("%d periods of the concurrency's use, want the hour's 60 (history and window)", len(got))
	}
	for at, s := range got {
		if s.Value <= 0 || s.Value > 0.01 {
			t.Fatalf("%s: use %g of the unreserved pool of 1,000, want a few thousandths", at, s.Value)
		}
	}
	// With a reservation of 50: the function's own concurrency over it.
	if _, err := lc.PutFunctionConcurrency(context.Background(), &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("api"), ReservedConcurrentExecutions: aws.Int32(50)}); err != nil {
		t.Fatal(err)
	}
	reserved, _ := uses(reader(true), tg)
	for at, s := range reserved {
		if u := got[at].Value * 1000 / 50; math.Abs(s.Value-u) > 1e-9 {
			t.Fatalf("%s: use %g of a reservation of 50, want the same peak over 50: %g", at, s.Value, u)
		}
	}
	if len(reserved) != 60 {
		t.Fatalf("%d periods with a reservation, want 60", len(reserved))
	}
	// None without a throttles share rule, without Lambda clients, or
	// with the limit's read denied.
	if none, _ := uses(reader(true), lambdaTarget("api")); len(none) != 0 {
		t.Errorf("%d concurrency samples without a throttles rule", len(none))
	}
	if none, n := uses(reader(false), tg); len(none) != 0 || n != total-60 {
		t.Errorf("without Lambda clients: %d concurrency samples, %d in all; want none and the other %d", len(none), n, total-60)
	}
	sim.Deny("lambda:GetFunctionConcurrency")
	if none, n := uses(reader(true), tg); len(none) != 0 || n != total-60 {
		t.Errorf("limit read denied: %d concurrency samples, %d in all; want none and the other %d", len(none), n, total-60)
	}
}
