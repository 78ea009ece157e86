package watcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/watch"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// SourceCloudWatch is Sample.Source of metric samples.
const SourceCloudWatch = "cloudwatch"

// MetricReaderConfig configures a MetricReader.
type MetricReaderConfig struct {
	// Clients returns the CloudWatch client for a target (by name). Targets
	// sharing a client share GetMetricData calls.
	Clients func(target string) *cloudwatch.Client
	// LambdaClients, when set, returns the Lambda client for a target
	// (by name): the concurrency limit a throttles rule's capacity reads
	// (concurrency.go). Nil: no concurrency's use is read.
	LambdaClients func(target string) *lambda.Client
	Clock         clockwork.Clock
	Logger        *zap.Logger
	Metrics       *Metrics
	// Concurrency bounds GetMetricData calls in flight; default 4.
	Concurrency int
	// BackoffBase and BackoffMax shape the wait after failed cycles
	// (watch.ReadBackoff). Defaults watch.ReadBackoffBase and
	// watch.ReadBackoffMax (15s and 10m).
	BackoffBase, BackoffMax time.Duration
	// MaxDatapoints per GetMetricData page; 0 = the service default. Tests
	// set it low to exercise NextToken.
	MaxDatapoints int32
}

// MetricReader reads CloudWatch for every active watch together, in as few
// GetMetricData calls as the 500-query limit allows.
type MetricReader struct {
	cfg MetricReaderConfig

	mu      sync.Mutex
	plans   map[planKey]*watchPlan
	backoff map[*cloudwatch.Client]*RetryDecision
	lastOK  map[*cloudwatch.Client]time.Time // the last cycle whose calls all succeeded, per endpoint
	lastRun time.Time                        // minute of the last cycle
	pools   map[string]poolRead              // per watch: the account's unreserved concurrency its cycles read the use of (concurrency.go)
}

// readState is how far one CloudWatch endpoint's reads got: the periods
// an outage hid are read once it ends (watch.ReadStart). It is behind
// while a backoff is recorded: every cycle since lastOK failed or was
// skipped.
type readState struct {
	lastOK time.Time
	behind bool
}

// RetryDecision is the reader's decision after failed calls to one
// CloudWatch endpoint: no calls before NotBefore.
type RetryDecision struct {
	Failures  int       // consecutive failed cycles
	NotBefore time.Time // next attempt
	Reason    string    // the last error
}

// CycleStats says what one cycle did.
type CycleStats struct {
	Watches int
	Queries int // queries planned (and sent, unless skipped)
	Calls   int // GetMetricData requests sent, pages included
	Errors  int // calls that failed
	Skipped int // queries not sent because of a backoff
	// RetryAt is the earliest backoff still in force after this cycle (zero if none).
	RetryAt time.Time
}

// NewMetricReader builds a MetricReader; Clients is required.
func NewMetricReader(cfg MetricReaderConfig) (*MetricReader, error) {
	if cfg.Clients == nil {
		return nil, errors.New("watcher: metric reader needs Clients")
	}
	commonDefaults(&cfg.Clock, &cfg.Logger, &cfg.Metrics)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = watch.ReadBackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = watch.ReadBackoffMax
	}
	return &MetricReader{cfg: cfg, plans: map[planKey]*watchPlan{}, backoff: map[*cloudwatch.Client]*RetryDecision{},
		lastOK: map[*cloudwatch.Client]time.Time{}, pools: map[string]poolRead{}}, nil
}

// Due reports whether a minute has completed since the last Cycle: the
// daemon ticks often and runs a cycle when Due (periods are whole minutes).
func (r *MetricReader) Due(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return floorTime(now, time.Minute).After(r.lastRun)
}

// group is the watches read over one window through one client.
type group struct {
	client     *cloudwatch.Client
	start, end time.Time
	idx        []int
}

type groupKey struct {
	client     *cloudwatch.Client
	start, end int64
}

// Cycle reads the last MetricLag complete periods of every watch and
// returns their samples: one per (watch, metric, version, period), ok with
// the value or no_data, or source_error when the read failed. Periods
// before the watch's detection period are not reported.
func (r *MetricReader) Cycle(ctx context.Context, watches []ActiveWatch) ([]sample.Sample, CycleStats) {
	now := r.cfg.Clock.Now()
	r.mu.Lock()
	r.lastRun = floorTime(now, time.Minute)
	r.mu.Unlock()
	plans := r.planAll(watches, now)
	reads := r.readStates()
	groups := map[groupKey]*group{}
	var order []*group
	for i, aw := range watches {
		period := targetPeriod(aw.Target)
		end := floorTime(now, period)
		c := r.cfg.Clients(aw.Target.Name)
		st := reads[c]
		start := watch.ReadStart(end, st.lastOK, period, targetLag(aw.Target), st.behind)
		k := groupKey{c, start.Unix(), end.Unix()}
		g := groups[k]
		if g == nil {
			g = &group{client: c, start: start, end: end}
			groups[k] = g
			order = append(order, g)
		}
		g.idx = append(g.idx, i)
	}
	stats := CycleStats{Watches: len(watches)}
	var out []sample.Sample
	for _, g := range order {
		calls := packCalls(g.start, g.end, g.idx, plans)
		for _, c := range calls {
			stats.Queries += len(c.refs)
		}
		if g.client == nil {
			for _, c := range calls {
				stats.Skipped += len(c.refs)
				out = r.errorSamples(out, c, watches, "no CloudWatch client for this target")
			}
			continue
		}
		if d, ok := r.inBackoff(g.client, now); ok {
			for _, c := range calls {
				stats.Skipped += len(c.refs)
				out = r.errorSamples(out, c, watches, fmt.Sprintf("backing off until %s after: %s", d.NotBefore.UTC().Format(time.RFC3339), d.Reason))
			}
			continue
		}
		res := r.runCalls(ctx, g.client, calls)
		failed := ""
		for i, c := range calls {
			stats.Calls += res[i].pages
			if res[i].err != nil {
				stats.Errors++
				failed = "GetMetricData: " + errReason(res[i].err)
				out = r.errorSamples(out, c, watches, failed)
				continue
			}
			out = r.decode(out, c, res[i].results, watches)
		}
		r.recordOutcome(g.client, now, failed)
	}
	r.keepReads(groups)
	r.cfg.Metrics.MetricQueries.Add(float64(stats.Queries))
	stats.RetryAt = r.earliestRetry(now)
	for i := range out {
		r.cfg.Metrics.sample(out[i])
	}
	return out, stats
}

// planAll returns each watch's (cached) plan and forgets plans of watches
// no longer active.
func (r *MetricReader) planAll(watches []ActiveWatch, now time.Time) []*watchPlan {
	r.mu.Lock()
	defer r.mu.Unlock()
	plans := make([]*watchPlan, len(watches))
	next := make(map[planKey]*watchPlan, len(watches))
	active := make(map[string]bool, len(watches))
	for i, aw := range watches {
		k := keyOf(aw, now)
		k.pool = r.pools[aw.Watch.ID].limit
		active[aw.Watch.ID] = true
		p := r.plans[k]
		if p == nil {
			pl := planWatch(aw, k.deploy, k.pool)
			p = &pl
		}
		next[k] = p
		plans[i] = p
	}
	r.plans = next
	r.prunePools(active, now)
	return plans
}

type callResult struct {
	results []types.MetricDataResult
	pages   int
	err     error
}

// runCalls sends the calls, at most Concurrency at once, following NextToken.
func (r *MetricReader) runCalls(ctx context.Context, client *cloudwatch.Client, calls []*call) []callResult {
	res := make([]callResult, len(calls))
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, c := range calls {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res[i] = r.fetch(ctx, client, c.start, c.end, c.queries)
		}()
	}
	wg.Wait()
	return res
}

func (r *MetricReader) fetch(ctx context.Context, client *cloudwatch.Client, start, end time.Time, qs []types.MetricDataQuery) callResult {
	in := &cloudwatch.GetMetricDataInput{
		MetricDataQueries: qs, StartTime: aws.Time(start), EndTime: aws.Time(end),
		ScanBy: types.ScanByTimestampAscending,
	}
	if r.cfg.MaxDatapoints > 0 {
		in.MaxDatapoints = aws.Int32(r.cfg.MaxDatapoints)
	}
	var cr callResult
	for {
		out, err := client.GetMetricData(ctx, in)
		cr.pages++
		if err != nil {
			cr.err = err
			return cr
		}
		cr.results = append(cr.results, out.MetricDataResults...)
		if aws.ToString(out.NextToken) == "" {
			return cr
		}
		in.NextToken = out.NextToken
	}
}

func (r *MetricReader) inBackoff(c *cloudwatch.Client, now time.Time) (RetryDecision, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.backoff[c]
	if d == nil || !now.Before(d.NotBefore) {
		return RetryDecision{}, false
	}
	return *d, true
}

// recordOutcome updates the retry decision for a client after a cycle.
func (r *MetricReader) recordOutcome(c *cloudwatch.Client, now time.Time, failure string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if failure == "" {
		delete(r.backoff, c)
		r.lastOK[c] = now
		return
	}
	d := r.backoff[c]
	if d == nil {
		d = &RetryDecision{}
		r.backoff[c] = d
	}
	d.Failures++
	d.Reason = failure
	d.NotBefore = now.Add(watch.ReadBackoff(d.Failures, r.cfg.BackoffBase, r.cfg.BackoffMax))
	r.cfg.Logger.Warn("CloudWatch read failed; backing off",
		zap.Int("failures", d.Failures), zap.Time("not_before", d.NotBefore), zap.String("reason", failure))
}

// readStates is every endpoint's read state.
func (r *MetricReader) readStates() map[*cloudwatch.Client]readState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[*cloudwatch.Client]readState, len(r.lastOK))
	for c, t := range r.lastOK {
		out[c] = readState{lastOK: t, behind: r.backoff[c] != nil}
	}
	return out
}

// keepReads forgets when endpoints no watch read through this cycle last
// read (a config reload replaces clients).
func (r *MetricReader) keepReads(groups map[groupKey]*group) {
	used := make(map[*cloudwatch.Client]bool, len(groups))
	for _, g := range groups {
		used[g.client] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.lastOK {
		if !used[c] {
			delete(r.lastOK, c)
		}
	}
}

func (r *MetricReader) earliestRetry(now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var at time.Time
	for _, d := range r.backoff {
		if d.NotBefore.After(now) && (at.IsZero() || d.NotBefore.Before(at)) {
			at = d.NotBefore
		}
	}
	return at
}

// Backoff returns the retry decision in force for target's client, if any.
func (r *MetricReader) Backoff(target string) (RetryDecision, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.backoff[r.cfg.Clients(target)]
	if d == nil {
		return RetryDecision{}, false
	}
	return *d, true
}

// Baseline reads the alias-level metrics of w over the target's baseline
// window before the deploy (complete periods only), once: the built-in
// Lambda metrics with the Duration percentiles the rules name, and the
// custom metric rules. BaselineFor also reads the trimmed counts the
// watch's latency tests need.
func (r *MetricReader) Baseline(ctx context.Context, w store.Watch, t config.Target) ([]sample.Sample, error) {
	out, _, err := r.BaselineFor(ctx, ActiveWatch{Watch: w, Target: t}, nil)
	return out, err
}

// BaselineStats are the Duration statistics a watch's baseline asks for:
// those the watch reads over the baseline window and in its cycles
// (policy.DurationStatsSince), and those of them its shape history needs
// (policy.HistoryStatsSince: the known-good side's trimmed counts).
type BaselineStats struct {
	Stats, History []string
}

// BaselineFor reads the pre-deploy baseline of a watch like Baseline, then
// asks statsFor which Duration statistics the watch needs given that
// baseline — the trimmed counts TC(X:) at thresholds derived from the
// known-good percentile — and reads those the first read did not cover,
// over the same window. It returns every baseline sample and the
// statistics, which the watch's cycles then read
// (ActiveWatch.DurationStats). A nil statsFor reads aw.DurationStats (or
// the rules' percentiles) only. A shape_window longer than the
// baseline_window adds the counts before the window, and the History
// statistics (shapeHistory).
func (r *MetricReader) BaselineFor(ctx context.Context, aw ActiveWatch, statsFor func([]sample.Sample) BaselineStats) ([]sample.Sample, []string, error) {
	t, w := aw.Target, aw.Watch
	period := targetPeriod(t)
	end := floorTime(w.DetectedAt, period)
	start := floorTime(end.Add(-t.BaselineWindow.Duration), period)
	if !start.Before(end) {
		start = end.Add(-period)
	}
	first := durationStats(aw)
	pl := planBaseline(aw)
	out, err := r.readRange(ctx, aw, &pl, start, end)
	if err != nil {
		return out, first, err
	}
	stats := first
	var hist []string
	if statsFor != nil {
		want := statsFor(out)
		stats, hist = want.Stats, want.History
		var extra []string
		for _, st := range stats {
			if !slices.Contains(first, st) {
				extra = append(extra, st)
			}
		}
		if len(extra) > 0 {
			more := watchPlan{series: builtinSeries(t, "", extra)[3:]} // the Duration statistics only
			ss, err := r.readRange(ctx, aw, &more, start, end)
			if out = append(out, ss...); err != nil {
				return out, stats, err
			}
		}
	}
	from := floorTime(end.Add(-t.ShapeWindow.Duration), period)
	out = append(out, r.shapeHistory(ctx, aw, from, start, hist)...)
	if start.Before(from) {
		from = start // no history: the baseline window alone
	}
	return append(out, r.readConcurrency(ctx, aw, from, end)...), stats, nil
}

// shapeHistory reads the alias's count metrics (Invocations, Errors,
// Throttles) and the Duration statistics stats (the latency rules'
// known-good trimmed counts, BaselineStats.History) over [from, to), the
// target's shape_window before the baseline window: the policy reads
// them for the shape of the counts' bursts and how they follow load. A
// failed read is logged and leaves the watch without history, which only
// costs its tests the history's narrowing: their split of α does not
// depend on it.
func (r *MetricReader) shapeHistory(ctx context.Context, aw ActiveWatch, from, to time.Time, stats []string) []sample.Sample {
	if !from.Before(to) {
		return nil
	}
	t := aw.Target
	pl := watchPlan{series: builtinSeries(t, "", stats)}
	out, err := r.readRange(ctx, aw, &pl, from, to)
	if err != nil {
		r.cfg.Logger.Warn("shape history read failed; the baseline window alone bounds the bursts of this watch's counts",
			zap.String("target", t.Name), zap.String("watch", aw.Watch.ID), zap.Error(err))
		return nil
	}
	return out
}

// Read reads one watch's metrics — alias level, and per version while the
// alias splits traffic, with its DurationStats — over the complete periods
// in [start, end), in as few calls as the query limit allows. The daemon
// uses it to read back the periods of a watch it adopts after a restart
// or a lease take-over.
func (r *MetricReader) Read(ctx context.Context, aw ActiveWatch, start, end time.Time) ([]sample.Sample, error) {
	period := targetPeriod(aw.Target)
	start, end = floorTime(start, period), floorTime(end, period)
	if !start.Before(end) {
		return nil, nil
	}
	// The deploy's period in the range: the new version's own counts too,
	// as the cycles that covered it read them.
	d := floorTime(aw.Watch.DetectedAt, period)
	r.mu.Lock()
	pool := r.pools[aw.Watch.ID].limit
	r.mu.Unlock()
	pl := planWatch(aw, !d.Before(start) && d.Before(end), pool)
	return r.readRange(ctx, aw, &pl, start, end)
}

// readRange reads one watch's plan over [start, end) in as few calls as
// the query limit allows.
func (r *MetricReader) readRange(ctx context.Context, aw ActiveWatch, pl *watchPlan, start, end time.Time) ([]sample.Sample, error) {
	t, w := aw.Target, aw.Watch
	client := r.cfg.Clients(t.Name)
	if client == nil {
		return nil, fmt.Errorf("read %s (watch %s): no CloudWatch client", t.Name, w.ID)
	}
	one := []ActiveWatch{aw}
	var out []sample.Sample
	for _, c := range packCalls(start, end, []int{0}, []*watchPlan{pl}) {
		res := r.fetch(ctx, client, start, end, c.queries)
		if res.err != nil {
			return nil, fmt.Errorf("read %s (watch %s) %s..%s: %w", t.Name, w.ID, start.Format(time.RFC3339), end.Format(time.RFC3339), res.err)
		}
		out = r.decodeFrom(out, c, res.results, one, start)
	}
	return out, nil
}
