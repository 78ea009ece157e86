package watch

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"
)

func TestNextMetricRead(t *testing.T) {
	b := time.Date(2026, 3, 2, 12, 1, 0, 0, time.UTC) // a period boundary
	cases := []struct {
		now  time.Duration // after b
		late bool
		want time.Duration // after b
	}{
		{5 * time.Second, false, time.Minute + 5*time.Second},
		{5 * time.Second, true, 15 * time.Second},
		{15 * time.Second, true, 25 * time.Second},
		{25 * time.Second, true, time.Minute + 5*time.Second}, // two extra reads spent
		{40 * time.Second, true, time.Minute + 5*time.Second},
		{0, false, time.Minute + 5*time.Second},
	}
	for _, c := range cases {
		if got := NextMetricRead(b.Add(c.now), time.Minute, c.late).Sub(b); got != c.want {
			t.Errorf("read at +%s late=%v: next at +%s, want +%s", c.now, c.late, got, c.want)
		}
	}
}

func TestNewestLate(t *testing.T) {
	at := time.Date(2026, 3, 2, 12, 2, 5, 0, time.UTC)
	inv := func(target, ver string, min int, o sample.Outcome, v float64) sample.Sample {
		return sample.Sample{Kind: sample.KindMetric, Target: target, Version: ver, Metric: "Invocations", Outcome: o, Value: v,
			Time: time.Date(2026, 3, 2, 12, min, 0, 0, time.UTC), Period: time.Minute}
	}
	cases := []struct {
		name    string
		samples []sample.Sample
		want    bool
	}{
		{"newest delivered", []sample.Sample{inv("a", "", 0, sample.OutcomeOK, 10), inv("a", "", 1, sample.OutcomeOK, 12)}, false},
		{"newest missing after traffic", []sample.Sample{inv("a", "", 0, sample.OutcomeOK, 10), inv("a", "", 1, sample.OutcomeNoData, 0)}, true},
		{"idle function", []sample.Sample{inv("a", "", 0, sample.OutcomeNoData, 0), inv("a", "", 1, sample.OutcomeNoData, 0)}, false},
		{"another series had the traffic", []sample.Sample{inv("b", "", 0, sample.OutcomeOK, 10), inv("a", "", 0, sample.OutcomeNoData, 0), inv("a", "", 1, sample.OutcomeNoData, 0)}, false},
		// The watch's first period: the period before is the baseline's,
		// not in this read.
		{"first period of a watch", []sample.Sample{inv("a", "", 1, sample.OutcomeNoData, 0)}, true},
		{"first period of a watch, delivered", []sample.Sample{inv("a", "", 1, sample.OutcomeOK, 4)}, false},
		{"per version", []sample.Sample{inv("a", "7", 0, sample.OutcomeOK, 3), inv("a", "7", 1, sample.OutcomeNoData, 0)}, true},
		// A CloudWatch gap (the period before came back empty after one
		// with traffic) is not taken for an idle function.
		{"newest missing after a gap", []sample.Sample{inv("a", "", -1, sample.OutcomeOK, 10), inv("a", "", 0, sample.OutcomeNoData, 0),
			inv("a", "", 1, sample.OutcomeNoData, 0)}, true},
		{"idle for two periods", []sample.Sample{inv("a", "", -1, sample.OutcomeNoData, 0), inv("a", "", 0, sample.OutcomeNoData, 0),
			inv("a", "", 1, sample.OutcomeNoData, 0)}, false},
		{"source error is not late", []sample.Sample{inv("a", "", 0, sample.OutcomeOK, 10), inv("a", "", 1, sample.OutcomeSourceError, 0)}, false},
	}
	for _, c := range cases {
		if got := NewestLate(c.samples, at, time.Minute); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestReadStart(t *testing.T) {
	end := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	ago := func(m int) time.Time { return end.Add(-time.Duration(m) * time.Minute) }
	cases := []struct {
		name   string
		lastOK time.Time
		behind bool
		want   time.Time
	}{
		{"up to date: the last lag periods", ago(1).Add(5 * time.Second), false, ago(3)},
		{"never read", time.Time{}, true, ago(3)},
		{"behind: back to the last good read's window", ago(9).Add(5 * time.Second), true, ago(12)},
		{"behind one cycle: from the last good read's window", ago(1).Add(5 * time.Second), true, ago(4)},
		{"behind for hours: an hour at most", ago(300), true, ago(CatchUpPeriods)},
	}
	for _, c := range cases {
		if got := ReadStart(end, c.lastOK, time.Minute, 3, c.behind); !got.Equal(c.want) {
			t.Errorf("%s: %s, want %s", c.name, got.Format("15:04"), c.want.Format("15:04"))
		}
	}
}
