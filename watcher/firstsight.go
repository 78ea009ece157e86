package watcher

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/canaryd/canaryd/config"
)

// A target the store knows nothing about is seen for the first time —
// canaryd's first start, or a store that lost its data (Redis restarted
// without persistence, a bolt file on an ephemeral disk). What the alias
// serves then is not adopted as known-good blindly: it may be the bad
// version of a deploy whose watch was lost. The alias's own history says
// which: CloudWatch counts invocations per executed version. If the live
// version alone served the alias over the look-back (or nothing did), it
// has been live for a while and is adopted; if another version served it
// before, that one was the known-good and the live version is watched as
// a deploy that began when its traffic began.

// SourceRecovered is Watch.Source of a deploy found at a first sighting.
const SourceRecovered = "recovered"

// Evidence look-back at a first sighting.
const (
	firstSightLookback = 3 * time.Hour
	firstSightPeriod   = time.Minute
	firstSightVersions = 8 // the most recent versions whose traffic is read
)

// firstSight is what the evidence says about a target seen for the first
// time.
type firstSight struct {
	adopt     bool      // the live version is the known-good one
	knownGood string    // otherwise: the version that served before
	since     time.Time // when the live version's traffic began
	why       string
}

// judgeFirstSight reads the evidence for the live alias a.
func (d *Detector) judgeFirstSight(ctx context.Context, t config.Target, a aliasView) (firstSight, error) {
	if len(a.Weights) > 0 { // a split: the primary is the version deploys move away from
		return firstSight{knownGood: a.Version, since: d.cfg.Clock.Now(),
			why: fmt.Sprintf("the alias splits traffic: primary version %s is the known-good one", a.Version)}, nil
	}
	cw := d.cfg.CloudWatch
	if cw == nil || cw(t.Name) == nil {
		return firstSight{adopt: true, why: "no CloudWatch client to read the alias's history"}, nil
	}
	versions, err := d.recentVersions(ctx, t, a.Version)
	if err != nil {
		return firstSight{}, err
	}
	traffic, err := d.trafficByVersion(ctx, cw(t.Name), t, versions)
	if err != nil {
		return firstSight{}, err
	}
	return decideFirstSight(a.Version, traffic, d.cfg.Clock.Now()), nil
}

// served is when one version served the alias within the look-back.
type served struct {
	version     string
	first, last time.Time // periods with invocations; zero when none
}

// decideFirstSight is the rule, a pure function of the traffic per version.
func decideFirstSight(live string, traffic []served, now time.Time) firstSight {
	var mine served
	var prev *served
	for i := range traffic {
		s := &traffic[i]
		if s.version == live {
			mine = *s
			continue
		}
		if s.last.IsZero() {
			continue
		}
		if prev == nil || s.last.After(prev.last) {
			prev = s
		}
	}
	if prev == nil {
		return firstSight{adopt: true, why: fmt.Sprintf("version %s alone served the alias over the last %s", live, firstSightLookback)}
	}
	since := now
	if !mine.first.IsZero() {
		since = mine.first
	}
	if !mine.first.IsZero() && mine.first.Before(prev.first) {
		// Live served before the other one began: the other was the deploy
		// and live is back (a rollback): adopt.
		return firstSight{adopt: true, why: fmt.Sprintf("version %s served the alias before version %s and is back", live, prev.version)}
	}
	return firstSight{knownGood: prev.version, since: since,
		why: fmt.Sprintf("version %s served the alias until %s; version %s since %s", prev.version,
			prev.last.UTC().Format(time.RFC3339), live, since.UTC().Format(time.RFC3339))}
}

// recentVersions lists the live version and the most recent published
// versions before it.
func (d *Detector) recentVersions(ctx context.Context, t config.Target, live string) ([]string, error) {
	client := d.cfg.Clients(t.Name)
	if client == nil {
		return nil, fmt.Errorf("list versions of %s: no Lambda client", t.Function)
	}
	var nums []int
	p := lambda.NewListVersionsByFunctionPaginator(client, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(t.Function)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", t.Function, err)
		}
		for _, v := range out.Versions {
			if n, err := strconv.Atoi(aws.ToString(v.Version)); err == nil {
				nums = append(nums, n)
			}
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(nums)))
	out := []string{live}
	for _, n := range nums {
		if v := strconv.Itoa(n); v != live && len(out) < firstSightVersions {
			out = append(out, v)
		}
	}
	return out, nil
}

// trafficByVersion reads Invocations per executed version through the
// alias over the look-back, in one GetMetricData call.
func (d *Detector) trafficByVersion(ctx context.Context, cw *cloudwatch.Client, t config.Target, versions []string) ([]served, error) {
	now := d.cfg.Clock.Now()
	end := floorTime(now, firstSightPeriod)
	start := end.Add(-firstSightLookback)
	fn := FunctionName(t.Function)
	qs := make([]types.MetricDataQuery, 0, len(versions))
	for i, v := range versions {
		qs = append(qs, types.MetricDataQuery{Id: aws.String("v" + strconv.Itoa(i)), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String(lambdaNamespace), MetricName: aws.String("Invocations"), Dimensions: []types.Dimension{
				{Name: aws.String("FunctionName"), Value: aws.String(fn)},
				{Name: aws.String("Resource"), Value: aws.String(fn + ":" + t.Alias)},
				{Name: aws.String("ExecutedVersion"), Value: aws.String(v)},
			}},
			Period: aws.Int32(int32(firstSightPeriod / time.Second)), Stat: aws.String("Sum"),
		}})
	}
	out := make([]served, len(versions))
	for i, v := range versions {
		out[i].version = v
	}
	p := cloudwatch.NewGetMetricDataPaginator(cw, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start), EndTime: aws.Time(end), MetricDataQueries: qs})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read invocations per version of %s: %w", t.Name, err)
		}
		for _, r := range page.MetricDataResults {
			i, err := strconv.Atoi(aws.ToString(r.Id)[1:])
			if err != nil || i >= len(out) {
				continue
			}
			for j, ts := range r.Timestamps {
				if j >= len(r.Values) || r.Values[j] <= 0 {
					continue
				}
				if out[i].first.IsZero() || ts.Before(out[i].first) {
					out[i].first = ts
				}
				if ts.After(out[i].last) {
					out[i].last = ts
				}
			}
		}
	}
	return out, nil
}
