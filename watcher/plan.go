package watcher

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
)

// MaxQueriesPerCall is GetMetricData's limit on queries in one request.
const MaxQueriesPerCall = 500

const lambdaNamespace = "AWS/Lambda"

// ActiveWatch is a watch under observation together with its target, whose
// defaults config.Load has applied (the watcher trusts them).
type ActiveWatch struct {
	Watch  store.Watch
	Target config.Target
	// DurationStats are the statistics of Lambda's Duration metric to read
	// for this watch: policy.DurationStats of its baseline, e.g. "p99" and
	// "TC(412:)" (the invocations slower than 412 ms). Their samples have
	// Metric "Duration." + the statistic. Nil: the percentile each latency
	// rule names (p99 when no rule names one).
	DurationStats []string
}

// series is one query of a watch's plan. hidden queries feed an expression
// and produce no samples.
type series struct {
	metric  string // Sample.Metric
	version string // Sample.Version
	hidden  bool
	stat    *types.MetricStat
	expr    []exprPart // metric-math template over block-local indexes
	period  *int32     // expressions: the target's period
	scale   float64    // the samples' values are the datapoints over this (0: as read)
}

// exprPart is a literal piece of an expression or a reference to another
// query of the same watch (by index in the watch's series).
type exprPart struct {
	text string
	ref  int // -1 for literal text
}

// watchPlan is the cached list of queries for one watch.
type watchPlan struct {
	series []series
	atomic bool // has expressions: all its queries must share one call
}

// planKey says when a cached plan is still valid: the queries depend on
// the watch, whether the alias splits traffic, the known-good version and
// the Duration statistics the watch's baseline asks for.
type planKey struct {
	id, knownGood string
	split, deploy bool
	stats         string
	pool          int // the account's unreserved concurrency the watch's cycles read the use of (0: none; concurrency.go)
}

// keyOf is the key of a watch's plan for a read at now.
func keyOf(aw ActiveWatch, now time.Time) planKey {
	split := len(aw.Watch.Weights) > 0
	return planKey{id: aw.Watch.ID, knownGood: aw.Watch.KnownGood, split: split,
		deploy: !split && watch.ReadsNewVersion(aw.Watch.DetectedAt, now, targetPeriod(aw.Target), targetLag(aw.Target)),
		stats:  strings.Join(aw.DurationStats, ",")}
}

func targetPeriod(t config.Target) time.Duration { return t.MetricPeriod.Duration }

func targetLag(t config.Target) int { return t.MetricLag }

// durationStats are the Duration statistics to read for a watch: its own
// list, or the percentiles the target's latency rules name (sorted), or
// p99 (metric-math expressions may refer to the duration).
func durationStats(aw ActiveWatch) []string {
	if len(aw.DurationStats) > 0 {
		return aw.DurationStats
	}
	var out []string
	for _, r := range aw.Target.Rules {
		if (r.Kind == config.RuleLatency || r.Kind == config.RuleCompareLatency) && !slices.Contains(out, r.Stat) {
			out = append(out, r.Stat)
		}
	}
	if len(out) == 0 {
		return []string{"p99"}
	}
	sort.Strings(out)
	return out
}

// FunctionName is the FunctionName dimension of a function given as a
// name, a full or partial ARN, with or without a qualifier.
func FunctionName(fn string) string {
	if i := strings.Index(fn, ":function:"); i >= 0 {
		fn = fn[i+len(":function:"):]
	}
	if i := strings.Index(fn, ":"); i >= 0 {
		fn = fn[:i] // a qualifier (alias or version)
	}
	return fn
}

// builtinSeries are the Lambda metrics of one alias or executed version.
func builtinSeries(t config.Target, version string, stats []string) []series {
	fn := FunctionName(t.Function)
	dims := []types.Dimension{
		{Name: aws.String("FunctionName"), Value: aws.String(fn)},
		{Name: aws.String("Resource"), Value: aws.String(fn + ":" + t.Alias)},
	}
	if version != "" {
		dims = append(dims, types.Dimension{Name: aws.String("ExecutedVersion"), Value: aws.String(version)})
	}
	period := aws.Int32(int32(targetPeriod(t) / time.Second))
	mk := func(metric, name, stat string) series {
		return series{metric: metric, version: version, stat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String(lambdaNamespace), MetricName: aws.String(name), Dimensions: dims},
			Period: period, Stat: aws.String(stat),
		}}
	}
	out := []series{mk("Invocations", "Invocations", "Sum"), mk("Errors", "Errors", "Sum"), mk("Throttles", "Throttles", "Sum")}
	for _, st := range stats {
		out = append(out, mk("Duration."+st, "Duration", st))
	}
	return out
}

// planWatch lists the queries of one watch: the alias's built-in metrics,
// per executed version while traffic is split, then custom metric rules.
// deploy adds the new version's own built-in metrics to an alias that does
// not split: the reads that cover the deploy's period (watch.ReadsNewVersion).
// pool, the account's unreserved concurrency the watch's baseline read
// (0: none), adds the pool's use (concurrency.go).
func planWatch(aw ActiveWatch, deploy bool, pool int) watchPlan {
	t, w := aw.Target, aw.Watch
	stats := durationStats(aw)
	p := watchPlan{series: builtinSeries(t, "", stats)}
	split := len(w.Weights) > 0
	if split || deploy {
		p.series = append(p.series, builtinSeries(t, w.NewVersion, stats)...)
	}
	if split {
		if w.KnownGood != "" && w.KnownGood != w.NewVersion {
			p.series = append(p.series, builtinSeries(t, w.KnownGood, stats)...)
		}
	}
	for _, r := range t.Rules {
		if r.Kind == config.RuleMetric {
			p.addRule(t, w.NewVersion, w.NewVersion, r)
		}
	}
	p.series = append(p.series, poolSeries(t, pool)...)
	return p
}

// planBaseline lists the queries of a watch's pre-deploy baseline: the
// alias's built-in metrics and the custom metric rules, a dimension
// ${version} naming the known-good version, every sample alias-level
// (Version "": the baseline is the known-good's, whatever the alias did).
func planBaseline(aw ActiveWatch) watchPlan {
	t, w := aw.Target, aw.Watch
	p := watchPlan{series: builtinSeries(t, "", durationStats(aw))}
	for _, r := range t.Rules {
		if r.Kind == config.RuleMetric {
			p.addRule(t, w.KnownGood, "", r)
		}
	}
	return p
}

// builtinRefs are the names an expression may use for the watch's own
// alias-level metrics (indexes into the plan's first series).
var builtinRefs = map[string]int{"invocations": 0, "errors": 1, "throttles": 2, "duration": 3}

var identRE = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// addRule plans a custom metric rule: its metric (${version} in its
// dimensions expands to version) and its expression. A metric whose
// dimensions name the version is that version's: its samples carry
// stamp (the new version while watching, "" for a baseline); the others
// are reported for the alias as a whole (Version "").
func (p *watchPlan) addRule(t config.Target, version, stamp string, r config.Rule) {
	own := -1
	perVersion := false
	for _, v := range r.Dimensions {
		perVersion = perVersion || strings.Contains(v, "${version}")
	}
	if !perVersion {
		stamp = ""
	}
	if r.MetricName != "" {
		dims := make([]types.Dimension, 0, len(r.Dimensions))
		names := make([]string, 0, len(r.Dimensions))
		for k := range r.Dimensions {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			dims = append(dims, types.Dimension{Name: aws.String(k), Value: aws.String(expandDim(r.Dimensions[k], t, version))})
		}
		own = len(p.series)
		p.series = append(p.series, series{metric: "rule:" + r.Name, version: stamp, hidden: r.Expression != "", stat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String(r.Namespace), MetricName: aws.String(r.MetricName), Dimensions: dims},
			Period: aws.Int32(int32(targetPeriod(t) / time.Second)), Stat: aws.String(r.Stat),
		}})
	}
	if r.Expression == "" {
		return
	}
	p.atomic = true
	p.series = append(p.series, series{metric: "rule:" + r.Name, version: stamp, expr: compileExpr(r.Expression, own),
		period: aws.Int32(int32(targetPeriod(t) / time.Second))})
}

// compileExpr turns an expression into a template: m1 (the rule's own
// metric) and the built-in names become references to this watch's queries.
func compileExpr(expr string, own int) []exprPart {
	var parts []exprPart
	last := 0
	for _, loc := range identRE.FindAllStringIndex(expr, -1) {
		name := expr[loc[0]:loc[1]]
		ref, ok := builtinRefs[name]
		if name == "m1" && own >= 0 {
			ref, ok = own, true
		}
		if !ok {
			continue
		}
		parts = append(parts, exprPart{text: expr[last:loc[0]], ref: -1}, exprPart{ref: ref})
		last = loc[1]
	}
	return append(parts, exprPart{text: expr[last:], ref: -1})
}

func expandDim(v string, t config.Target, version string) string {
	return strings.NewReplacer("${function}", FunctionName(t.Function), "${alias}", t.Alias, "${version}", version).Replace(v)
}

// queryRef maps a query id of one call back to what it is about.
type queryRef struct {
	watch int // index into the cycle's watches
	s     *series
}

// call is one planned GetMetricData request.
type call struct {
	start, end time.Time
	queries    []types.MetricDataQuery
	refs       []queryRef
}

var queryIDs = func() []string {
	ids := make([]string, MaxQueriesPerCall)
	for i := range ids {
		ids[i] = "q" + strconv.Itoa(i)
	}
	return ids
}()

// packCalls distributes the watches' queries over calls of at most
// MaxQueriesPerCall. Watches with expressions keep all their queries in
// one call (an expression can only see ids of its own request); the other
// queries fill every call to the limit, so without expressions the number
// of calls is exactly ceil(queries/500).
func packCalls(start, end time.Time, idx []int, plans []*watchPlan) []*call {
	var calls []*call
	cur := func(room int) *call {
		if len(calls) == 0 || len(calls[len(calls)-1].refs)+room > MaxQueriesPerCall {
			calls = append(calls, &call{start: start, end: end})
		}
		return calls[len(calls)-1]
	}
	for _, i := range idx {
		if p := plans[i]; p.atomic {
			c := cur(len(p.series))
			base := len(c.refs)
			for j := range p.series {
				c.add(i, &p.series[j], base)
			}
		}
	}
	for _, i := range idx {
		if p := plans[i]; !p.atomic {
			for j := range p.series {
				cur(1).add(i, &p.series[j], 0)
			}
		}
	}
	return calls
}

func (c *call) add(watch int, s *series, base int) {
	n := len(c.refs)
	q := types.MetricDataQuery{Id: &queryIDs[n], ReturnData: &returnTrue}
	if s.hidden {
		q.ReturnData = &returnFalse
	}
	if s.stat != nil {
		q.MetricStat = s.stat
	} else {
		var b strings.Builder
		for _, part := range s.expr {
			if part.ref < 0 {
				b.WriteString(part.text)
			} else {
				b.WriteString(queryIDs[base+part.ref])
			}
		}
		q.Expression = aws.String(b.String())
		q.Period = s.period
	}
	c.queries = append(c.queries, q)
	c.refs = append(c.refs, queryRef{watch: watch, s: s})
}

// Shared read-only pointers for query fields (no allocation per query).
var returnTrue, returnFalse = true, false

// floorTime aligns t down to a multiple of period counted from the Unix
// epoch, as CloudWatch aligns its periods, and returns it in UTC.
func floorTime(t time.Time, period time.Duration) time.Time {
	p := int64(period / time.Second)
	if p <= 0 {
		return t.UTC()
	}
	s := t.Unix()
	m := s % p
	if m < 0 {
		m += p
	}
	return time.Unix(s-m, 0).UTC()
}
