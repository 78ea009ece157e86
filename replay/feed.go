package replay

import (
	"slices"
	"strings"
	"time"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/sample"
)

// metricFeed answers the daemon's metric cycles from a trace: every
// delivery of every period, and the series the watcher would query.
type metricFeed struct {
	period     time.Duration
	first      time.Time // the watch's detection period: cycles report nothing before it
	series     []seriesKey
	deliveries map[seriesKey]map[time.Time][]delivery // by series and period start
	times      []time.Time                            // every delivery instant, sorted
}

type seriesKey struct{ metric, version string }

type delivery struct {
	at time.Time
	s  sample.Sample
}

// newMetricFeed prepares the series the watcher queries for a watch: every
// metric the policy reads, per version during a split plus the alias;
// custom metrics ("rule:…") at alias level only.
func newMetricFeed(p *policy.Policy, versions []string, detected time.Time) *metricFeed {
	f := &metricFeed{period: p.Period(), first: detected.Truncate(p.Period()), deliveries: map[seriesKey]map[time.Time][]delivery{}}
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

// add records one delivery of a period's value.
func (f *metricFeed) add(s sample.Sample, at time.Time) {
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
	byPeriod[t] = append(byPeriod[t], delivery{at: at, s: s}) // records arrive in delivery order
	f.times = append(f.times, at)
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
func (f *metricFeed) cycle(now time.Time, lag int) []sample.Sample {
	end := now.Truncate(f.period)
	start := end.Add(-time.Duration(lag) * f.period)
	if f.first.After(start) {
		start = f.first
	}
	var out []sample.Sample
	for _, k := range f.series {
		for p := start; p.Before(end); p = p.Add(f.period) {
			s, ok := f.latest(k, p, now)
			if !ok {
				s = sample.Sample{Kind: sample.KindMetric, Source: sample.SourceCloudWatch, Metric: k.metric,
					Version: k.version, Time: p, Period: f.period, Outcome: sample.OutcomeNoData}
			}
			out = append(out, s)
		}
	}
	return out
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
