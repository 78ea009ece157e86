package watcher

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// t0 is the test's "now": 30 s into the 12:00 minute, whose period is incomplete.
var t0 = time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)

func minute(hh, mm int) time.Time { return time.Date(2026, 3, 1, hh, mm, 0, 0, time.UTC) }

type cwEnv struct {
	clk *clockwork.FakeClock
	sim *awssim.Sim
	r   *MetricReader
}

func newCWEnv(t testing.TB, cfg MetricReaderConfig) *cwEnv {
	clk := clockwork.NewFakeClockAt(t0)
	sim, awsCfg := awssim.Start(t, awssim.Options{Clock: clk, HideFutureData: true, FastRetries: true})
	client := cloudwatch.NewFromConfig(awsCfg)
	cfg.Clients = func(string) *cloudwatch.Client { return client }
	cfg.Clock = clk
	r, err := NewMetricReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &cwEnv{clk: clk, sim: sim, r: r}
}

// lambdaTarget is a target as config.Load leaves it (defaults applied).
func lambdaTarget(name string, rules ...config.Rule) config.Target {
	t := config.Target{Name: name, Function: name, Alias: "live", Rules: rules}
	config.ApplyTargetDefaults(&t)
	return t
}

func activeWatch(t config.Target, detected time.Time, weights map[string]float64) ActiveWatch {
	return ActiveWatch{Target: t, Watch: store.Watch{ID: "w-" + t.Name, Target: t.Name, Phase: store.PhaseBaking,
		KnownGood: "5", NewVersion: "6", Weights: weights, DetectedAt: detected}}
}

func aliasDims(fn string) map[string]string {
	return map[string]string{"FunctionName": fn, "Resource": fn + ":live"}
}

// index maps "metric|version|HH:MM" to the sample.
func index(ss []sample.Sample) map[string]sample.Sample {
	m := map[string]sample.Sample{}
	for _, s := range ss {
		m[s.Metric+"|"+s.Version+"|"+s.Time.Format("15:04")] = s
	}
	return m
}

func TestCycleReadsOnlyCompletePeriods(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	fn := "api"
	for _, m := range []int{57, 58, 59} {
		e.sim.PutDatapoint("AWS/Lambda", "Invocations", aliasDims(fn), minute(11, m).Add(10*time.Second), 100)
	}
	e.sim.PutDatapoint("AWS/Lambda", "Errors", aliasDims(fn), minute(11, 58).Add(5*time.Second), 7)
	e.sim.PutDatapoint("AWS/Lambda", "Duration", aliasDims(fn), minute(11, 59), 120, 80, 900)
	// Data in the incomplete 12:00 period exists but must not be asked for.
	e.sim.PutDatapoint("AWS/Lambda", "Errors", aliasDims(fn), minute(12, 0).Add(time.Second), 50)

	ss, stats := e.r.Cycle(context.Background(), []ActiveWatch{activeWatch(lambdaTarget(fn), minute(11, 30), nil)})
	if stats.Queries != 4 || stats.Calls != 1 || stats.Errors != 0 {
		t.Fatalf("stats %+v", stats)
	}
	call := e.sim.Calls("GetMetricData")[0]
	if end := call.Params["EndTime"].(time.Time); !end.Equal(minute(12, 0)) {
		t.Fatalf("EndTime %v: the incomplete period was requested", end)
	}
	if start := call.Params["StartTime"].(time.Time); !start.Equal(minute(11, 57)) {
		t.Fatalf("StartTime %v, want 3 periods back", start)
	}
	if len(ss) != 12 {
		t.Fatalf("%d samples, want 4 metrics x 3 periods", len(ss))
	}
	idx := index(ss)
	cases := []struct {
		key     string
		outcome sample.Outcome
		value   float64
	}{
		{"Invocations||11:57", sample.OutcomeOK, 100},
		{"Errors||11:58", sample.OutcomeOK, 7},
		{"Errors||11:57", sample.OutcomeNoData, 0},
		{"Throttles||11:59", sample.OutcomeNoData, 0},
		{"Duration.p99||11:59", sample.OutcomeOK, 900},
	}
	for _, tc := range cases {
		s, ok := idx[tc.key]
		if !ok || s.Outcome != tc.outcome || s.Value != tc.value {
			t.Errorf("%s: got %+v (present %v), want %s %v", tc.key, s, ok, tc.outcome, tc.value)
		}
	}
	for _, s := range ss {
		if !s.Time.Before(minute(12, 0)) {
			t.Errorf("sample for incomplete period %v", s.Time)
		}
		if s.Kind != sample.KindMetric || s.Source != SourceCloudWatch || s.Period != time.Minute || s.Target != fn {
			t.Errorf("sample identity: %+v", s)
		}
	}
}

func TestLateDataUpdatesEarlierPeriod(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	aw := activeWatch(lambdaTarget("api"), minute(11, 0), nil)
	e.sim.PutDatapoint("AWS/Lambda", "Errors", aliasDims("api"), minute(11, 58), 2)
	first, _ := e.r.Cycle(context.Background(), []ActiveWatch{aw})
	before := index(first)["Errors||11:58"]

	// Slow invocations that started at 11:58 report their errors late.
	e.sim.PutDatapoint("AWS/Lambda", "Errors", aliasDims("api"), minute(11, 58).Add(30*time.Second), 3)
	e.clk.Advance(time.Minute)
	second, _ := e.r.Cycle(context.Background(), []ActiveWatch{aw})
	after := index(second)["Errors||11:58"]
	if before.Value != 2 || after.Value != 5 || before.Key() != after.Key() {
		t.Fatalf("late data: before %v (%s) after %v (%s); want 2 then 5 under one key", before.Value, before.Key(), after.Value, after.Key())
	}
	if _, ok := index(second)["Errors||12:00"]; !ok {
		t.Fatal("the newly completed period was not read")
	}
	if _, ok := index(second)["Errors||11:57"]; ok {
		t.Fatal("a period older than metric_lag was re-read")
	}
}

func TestPeriodsBeforeDetectionAreSkipped(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	ss, _ := e.r.Cycle(context.Background(), []ActiveWatch{activeWatch(lambdaTarget("api"), minute(11, 58).Add(20*time.Second), nil)})
	for _, s := range ss {
		if s.Time.Before(minute(11, 58)) {
			t.Fatalf("sample from before the deploy: %+v", s)
		}
	}
	// The deploy's period is among those read: the new version's own
	// series too (watch.ReadsNewVersion).
	own := 0
	for _, s := range ss {
		if s.Version != "" {
			own++
		}
	}
	if len(ss) != 16 || own != 8 {
		t.Fatalf("%d samples (%d of the new version), want 4 metrics x 2 periods x {alias, new version}", len(ss), own)
	}
}

func TestSplitTrafficReadsEachVersion(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	tg := lambdaTarget("api", config.Rule{Name: "lat", Kind: config.RuleLatency, Stat: "p90"}, config.Rule{Name: "cmp", Kind: config.RuleCompareLatency})
	e.sim.LambdaTraffic("api", "live", "6", minute(11, 0), minute(12, 30), awssim.Profile{InvocationsPerMin: 60, ErrorRate: 0.5, DurationMs: 100, Seed: 1})
	e.sim.LambdaTraffic("api", "live", "5", minute(11, 0), minute(12, 30), awssim.Profile{InvocationsPerMin: 600, DurationMs: 100, Seed: 2})
	ss, stats := e.r.Cycle(context.Background(), []ActiveWatch{activeWatch(tg, minute(11, 0), map[string]float64{"6": 0.1})})
	if stats.Queries != 15 { // (3 counts + p90 + p99) x {alias, 6, 5}
		t.Fatalf("queries %d, want 15", stats.Queries)
	}
	idx := index(ss)
	v6, v5, all := idx["Errors|6|11:59"], idx["Errors|5|11:59"], idx["Invocations||11:59"]
	if v6.Outcome != sample.OutcomeOK || v6.Value <= 0 || v5.Outcome != sample.OutcomeOK || v5.Value != 0 {
		t.Fatalf("per-version errors: 6=%+v 5=%+v", v6, v5)
	}
	if inv6, inv5 := idx["Invocations|6|11:59"].Value, idx["Invocations|5|11:59"].Value; all.Value != inv6+inv5 || inv5 <= inv6 {
		t.Fatalf("alias invocations %v != 6:%v + 5:%v", all.Value, inv6, inv5)
	}
	for _, k := range []string{"Duration.p90||11:59", "Duration.p99|6|11:59", "Duration.p90|5|11:59"} {
		if s := idx[k]; s.Outcome != sample.OutcomeOK || s.Value <= 0 {
			t.Errorf("%s: %+v", k, s)
		}
	}
}

func TestCustomAndExpressionRules(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	tg := lambdaTarget("api",
		config.Rule{Name: "checkout", Kind: config.RuleMetric, Namespace: "MyApp", MetricName: "CheckoutFailures", Stat: "Sum",
			Dimensions: map[string]string{"Service": "${function}-${alias}", "Version": "${version}"}},
		config.Rule{Name: "err-pct", Kind: config.RuleMetric, Expression: "100 * errors / invocations"},
		config.Rule{Name: "fail-x2", Kind: config.RuleMetric, Namespace: "MyApp", MetricName: "CheckoutFailures", Stat: "Sum",
			Dimensions: map[string]string{"Service": "${function}-${alias}", "Version": "${version}"}, Expression: "m1 * 2"},
	)
	e.sim.PutDatapoint("MyApp", "CheckoutFailures", map[string]string{"Service": "api-live", "Version": "6"}, minute(11, 59), 4)
	e.sim.PutDatapoint("AWS/Lambda", "Invocations", aliasDims("api"), minute(11, 59), 200)
	e.sim.PutDatapoint("AWS/Lambda", "Errors", aliasDims("api"), minute(11, 59), 10)
	ss, stats := e.r.Cycle(context.Background(), []ActiveWatch{activeWatch(tg, minute(11, 0), nil)})
	if stats.Errors != 0 {
		t.Fatalf("stats %+v", stats)
	}
	idx := index(ss)
	// A metric whose dimensions name the version is the new version's
	// (Version "6"); an expression over the alias's metrics is the alias's.
	for key, want := range map[string]float64{"rule:checkout|6|11:59": 4, "rule:err-pct||11:59": 5, "rule:fail-x2|6|11:59": 8} {
		if s := idx[key]; s.Outcome != sample.OutcomeOK || s.Value != want {
			t.Errorf("%s = %+v, want %v", key, s, want)
		}
	}
}

func TestQueriesBatchedIntoFewestCalls(t *testing.T) {
	for _, tc := range []struct {
		name          string
		watches       int
		maxDatapoints int32
		wantCalls     int
	}{
		{"1200 queries, 3 calls", 300, 0, 3},
		{"1204 queries, 3 calls", 301, 0, 3},
		{"1504 queries, 4 calls", 376, 0, 4},
		{"paginated", 300, 40, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCWEnv(t, MetricReaderConfig{MaxDatapoints: tc.maxDatapoints})
			var ws []ActiveWatch
			for i := 0; i < tc.watches; i++ {
				tg := lambdaTarget(fmt.Sprintf("fn-%d", i))
				ws = append(ws, activeWatch(tg, minute(11, 0), nil))
				e.sim.PutDatapoint("AWS/Lambda", "Invocations", aliasDims(tg.Name), minute(11, 59), float64(i))
			}
			ss, stats := e.r.Cycle(context.Background(), ws)
			calls := e.sim.Calls("GetMetricData")
			if stats.Queries != 4*tc.watches || stats.Calls != len(calls) {
				t.Fatalf("stats %+v, sim saw %d calls", stats, len(calls))
			}
			first := 0
			for _, c := range calls {
				if c.Params["NextToken"] == nil {
					first++
				}
				if n := c.Params["Queries"].(int); n > MaxQueriesPerCall {
					t.Fatalf("call with %d queries", n)
				}
			}
			want := (stats.Queries + MaxQueriesPerCall - 1) / MaxQueriesPerCall
			if first != want || (tc.wantCalls > 0 && len(calls) != tc.wantCalls) {
				t.Fatalf("%d requests (%d first pages), want ceil(%d/500) = %d", len(calls), first, stats.Queries, want)
			}
			if tc.maxDatapoints > 0 && len(calls) <= first {
				t.Fatalf("no NextToken pages followed (%d calls)", len(calls))
			}
			idx := map[string]sample.Sample{}
			for _, s := range ss {
				idx[s.Target+"|"+s.Metric+"|"+s.Time.Format("15:04")] = s
			}
			for i := 0; i < tc.watches; i++ {
				s := idx[fmt.Sprintf("fn-%d|Invocations|11:59", i)]
				if s.Outcome != sample.OutcomeOK || s.Value != float64(i) {
					t.Fatalf("fn-%d: %+v", i, s)
				}
			}
		})
	}
}

// TestCloudWatchFailedCycleRetriedSoon: by default one failed cycle is
// tried again 15 s later (a throttled call the SDK's retries did not
// save), not a period later, and a failure that persists backs off from
// there: 15 s, 30 s, ... up to 10 minutes.
func TestCloudWatchFailedCycleRetriedSoon(t *testing.T) {
	ctx := context.Background()
	e := newCWEnv(t, MetricReaderConfig{})
	ws := []ActiveWatch{activeWatch(lambdaTarget("fn"), minute(11, 0), map[string]float64{})}
	e.sim.InjectFault(awssim.Fault{API: "GetMetricData", Kind: awssim.FaultThrottle, Rate: 1})
	if _, stats := e.r.Cycle(ctx, ws); stats.Errors != 1 || !stats.RetryAt.Equal(e.clk.Now().Add(15*time.Second)) {
		t.Fatalf("first failure: %+v, want a retry 15 s later", stats)
	}
	e.clk.Advance(15 * time.Second)
	if _, stats := e.r.Cycle(ctx, ws); stats.Errors != 1 || !stats.RetryAt.Equal(e.clk.Now().Add(30*time.Second)) {
		t.Fatalf("second failure: %+v, want a retry 30 s later", stats)
	}
	e.sim.ClearFaults()
	e.clk.Advance(30 * time.Second)
	if _, stats := e.r.Cycle(ctx, ws); stats.Errors != 0 || !stats.RetryAt.IsZero() {
		t.Fatalf("after recovery: %+v", stats)
	}
}

func TestCloudWatchErrorsAreSourceErrorsWithBackoff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  awssim.Fault
		reason string
	}{
		{"throttling", awssim.Fault{API: "GetMetricData", Kind: awssim.FaultThrottle, Rate: 1}, "Throttl"},
		{"5xx", awssim.Fault{API: "GetMetricData", Kind: awssim.Fault5xx, Rate: 1}, "GetMetricData"},
		{"503", awssim.Fault{API: "GetMetricData", Kind: awssim.Fault5xx, Status: 503, Rate: 1}, "GetMetricData"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newCWEnv(t, MetricReaderConfig{BackoffBase: time.Minute})
			var ws []ActiveWatch
			for i := 0; i < 130; i++ { // 520 queries: two calls
				ws = append(ws, activeWatch(lambdaTarget(fmt.Sprintf("fn-%d", i)), minute(11, 0), map[string]float64{}))
				e.sim.PutDatapoint("AWS/Lambda", "Errors", aliasDims(fmt.Sprintf("fn-%d", i)), minute(12, 1), 1000)
			}
			e.sim.InjectFault(tc.fault)
			ss, stats := e.r.Cycle(ctx, ws)
			if stats.Errors != 2 || len(ss) != 520 {
				t.Fatalf("stats %+v, %d samples; want 2 failed calls, one sample per (watch, metric)", stats, len(ss))
			}
			for _, s := range ss {
				if s.Outcome != sample.OutcomeSourceError || !strings.Contains(s.Reason, tc.reason) || !s.Time.Equal(minute(11, 59)) {
					t.Fatalf("sample under fault: %+v", s)
				}
			}
			d, ok := e.r.Backoff("fn-0")
			if !ok || d.Failures != 1 || !d.NotBefore.Equal(t0.Add(time.Minute)) || stats.RetryAt != d.NotBefore {
				t.Fatalf("retry decision %+v (stats.RetryAt %v)", d, stats.RetryAt)
			}

			// Next cycle retries, fails again: the backoff doubles.
			e.clk.Advance(time.Minute)
			if _, stats = e.r.Cycle(ctx, ws); stats.Errors != 2 {
				t.Fatalf("retry cycle: %+v", stats)
			}
			if d, _ = e.r.Backoff("fn-0"); d.Failures != 2 || !d.NotBefore.Equal(e.clk.Now().Add(2*time.Minute)) {
				t.Fatalf("second decision %+v", d)
			}
			// Inside the backoff: no calls, explicit source errors.
			sent := len(e.sim.Calls("GetMetricData"))
			e.clk.Advance(time.Minute)
			ss, stats = e.r.Cycle(ctx, ws)
			if got := len(e.sim.Calls("GetMetricData")); got != sent || stats.Skipped != 520 || stats.Calls != 0 {
				t.Fatalf("backoff ignored: %d calls (was %d), stats %+v", got, sent, stats)
			}
			for _, s := range ss {
				if s.Outcome != sample.OutcomeSourceError || !strings.Contains(s.Reason, "backing off") {
					t.Fatalf("sample during backoff: %+v", s)
				}
			}
			errKey := index(ss)["Errors||12:01"].Key()
			// Recovery: data flows and replaces the error samples by key.
			e.sim.ClearFaults()
			e.clk.Advance(time.Minute)
			ss, stats = e.r.Cycle(ctx, ws)
			if stats.Errors != 0 {
				t.Fatalf("after recovery: %+v", stats)
			}
			if _, ok := e.r.Backoff("fn-0"); ok {
				t.Fatal("backoff not cleared after success")
			}
			if s := index(ss)["Errors||12:01"]; s.Outcome != sample.OutcomeOK || s.Value != 1000 || s.Key() != errKey {
				t.Fatalf("recovered sample: %+v; want ok 1000 under the error sample's key %s", s, errKey)
			}
			for _, s := range ss {
				if s.Outcome == sample.OutcomeSourceError {
					t.Fatalf("source error after recovery: %+v", s)
				}
			}
		})
	}
}

func TestBaselineReadsWindowBeforeDeploy(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	tg := lambdaTarget("api")
	tg.BaselineWindow = config.Duration{Duration: 10 * time.Minute}
	tg.ShapeWindow = tg.BaselineWindow // no shape history
	e.sim.LambdaTraffic("api", "live", "5", minute(11, 0), minute(12, 30), awssim.Profile{InvocationsPerMin: 120, ErrorRate: 0.01, DurationMs: 50, Seed: 3})
	aw := activeWatch(tg, t0.Add(-15*time.Second), map[string]float64{"6": 0.1})
	ss, err := e.r.Baseline(context.Background(), aw.Watch, tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 40 {
		t.Fatalf("%d baseline samples, want 4 metrics x 10 periods", len(ss))
	}
	for _, s := range ss {
		if s.Version != "" || s.Time.Before(minute(11, 50)) || !s.Time.Before(minute(12, 0)) {
			t.Fatalf("baseline sample outside the alias-level window: %+v", s)
		}
	}
	if s := index(ss)["Invocations||11:50"]; s.Outcome != sample.OutcomeOK || s.Value < 60 {
		t.Fatalf("baseline invocations: %+v", s)
	}
	e.sim.InjectFault(awssim.Fault{API: "GetMetricData", Kind: awssim.Fault5xx, Rate: 1})
	if _, err := e.r.Baseline(context.Background(), aw.Watch, tg); err == nil {
		t.Fatal("baseline under a 5xx fault returned no error")
	}
}

// TestBaselineReadsShapeHistory: a shape_window longer than the
// baseline_window adds the alias's count metrics before the baseline
// window, back to shape_window before the deploy's minute; no percentile
// (the trimmed counts a watch asks for are read too:
// TestShapeHistoryReadsTrimmedCounts), no version. A failed history read
// leaves the baseline whole.
func TestBaselineReadsShapeHistory(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	tg := lambdaTarget("api")
	tg.BaselineWindow = config.Duration{Duration: 10 * time.Minute}
	tg.ShapeWindow = config.Duration{Duration: time.Hour}
	e.sim.LambdaTraffic("api", "live", "5", minute(10, 30), minute(12, 30), awssim.Profile{InvocationsPerMin: 120, ErrorRate: 0.01, DurationMs: 50, Seed: 3})
	aw := activeWatch(tg, t0.Add(-15*time.Second), nil)
	ss, err := e.r.Baseline(context.Background(), aw.Watch, tg)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, s := range ss {
		old := s.Time.Before(minute(11, 50))
		if s.Version != "" || s.Time.Before(minute(11, 0)) || !s.Time.Before(minute(12, 0)) || (old && strings.HasPrefix(s.Metric, "Duration")) {
			t.Fatalf("sample outside the alias-level history and window: %+v", s)
		}
		if old {
			counts[s.Metric]++
		}
	}
	if counts["Invocations"] != 50 || counts["Errors"] != 50 || counts["Throttles"] != 50 || len(ss) != 40+150 {
		t.Fatalf("history %v, %d samples; want 50 periods of 3 counts before the window's 40 samples", counts, len(ss))
	}
	if s := index(ss)["Invocations||11:00"]; s.Outcome != sample.OutcomeOK || s.Value < 60 {
		t.Fatalf("history invocations: %+v", s)
	}
	e.sim.InjectFault(awssim.Fault{API: "GetMetricData", Kind: awssim.Fault5xx, After: 1, Count: 100})
	ss, err = e.r.Baseline(context.Background(), aw.Watch, tg)
	if err != nil || len(ss) != 40 {
		t.Fatalf("history read failing: %d samples, %v; want the window's 40 and no error", len(ss), err)
	}
}

// A watch's own Duration statistics (policy.DurationStats of its baseline)
// are read per watch — per version while split — and a change of them
// replans the watch.
func TestDurationStatsPerWatch(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	tg := lambdaTarget("api", config.Rule{Name: "cmp", Kind: config.RuleCompareLatency})
	e.sim.LambdaTraffic("api", "live", "6", minute(11, 0), minute(12, 30), awssim.Profile{InvocationsPerMin: 600, DurationMs: 300, DurationJitterMs: 100, Seed: 1})
	e.sim.LambdaTraffic("api", "live", "5", minute(11, 0), minute(12, 30), awssim.Profile{InvocationsPerMin: 600, DurationMs: 100, DurationJitterMs: 30, Seed: 2})
	aw := activeWatch(tg, minute(11, 0), map[string]float64{"6": 0.5})
	_, stats := e.r.Cycle(context.Background(), []ActiveWatch{aw})
	if stats.Queries != 12 { // (3 counts + p99) x {alias, 6, 5}
		t.Fatalf("queries %d without DurationStats, want 12", stats.Queries)
	}
	aw.DurationStats = []string{"p99", "TC(150:)", "TC(188:)"}
	ss, stats := e.r.Cycle(context.Background(), []ActiveWatch{aw})
	if stats.Queries != 18 || stats.Errors != 0 {
		t.Fatalf("stats %+v with 3 Duration statistics, want 18 queries", stats)
	}
	idx := index(ss)
	slow6, slow5, n6 := idx["Duration.TC(188:)|6|11:59"], idx["Duration.TC(150:)|5|11:59"], idx["Invocations|6|11:59"]
	if slow6.Outcome != sample.OutcomeOK || slow5.Outcome != sample.OutcomeOK || n6.Value <= 0 {
		t.Fatalf("trimmed counts: 6 %+v, 5 %+v", slow6, slow5)
	}
	if slow6.Value <= slow5.Value || slow6.Value > n6.Value {
		t.Fatalf("version 6 (300 ms) has %v invocations above 188 ms of %v, version 5 (100 ms) %v above 150 ms", slow6.Value, n6.Value, slow5.Value)
	}
}

// BaselineFor reads the baseline, asks for the watch's statistics given
// it, and reads the trimmed counts of the known-good for the same window.
func TestBaselineForReadsTrimmedCounts(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	tg := lambdaTarget("api", config.Rule{Name: "cmp", Kind: config.RuleCompareLatency})
	tg.BaselineWindow = config.Duration{Duration: 10 * time.Minute}
	tg.ShapeWindow = tg.BaselineWindow // no shape history
	e.sim.LambdaTraffic("api", "live", "5", minute(11, 0), minute(12, 30), awssim.Profile{InvocationsPerMin: 600, DurationMs: 100, DurationJitterMs: 30, Seed: 2})
	aw := activeWatch(tg, t0.Add(-15*time.Second), nil)
	var asked []sample.Sample
	statsFor := func(base []sample.Sample) BaselineStats {
		asked = base
		return BaselineStats{Stats: []string{"p99", "TC(150:)"}}
	}
	ss, stats, err := e.r.BaselineFor(context.Background(), aw, statsFor)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 40 || strings.Join(stats, ",") != "p99,TC(150:)" {
		t.Fatalf("statsFor saw %d samples; stats %v", len(asked), stats)
	}
	idx := index(ss)
	for m := 50; m < 60; m++ {
		k := fmt.Sprintf("Duration.TC(150:)||11:%02d", m)
		if s := idx[k]; s.Outcome != sample.OutcomeOK || s.Value < 0 || s.Value > idx[fmt.Sprintf("Invocations||11:%02d", m)].Value {
			t.Fatalf("%s = %+v", k, s)
		}
	}
	if len(ss) != 50 {
		t.Fatalf("%d baseline samples, want 5 metrics x 10 periods", len(ss))
	}
}

// The shape history carries the trimmed counts the baseline asked it for
// (BaselineStats.History: compare_latency's slow invocations on the
// known-good side, for the shape of their bursts), not the percentiles nor
// the other counts: TC(150:) for each history period, at most its
// invocations, and no p99 or TC(165:) before the baseline window.
func TestShapeHistoryReadsTrimmedCounts(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	tg := lambdaTarget("api", config.Rule{Name: "cmp", Kind: config.RuleCompareLatency})
	tg.BaselineWindow = config.Duration{Duration: 10 * time.Minute}
	tg.ShapeWindow = config.Duration{Duration: time.Hour}
	e.sim.LambdaTraffic("api", "live", "5", minute(10, 30), minute(12, 30), awssim.Profile{InvocationsPerMin: 600, DurationMs: 100, DurationJitterMs: 30, Seed: 2})
	aw := activeWatch(tg, t0.Add(-15*time.Second), nil)
	statsFor := func([]sample.Sample) BaselineStats {
		return BaselineStats{Stats: []string{"p99", "TC(150:)", "TC(165:)"}, History: []string{"TC(150:)"}}
	}
	ss, _, err := e.r.BaselineFor(context.Background(), aw, statsFor)
	if err != nil {
		t.Fatal(err)
	}
	idx := index(ss)
	slow := 0
	for m := 0; m < 50; m++ {
		at := minute(11, 0).Add(time.Duration(m) * time.Minute).Format("15:04")
		s, n := idx["Duration.TC(150:)||"+at], idx["Invocations||"+at]
		if s.Outcome != sample.OutcomeOK || n.Outcome != sample.OutcomeOK || s.Value > n.Value {
			t.Fatalf("history %s: TC(150:) %+v of invocations %+v", at, s, n)
		}
		slow += int(s.Value)
		if p := idx["Duration.p99||"+at]; p.Outcome != "" {
			t.Fatalf("history %s has a percentile: %+v", at, p)
		}
		if c := idx["Duration.TC(165:)||"+at]; c.Outcome != "" {
			t.Fatalf("history %s has a trimmed count it did not ask for: %+v", at, c)
		}
	}
	if slow == 0 {
		t.Fatal("no history period counted an invocation slower than 150 ms (100 ± 30 ms)")
	}
	if len(ss) != 60+50*4 {
		t.Fatalf("%d samples, want the window's 6 metrics x 10 periods and the history's 4 x 50", len(ss))
	}
}

// Read reads back what a restarted daemon missed: every period since the
// detection, per version while split, with the watch's statistics.
func TestReadSinceDetection(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	tg := lambdaTarget("api")
	e.sim.LambdaTraffic("api", "live", "6", minute(11, 0), minute(12, 30), awssim.Profile{InvocationsPerMin: 60, DurationMs: 100, Seed: 1})
	e.sim.LambdaTraffic("api", "live", "5", minute(11, 0), minute(12, 30), awssim.Profile{InvocationsPerMin: 600, DurationMs: 100, Seed: 2})
	aw := activeWatch(tg, minute(11, 40).Add(10*time.Second), map[string]float64{"6": 0.1})
	aw.DurationStats = []string{"p99", "TC(120:)"}
	ss, err := e.r.Read(context.Background(), aw, aw.Watch.DetectedAt, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	idx := index(ss)
	for _, k := range []string{"Invocations|6|11:40", "Errors|5|11:59", "Duration.TC(120:)|6|11:45", "Invocations||11:59"} {
		if s := idx[k]; s.Outcome == "" {
			t.Errorf("%s missing", k)
		}
	}
	for _, s := range ss {
		if s.Time.Before(minute(11, 40)) || !s.Time.Before(minute(12, 0)) {
			t.Fatalf("backfilled sample outside [detection period, now): %+v", s)
		}
	}
	if want := 20 * 5 * 3; len(ss) != want {
		t.Fatalf("%d samples, want 20 periods x 5 metrics x 3 sides", len(ss))
	}
}

// A baseline reads a per-version custom metric for the known-good version
// and reports it for the alias (the baseline is the known-good's).
func TestBaselineCustomMetricIsKnownGoods(t *testing.T) {
	e := newCWEnv(t, MetricReaderConfig{})
	tg := lambdaTarget("api", config.Rule{Name: "checkout", Kind: config.RuleMetric, Namespace: "MyApp", MetricName: "CheckoutFailures", Stat: "Sum",
		Dimensions: map[string]string{"Version": "${version}"}})
	tg.BaselineWindow = config.Duration{Duration: 5 * time.Minute}
	e.sim.PutDatapoint("MyApp", "CheckoutFailures", map[string]string{"Version": "5"}, minute(11, 57), 3)
	e.sim.PutDatapoint("MyApp", "CheckoutFailures", map[string]string{"Version": "6"}, minute(11, 57), 99)
	ss, err := e.r.Baseline(context.Background(), activeWatch(tg, t0, nil).Watch, tg)
	if err != nil {
		t.Fatal(err)
	}
	if s := index(ss)["rule:checkout||11:57"]; s.Outcome != sample.OutcomeOK || s.Value != 3 {
		t.Fatalf("baseline custom metric %+v, want the known-good version's 3 reported for the alias", s)
	}
}

// After failed and skipped cycles, the first read that succeeds goes back
// to the window of the last one that did (watch.ReadStart): the periods
// the outage hid are read, not lost behind metric_lag.
func TestCloudWatchReadCatchesUpAfterAnOutage(t *testing.T) {
	ctx := context.Background()
	e := newCWEnv(t, MetricReaderConfig{BackoffBase: time.Minute})
	ws := []ActiveWatch{activeWatch(lambdaTarget("fn"), minute(11, 50), map[string]float64{})}
	for m := 0; m < 12; m++ {
		e.sim.PutDatapoint("AWS/Lambda", "Errors", aliasDims("fn"), minute(12, m), float64(100+m))
	}
	if _, stats := e.r.Cycle(ctx, ws); stats.Errors != 0 {
		t.Fatalf("first cycle: %+v", stats)
	}
	e.sim.InjectFault(awssim.Fault{API: "GetMetricData", Kind: awssim.FaultThrottle, Rate: 1})
	for range 6 { // 12:01:30 .. 12:06:30: failures and backoff
		e.clk.Advance(time.Minute)
		e.r.Cycle(ctx, ws)
	}
	e.sim.ClearFaults()
	for { // wait out the backoff without reading
		e.clk.Advance(time.Minute)
		if d, ok := e.r.Backoff("fn"); !ok || !e.clk.Now().Before(d.NotBefore) {
			break
		}
	}
	if lagStart := floorTime(e.clk.Now(), time.Minute).Add(-3 * time.Minute); !lagStart.After(minute(12, 1)) {
		t.Fatalf("recovery at %s: want periods beyond metric_lag's reach", e.clk.Now().Format("15:04:05"))
	}
	ss, stats := e.r.Cycle(ctx, ws)
	if stats.Errors != 0 {
		t.Fatalf("recovery cycle: %+v", stats)
	}
	got := index(ss)
	end := floorTime(e.clk.Now(), time.Minute)
	// The last good read (12:00:30) covered 11:57-11:59; every period
	// since, up to the newest complete one, is read now.
	for p := minute(12, 0); p.Before(end); p = p.Add(time.Minute) {
		s := got["Errors||"+p.Format("15:04")]
		if s.Outcome != sample.OutcomeOK || s.Value != float64(100+p.Minute()) {
			t.Fatalf("period %s after the outage: %+v", p.Format("15:04"), s)
		}
	}
	// And the cycle after reads the last metric_lag periods again.
	e.clk.Advance(time.Minute)
	ss, _ = e.r.Cycle(ctx, ws)
	if s, ok := index(ss)["Errors||12:00"]; ok {
		t.Fatalf("caught up but still reading 12:00: %+v", s)
	}
}
