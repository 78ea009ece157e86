package quality

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// Options says how a simulated scenario becomes a replay trace.
type Options struct {
	// ProbeName is the probe the health results belong to: the target's
	// probe that its probe rule reads (default "health").
	ProbeName string
	// ProbeBaseline writes the probe results from before the deploy as
	// {"type":"baseline","kind":"probe"} records (the known-good version's
	// health); without it they are left out.
	ProbeBaseline bool
	// Stats are Duration statistics to write besides p99 (which the
	// static alarm reads): the rules' stat fields (StatsFromRules).
	Stats []string
	// DurationStats, when set, adds statistics chosen from the baseline
	// window's samples and the deploy record's baseline_since (zero:
	// none), e.g. (*policy.Policy).DurationStatsSince ["p99",
	// "TC(412:)"]. It sees the baseline with Stats and p99.
	DurationStats func(baseline []sample.Sample, since time.Time) []string
	// HistoryStats, when set with DurationStats, chooses which of the
	// trimmed counts the shape history carries (e.g.
	// (*policy.Policy).HistoryStatsSince, as the watcher reads them:
	// ["TC(412:)"]); unset, it carries every trimmed count with absolute
	// bounds among the statistics.
	HistoryStats func(baseline []sample.Sample, since time.Time) []string
	// BaselinePeriods is how many periods before the deploy's minute the
	// trace holds (the target's baseline_window; 0 or more than the
	// simulation has: all of them).
	BaselinePeriods int
	// CustomMetrics are the Sample.Metric names ("rule:<name>") of the
	// target's custom metric rules. The scenarios do not model
	// application metrics: they are written as no_data (nothing
	// published), alias-level, as the watcher reads them.
	CustomMetrics []string
	// DeployPeriods, when the alias does not split, writes the new
	// version's own (ExecutedVersion) samples for this many periods from
	// the deploy's minute on, as the watcher reads them: for the deploy's
	// minute and the periods re-read with it (the target's metric_lag).
	DeployPeriods int
	// ShapePeriods, when more than BaselinePeriods (the target's
	// shape_window longer than its baseline_window), adds the shape
	// history: alias-level Invocations, Errors and Throttles, and the
	// trimmed counts with absolute bounds among the Duration statistics
	// (TC(412:); HistoryStats chooses), as {"type":"baseline"}
	// records for every period from ShapePeriods before the deploy's
	// minute up to the first the baseline records cover, before them in
	// the trace; no percentiles, probes or custom metrics. Periods the
	// simulation has are written from it, older ones drawn from the
	// known-good's model with a daily cycle (history.go,
	// history_latency.go). 0: none.
	ShapePeriods int
	// Concurrency writes each period's alias-level use of the concurrency
	// limit the function draws on (the share in use at its busiest,
	// sample.MetricConcurrencyUse for the reservation ConcurrencyCap
	// sets, else sample.MetricPoolUse for an account's default unreserved
	// 1,000) with its counts, the shape history's too, as the watcher
	// reads it for a throttles rule (putConcurrency).
	Concurrency bool
}

// Trace is a materialised scenario.
type Trace struct {
	Comments []string
	Records  []Record
	Stats    []string // the Duration statistics written
}

const srcErrReason = "GetMetricData: ThrottlingException: Rate exceeded"

// materialiser writes the records of one simulation.
type materialiser struct {
	s     *Sim
	o     Options
	stats []stat
	hist  []stat // the trimmed counts the shape history carries
	late  *rng
	end   time.Time // the horizon: nothing is delivered after it
	recs  []Record
}

// Materialise turns a simulation and its delivery plan into trace records.
func Materialise(s *Sim, dl []delivery, o Options) (*Trace, error) {
	if o.ProbeName == "" {
		o.ProbeName = "health"
	}
	names := union([]string{"p99"}, o.Stats)
	m := &materialiser{s: s, o: o, late: newRNG(s.Sc.Kind, s.Sc.Seed, "late"), end: s.Sc.Deploy.Add(s.Sc.Horizon)}
	if err := m.setStats(names, nil); err != nil {
		return nil, err
	}
	if o.DurationStats != nil {
		m.baseline(dl)
		base := make([]sample.Sample, len(m.recs))
		for i := range m.recs {
			base[i] = m.recs[i].S
		}
		names = union(names, o.DurationStats(base, s.Sc.baselineSince()))
		var hist []string
		if o.HistoryStats != nil {
			hist = o.HistoryStats(base, s.Sc.baselineSince())
		}
		if err := m.setStats(names, hist); err != nil {
			return nil, err
		}
		m.recs = m.recs[:0]
	}
	comments := describe(s.Sc)
	if line := m.history(dl); line != "" {
		comments = append(comments, line)
	}
	m.baseline(dl)
	nBase := len(m.recs)
	sc := s.Sc
	m.recs = append(m.recs, Record{Type: RecDeploy, Time: sc.Deploy, KnownGood: sc.Old.Name, NewVersion: sc.New.Name, Split: sc.Split,
		BaselineSince: sc.baselineSince()})
	for i := s.DeployIndex(); i < len(s.Periods); i++ {
		m.period(i, dl[i], i < s.DeployIndex()+o.DeployPeriods)
	}
	m.probes()
	m.recs = append(m.recs, Record{Type: RecTick, Time: m.end})
	post := m.recs[nBase+1:]
	slices.SortStableFunc(post, func(a, b Record) int { return a.Delivered().Compare(b.Delivered()) })
	return &Trace{Comments: comments, Records: m.recs, Stats: names}, nil
}

// setStats parses the Duration statistics the trace carries (names) and
// picks those of the shape history: the trimmed counts with absolute
// bounds among them, those named in hist when it is not nil
// (Options.HistoryStats).
func (m *materialiser) setStats(names, hist []string) error {
	m.stats, m.hist = m.stats[:0], m.hist[:0]
	for _, n := range names {
		st, err := parseStat(n)
		if err != nil {
			return fmt.Errorf("duration statistic: %w", err)
		}
		m.stats = append(m.stats, st)
		if st.isTrimmedCount() && (hist == nil || slices.Contains(hist, n)) {
			m.hist = append(m.hist, st)
		}
	}
	return nil
}

// baseline writes the alias-level periods before the deploy's minute and,
// with ProbeBaseline, the probe results before the deploy.
func (m *materialiser) baseline(dl []delivery) {
	first := m.baselineFirst()
	for i := first; i < m.s.DeployIndex(); i++ {
		if dl[i].Kind == deliverMissing {
			continue
		}
		p := &m.s.Periods[i]
		m.series(RecBaseline, p.Start, "", p.Alias(), sample.OutcomeOK, time.Time{})
	}
	if !m.o.ProbeBaseline {
		return
	}
	for _, pr := range m.s.Probes {
		if pr.At.Before(m.s.Sc.Deploy) && !pr.At.Before(m.s.Periods[first].Start) {
			m.recs = append(m.recs, m.probe(RecBaseline, pr))
		}
	}
}

// baselineFirst is the index of the first period the baseline records
// cover.
func (m *materialiser) baselineFirst() int {
	if n := m.o.BaselinePeriods; n > 0 && n < m.s.DeployIndex() {
		return m.s.DeployIndex() - n
	}
	return 0
}

// history writes the shape history (Options.ShapePeriods), oldest first:
// the periods before the simulated hour drawn by history(), then the
// simulated periods before the baseline's first, as their baseline
// records would be but counts only. It returns the trace header's line
// about it, "" without a history.
func (m *materialiser) history(dl []delivery) string {
	n, base := m.o.ShapePeriods, m.o.BaselinePeriods
	if base <= 0 {
		base = m.s.DeployIndex()
	}
	if n <= base {
		return ""
	}
	line := fmt.Sprintf("shape history: alias-level counts from %s (%d periods before the deploy's minute) to the baseline's first period",
		m.s.Periods[m.s.DeployIndex()].Start.Add(-time.Duration(n)*period).Format(time.RFC3339), n)
	if older := n - m.s.DeployIndex(); older > 0 {
		hist, h := history(m.s.Sc, m.s.First, older)
		xs := trimmedThresholds(m.hist)
		slow := slowCounts(m.s.Sc, h, hist, xs)
		m.recs = slices.Grow(m.recs, (3+len(m.hist))*len(hist))
		for i, p := range hist {
			if p.Missing {
				continue
			}
			put := m.putter(RecBaseline, p.Start, "", sample.OutcomeOK, time.Time{})
			putCounts(put, Agg{Inv: p.Inv, Err: p.Err, Thr: p.Thr})
			m.putConcurrency(put, p.Start, Agg{Inv: p.Inv})
			for _, st := range m.hist {
				put("Duration."+st.name, st.trimmedCount(xs, slow[i], p.Inv), p.Inv > 0)
			}
		}
		line += "; before the simulated hour " + h.describe()
	}
	first := m.baselineFirst()
	for i := max(m.s.DeployIndex()-n, 0); i < first; i++ {
		if dl[i].Kind != deliverMissing {
			p := &m.s.Periods[i]
			a := p.Alias()
			put := m.putter(RecBaseline, p.Start, "", sample.OutcomeOK, time.Time{})
			putCounts(put, a)
			m.putConcurrency(put, p.Start, a)
			for _, st := range m.hist {
				v, ok := st.eval(a.Dur)
				put("Duration."+st.name, v, ok)
			}
		}
	}
	return line
}

// period writes one period after the deploy's minute began, as delivered.
func (m *materialiser) period(i int, dl delivery, deploy bool) {
	p := &m.s.Periods[i]
	switch dl.Kind {
	case deliverMissing:
		return
	case deliverSrcErr:
		m.all(p, dl.First, sample.OutcomeSourceError, nil, deploy)
	case deliverPartial:
		m.all(p, dl.First, sample.OutcomeOK, func(a Agg) Agg { return thin(m.late, a, dl.Keep) }, deploy)
	}
	if !dl.Final.IsZero() {
		m.all(p, dl.Final, sample.OutcomeOK, nil, deploy)
	}
}

// all writes every series of a period delivered at at (nothing after the
// horizon), transformed by f when set; deploy adds the new version's own
// series to an alias that does not split (Options.DeployPeriods).
func (m *materialiser) all(p *Period, at time.Time, out sample.Outcome, f func(Agg) Agg, deploy bool) {
	if at.After(m.end) {
		return
	}
	id := func(a Agg) Agg { return a }
	if f == nil {
		f = id
	}
	m.series(RecSample, p.Start, "", f(p.Alias()), out, at)
	switch {
	case m.s.Sc.Split:
		m.series(RecSample, p.Start, m.s.Sc.Old.Name, f(p.Old), out, at)
		m.series(RecSample, p.Start, m.s.Sc.New.Name, f(p.New), out, at)
	case deploy:
		m.series(RecSample, p.Start, m.s.Sc.New.Name, f(p.New), out, at)
	}
}

// series writes the metrics of one version (or the alias, "") for one
// period: Invocations, Errors, Throttles, the Duration statistics and, for
// the alias, the custom metrics.
func (m *materialiser) series(typ string, start time.Time, version string, a Agg, out sample.Outcome, at time.Time) {
	put := m.putter(typ, start, version, out, at)
	putCounts(put, a)
	if version == "" {
		m.putConcurrency(put, start, a)
	}
	for _, st := range m.stats {
		v, ok := st.eval(a.Dur)
		put("Duration."+st.name, roundStat(st, v), ok)
	}
	if version == "" {
		for _, c := range m.o.CustomMetrics {
			put(c, 0, false)
		}
	}
}

func putCounts(put func(metric string, v float64, ok bool), a Agg) {
	put("Invocations", float64(a.Inv), a.Inv > 0)
	put("Errors", float64(a.Err), a.Inv > 0)
	put("Throttles", float64(a.Thr), a.Inv+a.Thr > 0)
}

// accountConcurrency is the concurrency limit of a scenario without a
// ConcurrencyCap: an account's default.
const accountConcurrency = 1000

// putConcurrency writes the alias-level use of the concurrency limit of
// a period starting at start whose invocations a served
// (Options.Concurrency): the peak concurrency of its invocations, of their
// own mean duration or else the known-good's, over the scenario's limit —
// ConcurrencyUse of the reservation ConcurrencyCap sets, or else PoolUse
// of the account's unreserved pool, all of it in use while another
// function exhausts it (PoolOut). Nothing without invocations (CloudWatch
// has no datapoint).
func (m *materialiser) putConcurrency(put func(metric string, v float64, ok bool), start time.Time, a Agg) {
	if !m.o.Concurrency || a.Inv <= 0 {
		return
	}
	sc := m.s.Sc
	kgMean := sc.Old.Latency.mean()
	mean := kgMean
	if len(a.Dur) > 0 {
		mean = sum(a.Dur) / float64(len(a.Dur))
	}
	metric, limit := sample.MetricPoolUse, float64(accountConcurrency)
	if c := sc.Traffic.ConcurrencyCap; c > 0 {
		metric, limit = sample.MetricConcurrencyUse, math.Ceil(envsNeeded(c, kgMean))
	}
	use := math.Ceil(envsNeeded(float64(a.Inv), mean)) / limit
	if sc.Traffic.poolOut(start.Sub(sc.Deploy)) > 0 {
		use = 1
	}
	put(metric, math.Round(min(use, 1)*1e4)/1e4, true)
}

// putter writes one metric of a period: its value when ok, else no_data
// (or the read error).
func (m *materialiser) putter(typ string, start time.Time, version string, out sample.Outcome, at time.Time) func(metric string, v float64, ok bool) {
	return func(metric string, v float64, ok bool) {
		s := sample.Sample{Kind: sample.KindMetric, Source: sourceCloudWatch, Metric: metric, Version: version,
			Time: start, Period: period, Outcome: out}
		switch {
		case out == sample.OutcomeSourceError:
			s.Reason = srcErrReason
		case ok:
			s.Value = v
		default:
			s.Outcome = sample.OutcomeNoData
		}
		m.recs = append(m.recs, Record{Type: typ, S: s, At: at})
	}
}

// roundStat rounds durations to 0.01 ms and percentages to 1e-4.
func roundStat(st stat, v float64) float64 {
	switch st.fn {
	case "count", "TC":
		return v
	case "PR":
		return math.Round(v*1e4) / 1e4
	}
	return math.Round(v*100) / 100
}

func (m *materialiser) probes() {
	for _, pr := range m.s.Probes {
		if !pr.At.Before(m.s.Sc.Deploy) && !pr.At.After(m.end) {
			m.recs = append(m.recs, m.probe(RecSample, pr))
		}
	}
}

func (m *materialiser) probe(typ string, pr ProbeResult) Record {
	s := sample.Sample{Kind: sample.KindProbe, Source: m.o.ProbeName, Time: pr.At, Outcome: sample.OutcomeOK,
		Status: 200, Latency: pr.Latency}
	if !pr.OK {
		s.Outcome, s.Status, s.Reason = sample.OutcomeFail, 503, "unexpected status 503"
	}
	return Record{Type: typ, S: s}
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// describe is the trace's header: what the scenario is and what the right
// decision is.
func describe(sc *Scenario) []string {
	spec, _ := Spec(sc.Kind)
	want := "no rollback (alert-only is fine)"
	if spec.Bad {
		want = "rollback within " + spec.Deadline.String()
	}
	o, n := &sc.Old, &sc.New
	drift := ""
	if sc.LatDrift != 0 {
		drift = fmt.Sprintf("; every version's latency %+.0f%% an hour", 100*sc.LatDrift)
	}
	out := []string{
		fmt.Sprintf("canaryd quality scenario %s seed %d (generated by quality/, see quality/README.md)", sc.Kind, sc.Seed),
		"about: " + spec.About,
		"right decision: " + want,
		fmt.Sprintf("deploy %s -> %s at %s, split %v (new share %.0f%%), horizon %s", o.Name, n.Name,
			sc.Deploy.Format(time.RFC3339Nano), sc.Split, 100*sc.Weight, sc.Horizon),
		fmt.Sprintf("traffic %.3g/min, slope %+.2f/h, %d spikes%s; errors %.3g%% -> %.3g%% (kappa %.3g), throttles %.3g%% -> %.3g%%",
			sc.Traffic.PerMinute, sc.Traffic.Slope, len(sc.Traffic.Spikes), limitNote(sc.Traffic.ConcurrencyCap)+poolNote(sc.Traffic.PoolOut)+rampNote(sc.Traffic.Ramp)+scaleNote(sc.ScaleOut), 100*o.ErrRate, 100*n.ErrRate, o.ErrKappa, 100*o.ThrRate, 100*n.ThrRate),
		fmt.Sprintf("steady p99 %.4g ms -> %.4g ms%s%s; cold starts %.0f%% (time constant %s), %.3gx slower; probe flake %.2g%%",
			o.Latency.steady().quantile(0.99), n.Latency.steady().quantile(0.99), latencyNote(o.Latency, n.Latency), drift, 100*n.Cold.Share, n.Cold.Tau.Round(time.Second),
			n.Cold.Factor, 100*sc.Probe.Flake),
	}
	if p := sc.Prev; p != nil {
		out = append(out, fmt.Sprintf("%s replaced a version failing %.3g%% at %s (seen serving alone at %s)", o.Name, 100*p.ErrRate, p.Until, p.Seen))
	}
	return out
}

// scaleNote names scale-out cold starts in a trace's header ("" without).
func scaleNote(so *ScaleOut) string {
	if so == nil {
		return ""
	}
	return fmt.Sprintf(", each environment started for a rise in demand serves a cold first invocation (idle ones kept %s)", so.KeepAlive.Round(time.Second))
}

// rampNote names a traffic ramp in a trace's header ("" without).
func rampNote(r *Ramp) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf(", a ramp of %.2gx an hour from %s to %s", math.Exp(r.PerHour), r.Start, r.End)
}

// limitNote names a concurrency limit in a trace's header ("" without).
func poolNote(outs []PoolOut) string {
	var b strings.Builder
	for _, o := range outs {
		fmt.Fprintf(&b, ", the account's unreserved concurrency exhausted by another function from %s for %s (%.0f%% of requests throttled)", o.Start, o.Len, 100*o.Share)
	}
	return b.String()
}

// latencyNote says how the new version's latency differs from the
// known-good's (drawP99's three ways), for the trace's header.
func latencyNote(o, n Latency) string {
	switch {
	case n == o:
		return ""
	case n.Median != o.Median:
		return fmt.Sprintf(" (all slower: median %.4g -> %.4g ms)", o.Median, n.Median)
	case n.Sigma != o.Sigma:
		return fmt.Sprintf(" (wider body and tail: sigma %.3g -> %.3g)", o.Sigma, n.Sigma)
	case n.SlowShare != o.SlowShare:
		return fmt.Sprintf(" (more requests on the slow path: %.3g%% -> %.3g%%)", 100*o.SlowShare, 100*n.SlowShare)
	}
	return ""
}

func limitNote(limit float64) string {
	if limit <= 0 {
		return ""
	}
	return fmt.Sprintf(", requests beyond %.3g/min throttled (concurrency limit)", limit)
}
