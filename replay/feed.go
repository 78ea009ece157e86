package replay

import (
	"slices"
	"strings"
	"time"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/watch"
)

// metricFeed answers the daemon's metric cycles from a trace: every
// delivery of every period, and the series the watcher would query.
type metricFeed struct {
	period     time.Duration
	first      time.Time // the watch's detection period: cycles report nothing before it
	detected   time.Time
	newVersion string // without a split: the version whose own series the first cycles read (watch.ReadsNewVersion)
	series     []seriesKey
	deliveries map[seriesKey]map[time.Time][]delivery // by series and period start
	times      []time.Time                            // every delivery instant, sorted
	failures   []time.Time                            // delivery instants of source_error records, sorted
	answers    []answer                               // recorded reads that answered after they began, by read instant

	// The watcher's read backoff (watcher.MetricReader, default settings):
	// after a failed cycle no call before notBefore, base·2^(n-1) capped.
	lastCycle time.Time
	failed    int
	notBefore time.Time
	lastOK    time.Time // the last cycle that read (watch.ReadStart; behind while failed > 0)
}

type seriesKey struct{ metric, version string }

type delivery struct {
	at time.Time
	s  sample.Sample
}

// answer is when a recorded read that began at at answered (a record's
// "answered").
type answer struct{ at, answered time.Time }

// newMetricFeed prepares the series the watcher queries for a watch: every
// metric the policy reads, per version during a split plus the alias;
// custom metrics ("rule:…") at alias level only.
//
// Without a split (newVersion set) the series are the alias's, and the new
// version's own while watch.ReadsNewVersion says the watcher reads them; a
// trace's other per-version series are not read.
func newMetricFeed(p *policy.Policy, versions []string, detected time.Time, newVersion string) *metricFeed {
	f := &metricFeed{period: p.Period(), first: detected.Truncate(p.Period()), detected: detected, newVersion: newVersion,
		deliveries: map[seriesKey]map[time.Time][]delivery{}}
	for _, m := range p.Metrics() {
		for _, v := range versions {
			if strings.HasPrefix(m, "rule:") && v != "" {
				continue
			}
			f.series = append(f.series, seriesKey{m, v})
		}
	}
	return f
}

// add records one delivery of a period's value, read at at and answered
// then or (a daemon's recorded read) at answered.
func (f *metricFeed) add(s sample.Sample, at, answered time.Time) {
	if answered.After(at) {
		f.answers = append(f.answers, answer{at, answered})
	}
	s.Source = sample.SourceCloudWatch
	if s.Period == 0 {
		s.Period = f.period
	}
	k := seriesKey{s.Metric, s.Version}
	if !slices.Contains(f.series, k) {
		f.series = append(f.series, k) // traces may carry more than the rules read
	}
	byPeriod := f.deliveries[k]
	if byPeriod == nil {
		byPeriod = map[time.Time][]delivery{}
		f.deliveries[k] = byPeriod
	}
	t := s.Time.UTC()
	if s.Outcome == sample.OutcomeSourceError {
		f.failures = append(f.failures, at)
		f.times = append(f.times, at)
		return
	}
	byPeriod[t] = append(byPeriod[t], delivery{at: at, s: s}) // records arrive in delivery order
	f.times = append(f.times, at)
}

// answeredBy is when the reads recorded as begun after from and by to
// answered, the latest of them, if after to (zero otherwise): a cycle at
// to that stands for them gives its samples to the watch only then.
func (f *metricFeed) answeredBy(from, to time.Time) time.Time {
	// answers are in delivery order (Run sorts the records by it).
	i, _ := slices.BinarySearchFunc(f.answers, from, func(a answer, t time.Time) int { return a.at.Compare(t) })
	var last time.Time
	for ; i < len(f.answers) && !f.answers[i].at.After(to); i++ {
		if a := f.answers[i]; a.at.After(from) && a.answered.After(last) {
			last = a.answered
		}
	}
	if !last.After(to) {
		return time.Time{}
	}
	return last
}

// lastDelivery is the latest delivery at or before now (zero if none).
func (f *metricFeed) lastDelivery(now time.Time) time.Time {
	i, _ := slices.BinarySearchFunc(f.times, now, func(a, b time.Time) int { return a.Compare(b) })
	for i < len(f.times) && !f.times[i].After(now) {
		i++
	}
	if i == 0 {
		return time.Time{}
	}
	return f.times[i-1]
}

// nextDelivery is the first delivery after now (zero if none).
func (f *metricFeed) nextDelivery(now time.Time) time.Time {
	i, _ := slices.BinarySearchFunc(f.times, now, func(a, b time.Time) int { return a.Compare(b) })
	for i < len(f.times) && !f.times[i].After(now) {
		i++
	}
	if i == len(f.times) {
		return time.Time{}
	}
	return f.times[i]
}

// cycle is what a metric cycle at now reads: for each series, the last
// lag complete periods from the detection period on, each as the latest
// delivery by now, or no_data when nothing was delivered yet.
//
// A source_error record in a trace says that reading CloudWatch failed: the
// first cycle at or after its delivery fails as a whole, as a failed
// GetMetricData call does, and the cycles after it back off as the
// watcher's reader does. Like the watcher, a failed or skipped cycle
// reports a source_error for the newest period of each series only; the
// older periods keep what earlier cycles read.
func (f *metricFeed) cycle(now time.Time, lag int) []sample.Sample {
	end := now.Truncate(f.period)
	start := watch.ReadStart(end, f.lastOK, f.period, lag, f.failed > 0)
	if f.first.After(start) {
		start = f.first
	}
	reason := ""
	switch {
	case now.Before(f.notBefore):
		reason = "backing off after: GetMetricData failed (recorded)"
	case f.failedSince(f.lastCycle, now):
		reason = "GetMetricData failed (recorded)"
		f.failed++
		f.notBefore = now.Add(watch.ReadBackoff(f.failed, watch.ReadBackoffBase, watch.ReadBackoffMax))
	default:
		f.failed, f.notBefore = 0, time.Time{}
	}
	f.lastCycle = now
	if reason == "" {
		f.lastOK = now
	}
	var out []sample.Sample
	own := f.newVersion != "" && watch.ReadsNewVersion(f.detected, now, f.period, lag)
	for _, k := range f.series {
		if f.newVersion != "" && k.version != "" && (k.version != f.newVersion || !own) {
			continue
		}
		if reason != "" {
			out = append(out, sample.Sample{Kind: sample.KindMetric, Source: sample.SourceCloudWatch, Metric: k.metric,
				Version: k.version, Time: end.Add(-f.period), Period: f.period, Outcome: sample.OutcomeSourceError, Reason: reason})
			continue
		}
		for p := start; p.Before(end); p = p.Add(f.period) {
			s, ok := f.latest(k, p, now)
			switch {
			case !ok:
				s = sample.Sample{Kind: sample.KindMetric, Source: sample.SourceCloudWatch, Metric: k.metric,
					Version: k.version, Time: p, Period: f.period, Outcome: sample.OutcomeNoData}
			}
			out = append(out, s)
		}
	}
	return out
}

// failedSince reports whether a source_error was delivered in (from, to].
func (f *metricFeed) failedSince(from, to time.Time) bool {
	for _, at := range f.failures {
		if at.After(from) && !at.After(to) {
			return true
		}
	}
	return false
}

func (f *metricFeed) latest(k seriesKey, period, now time.Time) (sample.Sample, bool) {
	ds := f.deliveries[k][period]
	for i := len(ds) - 1; i >= 0; i-- {
		if !ds[i].at.After(now) {
			return ds[i].s, true
		}
	}
	return sample.Sample{}, false
}
