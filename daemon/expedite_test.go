package daemon

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/replay"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/watcher"
)

// TestNewVersionProbedAtOnce: the tick that first lists a deploy's watch
// probes the new version (watcher.Prober.Expedite) instead of waiting for the probe's
// next slot, up to an interval (5 s here) later; the regular probes follow
// from their slots. A hard-down version then trips a probe sooner.
func TestNewVersionProbedAtOnce(t *testing.T) {
	const interval = 5 * time.Second
	// probeTick is the tick at which the world's probe due after at runs.
	probeTick := func(at time.Time) time.Time {
		s := watcher.ProbeSlot("api", "health", interval, at)
		if c := s.Truncate(time.Second); c.Before(s) {
			return c.Add(time.Second)
		}
		return s
	}
	checked := 0
	for lead := range 4 {
		pb := newProbeBaselineWorld(t, map[string]bool{"2": true})
		// Deploy lead seconds after a probe ran.
		for ran := probeTick(pb.clk.Now()); pb.clk.Now().Before(ran.Add(time.Duration(lead) * time.Second)); {
			pb.step()
		}
		v := pb.deployAndJudge("2", func(v policy.Verdict) bool { return v.Kind == policy.Failing })
		seen := pb.watch.DetectedAt
		if !probeTick(seen.Add(-time.Nanosecond)).After(seen.Add(time.Second)) {
			continue // a probe's own tick within one of the deploy's: nothing to expedite
		}
		checked++
		f, _, err := pb.d.Traces().OpenTrace(pb.watch)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := replay.Parse(f, time.Minute)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var after []time.Time
		for _, r := range tr.Records {
			if r.Type == replay.RecordSample && r.Sample.Kind == sample.KindProbe && !r.Sample.Time.Before(seen) {
				after = append(after, r.Sample.Time)
			}
		}
		// The watch is listed at the tick after the one that saw the
		// deploy (the alias read runs in the background).
		if len(after) < 3 || after[0].After(seen.Add(time.Second)) {
			t.Fatalf("lead %ds: the new version's probes at %v; want the first within a tick of the deploy's detection, %s", lead, after, seen)
		}
		if want := probeTick(after[0]); !after[1].Equal(want) {
			t.Errorf("lead %ds: the second probe at %s, want at its regular slot %s", lead, after[1], want)
		}
		// The trip counts the expedited probe: it comes a probe sooner.
		n := 0
		for n < len(after) && !after[n].After(v.At) {
			n++
		}
		found := false
		for _, f := range v.Findings {
			found = found || f.Rule == "health-probe"
			if f.Rule == "health-probe" && (!f.Breached || f.Samples != n) {
				t.Errorf("lead %ds: the trip at %s judged %d probe results (breached %v), want the %d since the deploy was seen, the first at %s",
					lead, v.At, f.Samples, f.Breached, n, after[0])
			}
		}
		if !found {
			t.Errorf("lead %ds: no finding of health-probe in %s", lead, v.Summary)
		}
		if v.At.After(after[n-1].Add(time.Second)) {
			t.Errorf("lead %ds: tripped at %s, more than a tick after its last failed probe (%s)", lead, v.At, after[n-1])
		}
	}
	if checked == 0 {
		t.Fatal("every deploy was seen at a probe's own tick: the test checked nothing")
	}
}
