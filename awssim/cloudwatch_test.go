package awssim

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

func metricStat(id, ns, name string, dims map[string]string, period int32, stat string) types.MetricDataQuery {
	var ds []types.Dimension
	for k, v := range dims {
		ds = append(ds, types.Dimension{Name: aws.String(k), Value: aws.String(v)})
	}
	return types.MetricDataQuery{Id: aws.String(id), MetricStat: &types.MetricStat{
		Metric: &types.Metric{Namespace: aws.String(ns), MetricName: aws.String(name), Dimensions: ds},
		Period: aws.Int32(period), Stat: aws.String(stat)}}
}

func expr(id, e string) types.MetricDataQuery {
	return types.MetricDataQuery{Id: aws.String(id), Expression: aws.String(e)}
}

func hidden(q types.MetricDataQuery) types.MetricDataQuery {
	q.ReturnData = aws.Bool(false)
	return q
}

// series maps minute offsets from t0 to values.
type series map[int]float64

func toSeries(t *testing.T, r types.MetricDataResult) series {
	t.Helper()
	if len(r.Timestamps) != len(r.Values) {
		t.Fatalf("%s: %d timestamps, %d values", aws.ToString(r.Id), len(r.Timestamps), len(r.Values))
	}
	out := series{}
	for i, ts := range r.Timestamps {
		out[int(ts.Sub(t0)/time.Minute)] = r.Values[i]
	}
	return out
}

func getData(t *testing.T, cw *cloudwatch.Client, from, to time.Duration, qs ...types.MetricDataQuery) map[string]series {
	t.Helper()
	out, err := cw.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(t0.Add(from)), EndTime: aws.Time(t0.Add(to)), MetricDataQueries: qs})
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]series{}
	for _, r := range out.MetricDataResults {
		if r.StatusCode != types.StatusCodeComplete {
			t.Fatalf("%s: status %s", aws.ToString(r.Id), r.StatusCode)
		}
		res[aws.ToString(r.Id)] = toSeries(t, r)
	}
	return res
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func equalSeries(a, b series) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || !near(v, bv) {
			return false
		}
	}
	return true
}

var dimsA = map[string]string{"Service": "a"}

func TestCloudWatchStats(t *testing.T) {
	s, c, _ := start(t, Options{})
	// minute 0: 1..100; minute 1: nothing; minute 2: 5 and 7 in two puts
	var hundred []float64
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, float64(i))
	}
	s.PutDatapoint("App", "Latency", dimsA, t0.Add(10*time.Second), hundred...)
	s.PutDatapoint("App", "Latency", dimsA, t0.Add(2*time.Minute), 5)
	s.PutDatapoint("App", "Latency", dimsA, t0.Add(2*time.Minute+30*time.Second), 7)
	q := func(id, stat string) types.MetricDataQuery { return metricStat(id, "App", "Latency", dimsA, 60, stat) }
	got := getData(t, c.CloudWatch, 0, 5*time.Minute,
		q("sum", "Sum"), q("avg", "Average"), q("n", "SampleCount"), q("lo", "Minimum"), q("hi", "Maximum"),
		q("p50", "p50"), q("p99", "p99"), q("p999", "p99.9"))
	want := map[string]series{
		"sum":  {0: 5050, 2: 12},
		"avg":  {0: 50.5, 2: 6},
		"n":    {0: 100, 2: 2},
		"lo":   {0: 1, 2: 5},
		"hi":   {0: 100, 2: 7},
		"p50":  {0: 50, 2: 5},
		"p99":  {0: 99, 2: 7},
		"p999": {0: 100, 2: 7},
	}
	for id, w := range want {
		if !equalSeries(got[id], w) {
			t.Errorf("%s = %v, want %v (no datapoint for the empty minute)", id, got[id], w)
		}
	}
	// five-minute period aggregates all
	got = getData(t, c.CloudWatch, 0, 5*time.Minute, metricStat("s5", "App", "Latency", dimsA, 300, "Sum"))
	if !equalSeries(got["s5"], series{0: 5062}) {
		t.Fatalf("5m sum = %v", got["s5"])
	}
	// other dimensions are another metric
	got = getData(t, c.CloudWatch, 0, 5*time.Minute, metricStat("other", "App", "Latency", map[string]string{"Service": "b"}, 60, "Sum"))
	if len(got["other"]) != 0 {
		t.Fatalf("other dims = %v, want no data", got["other"])
	}
}

func TestCloudWatchPutMetricData(t *testing.T) {
	s, c, _ := start(t, Options{})
	dims := []types.Dimension{{Name: aws.String("Service"), Value: aws.String("a")}}
	_, err := c.CloudWatch.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{
		{MetricName: aws.String("Lat"), Dimensions: dims, Timestamp: aws.Time(t0), Value: aws.Float64(10)},
		{MetricName: aws.String("Lat"), Dimensions: dims, Timestamp: aws.Time(t0), Values: []float64{20, 30}, Counts: []float64{1, 2}},
		{MetricName: aws.String("Lat"), Dimensions: dims, Timestamp: aws.Time(t0.Add(time.Minute)),
			StatisticValues: &types.StatisticSet{SampleCount: aws.Float64(4), Sum: aws.Float64(40), Minimum: aws.Float64(1), Maximum: aws.Float64(19)}},
		{MetricName: aws.String("Lat"), Dimensions: dims, Value: aws.Float64(3)}, // no Timestamp: the sim clock's now (t0)
	}})
	if err != nil {
		t.Fatal(err)
	}
	q := func(id, stat string) types.MetricDataQuery { return metricStat(id, "App", "Lat", dimsA, 60, stat) }
	got := getData(t, c.CloudWatch, 0, 2*time.Minute, q("sum", "Sum"), q("n", "SampleCount"), q("hi", "Maximum"), q("p50", "p50"),
		q("tc", "TC(10:)"), q("tcb", "TC(3:20)"))
	want := map[string]series{
		"sum": {0: 93, 1: 40},
		"n":   {0: 5, 1: 4},
		"hi":  {0: 30, 1: 19},
		"p50": {0: 20}, // statistic sets carry no percentiles
		"tc":  {0: 3},  // 20 and 30 (twice): above 10, exclusive
		"tcb": {0: 2},  // 10 and 20: in (3, 20]
	}
	for id, w := range want {
		if !equalSeries(got[id], w) {
			t.Errorf("%s = %v, want %v", id, got[id], w)
		}
	}
	if calls := s.Calls("PutMetricData"); len(calls) != 1 || calls[0].Params["Namespace"] != "App" {
		t.Fatalf("calls = %+v", calls)
	}
	_, err = c.CloudWatch.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{
		{MetricName: aws.String("Lat"), Values: []float64{1, 2}, Counts: []float64{1}}}})
	var ipv *types.InvalidParameterValueException
	if !errors.As(err, &ipv) || ipv.ErrorCode() != "InvalidParameterValue" {
		t.Fatalf("mismatched Counts: %v, want InvalidParameterValue", err)
	}
}

func TestCloudWatchPutMetricDataCompressed(t *testing.T) {
	_, c, _ := start(t, Options{})
	vals := make([]float64, 2000) // > the SDK's 10 KiB request compression threshold
	for i := range vals {
		vals[i] = float64(i % 100)
	}
	_, err := c.CloudWatch.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{
		{MetricName: aws.String("Big"), Timestamp: aws.Time(t0), Values: vals}}})
	if err != nil {
		t.Fatal(err)
	}
	got := getData(t, c.CloudWatch, 0, time.Minute, metricStat("n", "App", "Big", nil, 60, "SampleCount"))
	if !equalSeries(got["n"], series{0: 2000}) {
		t.Fatalf("SampleCount %v, want 2000", got["n"])
	}
}

func TestCloudWatchMath(t *testing.T) {
	s, c, _ := start(t, Options{})
	put := func(name string, vals map[int]float64) {
		for m, v := range vals {
			s.PutDatapoint("App", name, dimsA, t0.Add(time.Duration(m)*time.Minute), v)
		}
	}
	put("Errors", map[int]float64{0: 1, 1: 0, 2: 6, 4: 3})
	put("Calls", map[int]float64{0: 10, 1: 20, 2: 30, 3: 40, 4: 0})
	base := []types.MetricDataQuery{
		hidden(metricStat("e", "App", "Errors", dimsA, 60, "Sum")),
		hidden(metricStat("n", "App", "Calls", dimsA, 60, "Sum")),
	}
	cases := []struct {
		name, expr string
		want       series
	}{
		{"ratio drops missing and x/0", "100*e/n", series{0: 10, 1: 0, 2: 20}},
		{"plus minus", "e + n - 1", series{0: 10, 1: 19, 2: 35, 4: 2}},
		{"scalar series", "(e * 2) / 4", series{0: 0.5, 1: 0, 2: 3, 4: 1.5}},
		{"fill value", "FILL(e, 0)", series{0: 1, 1: 0, 2: 6, 3: 0, 4: 3}},
		{"fill covers empty range", "FILL(e, -1)", series{0: 1, 1: 0, 2: 6, 3: -1, 4: 3}},
		{"fill repeat", "FILL(e, REPEAT)", series{0: 1, 1: 0, 2: 6, 3: 6, 4: 3}},
		{"if with else", "IF(n > 15, e, -1)", series{0: -1, 1: 0, 2: 6, 4: -1}},
		{"if without else", "IF(n >= 20 AND e > 0, e)", series{2: 6}},
		{"if over filled", "IF(FILL(e,0) == 0, 1, 0)", series{0: 0, 1: 1, 2: 0, 3: 1, 4: 0}},
		{"not and or, missing operand gives no point", "IF(NOT (n < 30) || e == 1, 1, 0)", series{0: 1, 1: 0, 2: 1, 4: 0}},
		{"abs", "ABS(e - 5)", series{0: 4, 1: 5, 2: 1, 4: 2}},
		{"period", "e / PERIOD(e)", series{0: 1.0 / 60, 1: 0, 2: 0.1, 4: 0.05}},
		{"sum of array skips missing", "SUM([e, n])", series{0: 11, 1: 20, 2: 36, 3: 40, 4: 3}},
		{"max of array", "MAX([e, n, 25])", series{0: 25, 1: 25, 2: 30, 3: 40, 4: 25}},
		{"avg of a series is a scalar", "e - AVG(e)", series{0: -1.5, 1: -2.5, 2: 3.5, 4: 0.5}},
		{"diff", "DIFF(n)", series{1: 10, 2: 10, 3: 10, 4: -40}},
		{"rate per second", "RATE(e)", series{1: -1.0 / 60, 2: 0.1, 4: -3.0 / 120}},
		{"ceil floor", "CEIL(e / 4) + FLOOR(e / 4)", series{0: 1, 1: 0, 2: 3, 4: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := getData(t, c.CloudWatch, 0, 5*time.Minute, append(base, expr("x", tc.expr))...)
			if len(got) != 1 {
				t.Fatalf("results %v: ReturnData=false queries must not be returned", got)
			}
			if !equalSeries(got["x"], tc.want) {
				t.Fatalf("%s = %v, want %v", tc.expr, got["x"], tc.want)
			}
		})
	}
	// expressions over expressions
	got := getData(t, c.CloudWatch, 0, 5*time.Minute, append(base, hidden(expr("r", "e/n")), expr("pct", "r*100"))...)
	if !equalSeries(got["pct"], series{0: 10, 1: 0, 2: 20}) {
		t.Fatalf("pct = %v", got["pct"])
	}
}

func TestCloudWatchValidation(t *testing.T) {
	_, c, _ := start(t, Options{})
	many := func(n int) []types.MetricDataQuery {
		var qs []types.MetricDataQuery
		for i := range n {
			qs = append(qs, metricStat(fmt.Sprintf("q%d", i), "App", "M", dimsA, 60, "Sum"))
		}
		return qs
	}
	cases := []struct {
		name     string
		qs       []types.MetricDataQuery
		from, to time.Duration
		wantCode string
	}{
		{"500 queries ok", many(500), 0, time.Minute, ""},
		{"501 queries rejected", many(501), 0, time.Minute, "ValidationError"},
		{"start after end", many(1), time.Minute, 0, "InvalidParameterValue"},
		{"unknown id", append(many(1), expr("x", "q0 + zz")), 0, time.Minute, "ValidationError"},
		{"syntax", append(many(1), expr("x", "q0 +")), 0, time.Minute, "ValidationError"},
		{"cycle", []types.MetricDataQuery{expr("a", "b+1"), expr("b", "a+1")}, 0, time.Minute, "ValidationError"},
		{"bad id", []types.MetricDataQuery{metricStat("Q", "App", "M", dimsA, 60, "Sum")}, 0, time.Minute, "ValidationError"},
		{"duplicate id", append(many(1), many(1)...), 0, time.Minute, "ValidationError"},
		{"bad stat", []types.MetricDataQuery{metricStat("q", "App", "M", dimsA, 60, "p101")}, 0, time.Minute, "InvalidParameterValue"},
		{"bad period", []types.MetricDataQuery{metricStat("q", "App", "M", dimsA, 90, "Sum")}, 0, time.Minute, "ValidationError"},
		{"nothing returned", []types.MetricDataQuery{hidden(metricStat("q", "App", "M", dimsA, 60, "Sum"))}, 0, time.Minute, "ValidationError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.CloudWatch.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{
				StartTime: aws.Time(t0.Add(tc.from)), EndTime: aws.Time(t0.Add(tc.to)), MetricDataQueries: tc.qs})
			if got := apiCode(err); got != tc.wantCode {
				t.Fatalf("code %q (%v), want %q", got, err, tc.wantCode)
			}
			if tc.wantCode == "" && len(out.MetricDataResults) != len(tc.qs) {
				t.Fatalf("%d results for %d queries", len(out.MetricDataResults), len(tc.qs))
			}
		})
	}
}

func TestCloudWatchPaginationAndScanBy(t *testing.T) {
	s, c, _ := start(t, Options{})
	for m := range 10 {
		s.PutDatapoint("App", "A", dimsA, t0.Add(time.Duration(m)*time.Minute), float64(m))
		s.PutDatapoint("App", "B", dimsA, t0.Add(time.Duration(m)*time.Minute), float64(100+m))
	}
	in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(t0), EndTime: aws.Time(t0.Add(10 * time.Minute)),
		MaxDatapoints: aws.Int32(4), ScanBy: types.ScanByTimestampAscending,
		MetricDataQueries: []types.MetricDataQuery{metricStat("a", "App", "A", dimsA, 60, "Sum"), metricStat("b", "App", "B", dimsA, 60, "Sum")}}
	got := map[string][]float64{}
	pages := 0
	lastID, lastStatus := "", types.StatusCode("")
	p := cloudwatch.NewGetMetricDataPaginator(c.CloudWatch, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n := 0
		for i, r := range out.MetricDataResults {
			id := aws.ToString(r.Id)
			if i == 0 && id == lastID && lastStatus != types.StatusCodePartialData {
				t.Fatalf("result %s continued on page %d but was %s", id, pages, lastStatus)
			}
			n += len(r.Values)
			got[id] = append(got[id], r.Values...)
			lastID, lastStatus = id, r.StatusCode
		}
		if n > 4 {
			t.Fatalf("page with %d datapoints > MaxDatapoints", n)
		}
	}
	if pages != 5 {
		t.Fatalf("%d pages, want 5", pages)
	}
	for i := range 10 {
		if got["a"][i] != float64(i) || got["b"][i] != float64(100+i) {
			t.Fatalf("ascending pages: a=%v b=%v", got["a"], got["b"])
		}
	}
	// default ScanBy is TimestampDescending
	out, err := c.CloudWatch.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(t0), EndTime: aws.Time(t0.Add(10 * time.Minute)),
		MetricDataQueries: []types.MetricDataQuery{metricStat("a", "App", "A", dimsA, 60, "Sum")}})
	if err != nil {
		t.Fatal(err)
	}
	r := out.MetricDataResults[0]
	if r.Values[0] != 9 || !r.Timestamps[0].Equal(t0.Add(9*time.Minute)) || aws.ToString(r.Label) != "A" {
		t.Fatalf("descending: first %v at %v label %q", r.Values[0], r.Timestamps[0], aws.ToString(r.Label))
	}
	_, err = c.CloudWatch.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(t0), EndTime: aws.Time(t0.Add(time.Minute)),
		NextToken: aws.String("garbage"), MetricDataQueries: []types.MetricDataQuery{metricStat("a", "App", "A", dimsA, 60, "Sum")}})
	var bad *types.InvalidNextToken
	if !errors.As(err, &bad) {
		t.Fatalf("bad token: %v, want InvalidNextToken", err)
	}
}

func TestCloudWatchPeriodAlignment(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.PutDatapoint("App", "A", dimsA, t0.Add(4*time.Minute+30*time.Second), 1)
	s.PutDatapoint("App", "A", dimsA, t0.Add(5*time.Minute), 2)
	s.PutDatapoint("App", "A", dimsA, t0.Add(9*time.Minute), 4)
	// start 7m is rounded down to the 5m period boundary
	got := getData(t, c.CloudWatch, 7*time.Minute, 10*time.Minute, metricStat("a", "App", "A", dimsA, 300, "Sum"))
	if !equalSeries(got["a"], series{5: 6}) {
		t.Fatalf("aligned = %v, want {5: 6}", got["a"])
	}
	// the end is exclusive
	got = getData(t, c.CloudWatch, 0, 5*time.Minute, metricStat("a", "App", "A", dimsA, 60, "Sum"))
	if !equalSeries(got["a"], series{4: 1}) {
		t.Fatalf("end-exclusive = %v", got["a"])
	}
}

func TestCloudWatchMetricDelay(t *testing.T) {
	s, c, clk := start(t, Options{MetricDelay: 3 * time.Minute})
	s.LambdaTraffic("fn", "live", "1", t0, t0.Add(10*time.Minute), HealthyProfile(1))
	q := lambdaQ("n", "Invocations", "Sum", aliasDims("fn", "live"), 60)
	clk.Advance(5 * time.Minute)
	got := getData(t, c.CloudWatch, 0, 10*time.Minute, q)
	if len(got["n"]) != 3 { // minutes 0, 1 and 2 are at least 3 minutes old
		t.Fatalf("visible minutes %v, want 0..2", got["n"])
	}
	clk.Advance(time.Minute)
	if got := getData(t, c.CloudWatch, 0, 10*time.Minute, q); len(got["n"]) != 4 {
		t.Fatalf("after a minute: %v", got["n"])
	}
}

func TestCloudWatchHideFutureData(t *testing.T) {
	s, c, clk := start(t, Options{HideFutureData: true})
	s.PutDatapoint("App", "A", dimsA, t0.Add(2*time.Minute), 1)
	q := metricStat("a", "App", "A", dimsA, 60, "Sum")
	if got := getData(t, c.CloudWatch, 0, 5*time.Minute, q); len(got["a"]) != 0 {
		t.Fatalf("future data visible: %v", got["a"])
	}
	clk.Advance(2 * time.Minute)
	if got := getData(t, c.CloudWatch, 0, 5*time.Minute, q); !equalSeries(got["a"], series{2: 1}) {
		t.Fatalf("after advance: %v", got["a"])
	}
}
