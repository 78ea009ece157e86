package replay

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/sample"
)

// Without a split, a cycle reads the new version's own series only while
// the deploy's period is among the periods it covers
// (watch.ReadsNewVersion), as the watcher does; a trace's series of other
// versions are not read at all.
func TestFeedReadsTheNewVersionAroundTheDeploy(t *testing.T) {
	tgt := exampleTarget(t)
	p, err := policy.Compile(tgt)
	if err != nil {
		t.Fatal(err)
	}
	lag := tgt.MetricLag
	detected := time.Date(2026, 3, 2, 12, 0, 40, 0, time.UTC)
	d0 := detected.Truncate(time.Minute)
	f := newMetricFeed(p, []string{""}, detected, "2")
	for i := range 10 {
		for _, v := range []string{"", "1", "2"} {
			s := sample.Sample{Kind: sample.KindMetric, Metric: "Invocations", Version: v,
				Time: d0.Add(time.Duration(i) * time.Minute), Outcome: sample.OutcomeOK, Value: 100}
			f.add(s, s.Time.Add(time.Minute+time.Second), time.Time{})
		}
	}
	versions := func(now time.Time) map[string]int {
		out := map[string]int{}
		for _, s := range f.cycle(now, lag) {
			if s.Metric == "Invocations" && s.Outcome == sample.OutcomeOK {
				out[s.Version]++
			}
		}
		return out
	}
	for k := 1; k <= lag+2; k++ {
		now := d0.Add(time.Duration(k)*time.Minute + 5*time.Second)
		got := versions(now)
		wantOwn := 0
		if k <= lag {
			wantOwn = k // the periods from the deploy's on
		}
		if got["2"] != wantOwn || got["1"] != 0 || got[""] != min(k, lag) {
			t.Errorf("cycle %d minutes after the deploy's period: %v, want %d of the new version's own", k, got, wantOwn)
		}
	}
}

// A recorded read failure fails the next cycle and the reader backs off;
// the first cycle that reads again goes back to the last good one's
// window (watch.ReadStart), as the daemon's reader does.
func TestFeedCatchesUpAfterFailedReads(t *testing.T) {
	tgt := exampleTarget(t)
	p, err := policy.Compile(tgt)
	if err != nil {
		t.Fatal(err)
	}
	detected := time.Date(2026, 3, 2, 12, 0, 40, 0, time.UTC)
	d0 := detected.Truncate(time.Minute)
	f := newMetricFeed(p, []string{""}, detected, "")
	for i := range 20 {
		s := sample.Sample{Kind: sample.KindMetric, Metric: "Invocations", Time: d0.Add(time.Duration(i) * time.Minute),
			Outcome: sample.OutcomeOK, Value: float64(100 + i)}
		f.add(s, s.Time.Add(time.Minute+time.Second), time.Time{})
	}
	for _, m := range []int{2, 3} { // reads failing at 12:02 and 12:03
		s := sample.Sample{Kind: sample.KindMetric, Metric: "Invocations", Time: d0.Add(time.Duration(m) * time.Minute),
			Outcome: sample.OutcomeSourceError}
		f.add(s, d0.Add(time.Duration(m)*time.Minute+2*time.Second), time.Time{})
	}
	read := map[time.Time]bool{}
	var last []sample.Sample
	for k := 1; k <= 12; k++ {
		last = f.cycle(d0.Add(time.Duration(k)*time.Minute+5*time.Second), tgt.MetricLag)
		for _, s := range last {
			if s.Metric == "Invocations" && s.Outcome == sample.OutcomeOK {
				read[s.Time] = true
			}
		}
	}
	for i := range 11 {
		if p := d0.Add(time.Duration(i) * time.Minute); !read[p] {
			t.Errorf("period %s never read", p.Format("15:04"))
		}
	}
	if len(last) != tgt.MetricLag*len(f.series) {
		t.Errorf("the cycle after catching up read %d samples, want metric_lag's %d", len(last), tgt.MetricLag*len(f.series))
	}
}
