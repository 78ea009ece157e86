package watch

import (
	"time"

	"github.com/canaryd/canaryd/sample"
)

// When the daemon's CloudWatch cycle reads (replay reads on the same
// schedule). A period is read MetricDelay after it ends; Lambda's
// datapoints are usually there by then, but CloudWatch may deliver a
// period seconds later. When the newest period of a watch with traffic
// came back without its invocations, the cycle reads again LateRead later,
// at most LateReads times, instead of leaving the period to the next
// regular read a whole period later (the periods metric_lag covers are
// re-read every cycle anyway). A function without traffic costs no extra
// read after its first period: the period before must have had
// invocations (NewestLate).
const (
	MetricDelay = 5 * time.Second
	LateRead    = 10 * time.Second
	LateReads   = 2
)

// The daemon's metric reader waits ReadBackoff after failed cycles, and
// replay waits as long. One failed cycle (a throttled call the SDK's
// retries did not save) is tried again ReadBackoffBase later, not a period
// later, which had cost a hard failure its deadline; a failure that
// persists backs off to ReadBackoffMax.
const (
	ReadBackoffBase = 15 * time.Second
	ReadBackoffMax  = 10 * time.Minute
)

// ReadBackoff is the wait after the failures-th failed cycle in a row:
// base·2^(failures-1), at most max.
func ReadBackoff(failures int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// CatchUpPeriods bounds how far back a read goes after failed or skipped
// cycles (ReadStart).
const CatchUpPeriods = 60

// ReadStart is the first period a metric read at the period boundary end
// asks for: the last lag periods, or, when the cycles since the last one
// that succeeded (at lastOK) failed or were skipped (behind: a CloudWatch
// outage, throttling and the reader's backoff of up to 10 minutes), every
// period since that one's window began, at most CatchUpPeriods back. The
// periods an outage hid are read once it ends instead of being lost:
// their evidence still counts, and a good deploy's bake is not left short
// of data.
func ReadStart(end, lastOK time.Time, period time.Duration, lag int, behind bool) time.Time {
	start := end.Add(-time.Duration(lag) * period)
	if !behind || lastOK.IsZero() {
		return start
	}
	from := lastOK.Truncate(period).Add(-time.Duration(lag) * period)
	if limit := end.Add(-CatchUpPeriods * period); from.Before(limit) {
		from = limit
	}
	if from.Before(start) {
		return from
	}
	return start
}

// NextMetricRead is when the cycle after a read at now reads: LateRead
// later when the newest period was late (NewestLate) and the extra reads
// of this period are not spent, else MetricDelay after the next period
// boundary.
func NextMetricRead(now time.Time, period time.Duration, newestLate bool) time.Time {
	boundary := now.Truncate(period)
	if newestLate && now.Before(boundary.Add(MetricDelay+LateReads*LateRead)) {
		return now.Add(LateRead)
	}
	return boundary.Add(period + MetricDelay)
}

// NewestLate reports whether a read at `at` found the newest complete
// period's Invocations missing (no_data) for a series — a target and
// version — whose period before had invocations (or came back empty
// after one that had: a CloudWatch gap), or was not read at all:
// the first period of a watch (the one the deploy is in) has the
// baseline before it, not a period of this read, and is the period a hard
// failure shows in first, so it is read again rather than a whole period
// later. An idle function thus costs at most LateReads extra reads per
// deploy.
func NewestLate(samples []sample.Sample, at time.Time, period time.Duration) bool {
	newest := at.Truncate(period).Add(-period)
	type series struct{ target, version string }
	busy, seen, gap, busyBefore := map[series]bool{}, map[series]bool{}, map[series]bool{}, map[series]bool{}
	for i := range samples {
		s := &samples[i]
		if s.Kind != sample.KindMetric || s.Metric != "Invocations" {
			continue
		}
		k := series{s.Target, s.Version}
		switch {
		case s.Time.Equal(newest.Add(-period)):
			seen[k] = true
			busy[k] = busy[k] || (s.Outcome == sample.OutcomeOK && s.Value > 0)
			gap[k] = s.Outcome == sample.OutcomeNoData
		case s.Time.Equal(newest.Add(-2 * period)):
			busyBefore[k] = s.Outcome == sample.OutcomeOK && s.Value > 0
		}
	}
	for k := range gap {
		// The period before came back empty but the one before that had
		// traffic: a CloudWatch gap in a busy function as likely as an
		// idle minute, and a gap must not delay the next period a whole
		// cycle.
		if gap[k] && busyBefore[k] {
			busy[k] = true
		}
	}
	for i := range samples {
		s := &samples[i]
		if s.Kind == sample.KindMetric && s.Metric == "Invocations" && s.Outcome == sample.OutcomeNoData &&
			s.Time.Equal(newest) {
			if k := (series{s.Target, s.Version}); busy[k] || !seen[k] {
				return true
			}
		}
	}
	return false
}

// ReadsNewVersion reports whether a metric read at now of a watch whose
// alias does not split traffic also reads the new version's own series
// (Lambda's ExecutedVersion dimension): while the period the deploy is in
// is among the lag periods a read covers. That period's alias-level counts
// are partly the known-good's, from before the deploy; the new version's
// own are its evidence undiluted, which is what a hard failure or a 10x
// error rate shows in first. Later periods are the new version's alone at
// alias level too, so reading both would only double the queries.
func ReadsNewVersion(detected, now time.Time, period time.Duration, lag int) bool {
	return !now.Truncate(period).After(detected.Truncate(period).Add(time.Duration(lag) * period))
}
