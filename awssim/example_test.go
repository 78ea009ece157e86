package awssim_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
)

// A bad deploy in one line, then the daemon's view of it through the real
// SDK clients: the alias, and the new version's error rate.
func TestExampleBadDeploy(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	sim, cfg := awssim.Start(t, awssim.Options{Clock: clk, HideFutureData: true})
	res := sim.Play(awssim.BadDeploy("checkout", "live", clk.Now()))
	clk.Advance(10 * time.Minute)

	c := awsclient.New(cfg)
	ctx := context.Background()
	alias, err := c.Lambda.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("checkout"), Name: aws.String("live")})
	if err != nil {
		t.Fatal(err)
	}
	dims := []types.Dimension{
		{Name: aws.String("FunctionName"), Value: aws.String("checkout")},
		{Name: aws.String("Resource"), Value: aws.String("checkout:live")},
		{Name: aws.String("ExecutedVersion"), Value: aws.String(res.New)},
	}
	q := func(id, metric string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String("AWS/Lambda"), MetricName: aws.String(metric), Dimensions: dims},
			Period: aws.Int32(300), Stat: aws.String("Sum")}}
	}
	out, err := c.CloudWatch.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(clk.Now().Add(-10 * time.Minute)), EndTime: aws.Time(clk.Now()),
		MetricDataQueries: []types.MetricDataQuery{q("e", "Errors"), q("n", "Invocations"),
			{Id: aws.String("rate"), Expression: aws.String("100 * e / n")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rates := out.MetricDataResults[0].Values
	t.Logf("alias on %s (was %s); error rate per 5 min: %.1f%%", aws.ToString(alias.FunctionVersion), res.Known, rates)
	if aws.ToString(alias.FunctionVersion) != res.New || len(rates) != 2 || rates[0] < 15 {
		t.Fatalf("alias %s, rates %v", aws.ToString(alias.FunctionVersion), rates)
	}
}
