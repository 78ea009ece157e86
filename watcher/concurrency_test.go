package watcher

import (
	"context"
	"math"
	"strings"
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
			if s.Metric == sample.MetricConcurrencyUse || s.Metric == sample.MetricPoolUse {
				if s.Version != "" || s.Outcome != sample.OutcomeOK {
					t.Fatalf("concurrency's use sample %+v: want alias-level, ok", s)
				}
				out[s.Metric+"|"+s.Time.Format("15:04")] = s
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
		if s.Metric != sample.MetricPoolUse || s.Value <= 0 || s.Value > 0.01 {
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
		pool := got[sample.MetricPoolUse+strings.TrimPrefix(at, sample.MetricConcurrencyUse)]
		if u := pool.Value * 1000 / 50; s.Metric != sample.MetricConcurrencyUse || math.Abs(s.Value-u) > 1e-9 {
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

// A watch whose function draws on the account's unreserved pool reads the
// pool's use in its cycles and read-backs too, once its baseline read the
// limit (a period with the pool exhausted is not judged: policy's
// poolOf); a function with its own reservation does not.
func TestCyclesReadPoolUse(t *testing.T) {
	clk := clockwork.NewFakeClockAt(t0)
	sim, awsCfg := awssim.Start(t, awssim.Options{Clock: clk, HideFutureData: true, FastRetries: true})
	cw, lc := cloudwatch.NewFromConfig(awsCfg), lambda.NewFromConfig(awsCfg)
	r, err := NewMetricReader(MetricReaderConfig{Clients: func(string) *cloudwatch.Client { return cw },
		LambdaClients: func(string) *lambda.Client { return lc }, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	sim.CreateFunction("api")
	sim.CreateFunction("own")
	sim.SetReservedConcurrency("own", 100)
	for i, fn := range []string{"api", "own"} {
		sim.LambdaTraffic(fn, "live", "5", minute(11, 0), minute(12, 30), awssim.Profile{InvocationsPerMin: 600, DurationMs: 500, Seed: int64(i + 1)})
	}
	share := config.Rule{Name: "thr", Kind: config.RuleThrottles, Threshold: 0.002}
	pooled := func(ss []sample.Sample) (n int) {
		for _, s := range ss {
			if s.Metric == sample.MetricPoolUse && s.Outcome == sample.OutcomeOK && s.Value > 0 && s.Value <= 1 {
				n++
			}
		}
		return n
	}
	api, own := activeWatch(lambdaTarget("api", share), minute(11, 50), nil), activeWatch(lambdaTarget("own", share), minute(11, 50), nil)
	own.Watch.ID = "w-own"
	if ss, _ := r.Cycle(context.Background(), []ActiveWatch{api, own}); pooled(ss) != 0 {
		t.Fatalf("%d pool samples before any baseline read the limit", pooled(ss))
	}
	for _, aw := range []ActiveWatch{api, own} {
		if _, _, err := r.BaselineFor(context.Background(), aw, nil); err != nil {
			t.Fatal(err)
		}
	}
	ss, _ := r.Cycle(context.Background(), []ActiveWatch{api, own})
	if got := pooled(ss); got != api.Target.MetricLag {
		t.Errorf("a cycle read %d periods of the pool's use, want the api watch's %d (metric_lag) and none of own's", got, api.Target.MetricLag)
	}
	for _, s := range ss {
		if s.Metric == sample.MetricPoolUse && s.Target != "api" {
			t.Errorf("pool sample of a function with its own reservation: %+v", s)
		}
	}
	back, err := r.Read(context.Background(), api, minute(11, 50), minute(12, 0))
	if err != nil || pooled(back) != 10 {
		t.Errorf("read-back: %d periods of the pool's use, %v; want 10", pooled(back), err)
	}
}
