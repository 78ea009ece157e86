package awssim

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
)

// BenchmarkGetMetricData500 drives one full batch (500 queries: Invocations,
// Errors, Throttles, Duration p99 for 125 of 10,000 functions, 10 one-minute
// periods) through the real SDK client, the way the watcher batches.
func BenchmarkGetMetricData500(b *testing.B) {
	s, cfg := Start(b, Options{})
	const fns = 10000
	for i := range fns {
		s.LambdaTraffic(fmt.Sprintf("fn%d", i), "live", "1", t0.Add(-time.Hour), t0.Add(time.Hour), HealthyProfile(int64(i)))
	}
	cw := cloudwatch.NewFromConfig(cfg)
	metrics := []struct{ name, stat string }{{"Invocations", "Sum"}, {"Errors", "Sum"}, {"Throttles", "Sum"}, {"Duration", "p99"}}
	inputs := make([]*cloudwatch.GetMetricDataInput, fns/125)
	for k := range inputs {
		in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(t0), EndTime: aws.Time(t0.Add(10 * time.Minute))}
		for j := range 125 {
			fn := fmt.Sprintf("fn%d", k*125+j)
			for mi, m := range metrics {
				in.MetricDataQueries = append(in.MetricDataQueries,
					metricStat(fmt.Sprintf("q%d_%d", j, mi), "AWS/Lambda", m.name, aliasDims(fn, "live"), 60, m.stat))
			}
		}
		inputs[k] = in
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := cw.GetMetricData(b.Context(), inputs[i%len(inputs)])
		if err != nil {
			b.Fatal(err)
		}
		if len(out.MetricDataResults) != 500 || len(out.MetricDataResults[0].Values) != 10 {
			b.Fatalf("%d results, %d values", len(out.MetricDataResults), len(out.MetricDataResults[0].Values))
		}
	}
}

// BenchmarkPutDatapoint measures recording raw values.
func BenchmarkPutDatapoint(b *testing.B) {
	s := New(Options{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.PutDatapoint("App", "Latency", map[string]string{"Service": "a"}, t0.Add(time.Duration(i)*time.Second), 1, 2, 3)
	}
}

// BenchmarkLambdaTraffic measures writing one function's two hours of
// traffic (synthesised lazily, so O(1) memory per call).
func BenchmarkLambdaTraffic(b *testing.B) {
	s := New(Options{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.LambdaTraffic(fmt.Sprintf("fn%d", i%10000), "live", "1", t0.Add(-time.Hour), t0.Add(time.Hour), HealthyProfile(int64(i)))
	}
}
