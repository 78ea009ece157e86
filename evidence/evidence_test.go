package evidence

import (
	"context"
	"encoding/xml"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/store/redisstore"
)

var badNum = regexp.MustCompile(`="[^"]*(NaN|Inf|e\+)`)

var t0 = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *boltstore.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func verdict(kind policy.Kind, at time.Time, observed, e float64, breached bool) policy.Verdict {
	base := 0.004
	return policy.Verdict{Kind: kind, At: at, Summary: "summary of " + string(kind), Findings: []policy.Finding{
		{Rule: "error-rate", RuleKind: "error_rate", Observed: observed, Threshold: 0.05, Baseline: &base,
			EValue: e, Alpha: 0.001, Breached: breached, Enough: true, Samples: 3},
		{Rule: "health-probe", RuleKind: "probe", Observed: 0, Threshold: 3},
	}}
}

var w = store.Watch{ID: "w-1", Target: "checkout", NewVersion: "3", KnownGood: "2"}

func TestObserveKeepsOnePointPerRulePerPeriod(t *testing.T) {
	r := New(Config{})
	ctx := context.Background()
	r.Observe(ctx, w, time.Minute, verdict(policy.Healthy, t0.Add(5*time.Second), 0.01, 2, false))
	r.Observe(ctx, w, time.Minute, verdict(policy.Inconclusive, t0.Add(20*time.Second), 0.2, 50, true))
	r.Observe(ctx, w, time.Minute, verdict(policy.Inconclusive, t0.Add(40*time.Second), 0.02, 3, false))
	r.Observe(ctx, w, time.Minute, verdict(policy.Inconclusive, t0.Add(70*time.Second), 0.03, 4, false))
	s, ok := r.Live(w.ID)
	if !ok || len(s.Rules) != 2 {
		t.Fatalf("series %+v ok=%v, want 2 rules", s, ok)
	}
	ps := s.Rules[0].Points
	if len(ps) != 2 || !ps[0].At.Equal(t0) || !ps[1].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("points %+v, want one per minute", ps)
	}
	if ps[0].Observed != 0.02 || !ps[0].Breached {
		t.Errorf("first period %+v: want the last value (0.02) and breached kept from the evaluation that breached", ps[0])
	}
	if got, want := *ps[1].LogE, math.Log10(4); math.Abs(got-want) > 1e-12 {
		t.Errorf("log e = %v, want %v", got, want)
	}
	if lt := s.Rules[0].LogThreshold(); math.Abs(lt-3) > 1e-12 {
		t.Errorf("log threshold = %v, want 3", lt)
	}
	if len(s.Changes) != 2 || s.Changes[0].Kind != "healthy" || s.Changes[1].Kind != "inconclusive" {
		t.Errorf("changes %+v, want healthy then inconclusive", s.Changes)
	}
	r.Observe(ctx, w, time.Minute, policy.Verdict{At: t0.Add(2 * time.Minute)}) // not judged
	if s2, _ := r.Live(w.ID); len(s2.Rules[0].Points) != 2 {
		t.Errorf("a verdict without a kind added a point")
	}
}

// TestSnapshotsOnlyWhenTheVerdictTurns: a second a tick for an hour writes
// nothing; turning failing writes one snapshot, which a new process reads.
func TestSnapshotsOnlyWhenTheVerdictTurns(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	r := New(Config{Store: st})
	for i := range 3600 {
		r.Observe(ctx, w, time.Minute, verdict(policy.Healthy, t0.Add(time.Duration(i)*time.Second), 0.004, 1, false))
	}
	r.Wait()
	if n := countSnapshots(t, st); n != 0 {
		t.Fatalf("%d snapshots after an hour of healthy verdicts, want 0", n)
	}
	at := t0.Add(time.Hour)
	r.Observe(ctx, w, time.Minute, verdict(policy.Failing, at, 0.22, 5000, true))
	r.Observe(ctx, w, time.Minute, verdict(policy.Failing, at.Add(time.Second), 0.22, 6000, true))
	r.Wait()
	if n := countSnapshots(t, st); n != 1 {
		t.Fatalf("%d snapshots after the trip, want 1", n)
	}
	restarted := New(Config{Store: st})
	s, ok, err := restarted.Get(ctx, w.Target, w.ID)
	if err != nil || !ok || !s.Stored {
		t.Fatalf("stored series ok=%v stored=%v err=%v", ok, s.Stored, err)
	}
	last := s.Rules[0].Points[len(s.Rules[0].Points)-1]
	if !last.Breached || last.Verdict != "failing" || last.Observed != 0.22 {
		t.Errorf("last stored point %+v, want the breach that tripped", last)
	}
	if len(s.Rules[0].Points) > MaxPoints {
		t.Errorf("%d points kept, want at most %d", len(s.Rules[0].Points), MaxPoints)
	}
}

func countSnapshots(t *testing.T, st store.Store) int {
	t.Helper()
	evs, err := st.Events(context.Background(), store.EventFilter{WatchID: w.ID})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Type == event.EvidenceSnapshot {
			n++
		}
	}
	return n
}

func TestThinKeepsTheWholeWatchBounded(t *testing.T) {
	r := New(Config{})
	ctx := context.Background()
	for i := range 1000 {
		breached := i == 10
		r.Observe(ctx, w, time.Minute, verdict(policy.Inconclusive, t0.Add(time.Duration(i)*time.Minute), 0.01, 1, breached))
	}
	s, _ := r.Live(w.ID)
	ps := s.Rules[0].Points
	if len(ps) > MaxPoints || len(ps) < MaxPoints/2 {
		t.Fatalf("%d points, want between %d and %d", len(ps), MaxPoints/2, MaxPoints)
	}
	if !ps[0].At.Equal(t0) || !ps[len(ps)-1].At.Equal(t0.Add(999*time.Minute)) {
		t.Errorf("span %s..%s, want the whole watch", ps[0].At, ps[len(ps)-1].At)
	}
	found := false
	for _, p := range ps {
		found = found || p.Breached
	}
	if !found {
		t.Error("thinning dropped the breached point")
	}
}

func TestIdleSeriesAreDropped(t *testing.T) {
	r := New(Config{Idle: 10 * time.Minute})
	ctx := context.Background()
	r.Observe(ctx, w, time.Minute, verdict(policy.Healthy, t0, 0.01, 1, false))
	other := store.Watch{ID: "w-2", Target: "other"}
	r.Observe(ctx, other, time.Minute, verdict(policy.Healthy, t0.Add(11*time.Minute), 0.01, 1, false))
	if _, ok := r.Live(w.ID); ok || r.Len() != 1 {
		t.Fatalf("idle series kept (len %d)", r.Len())
	}
}

func TestSVGIsWellFormedAndSaysWhatItShows(t *testing.T) {
	r := New(Config{})
	ctx := context.Background()
	w := store.Watch{ID: "w-<x>", Target: "checkout", NewVersion: "3&4", KnownGood: "2"}
	for i := range 5 {
		r.Observe(ctx, w, time.Minute, verdict(policy.Inconclusive, t0.Add(time.Duration(i)*time.Minute), 0.01*float64(i), math.Pow(10, float64(i)), i == 4))
	}
	r.Observe(ctx, w, time.Minute, verdict(policy.Failing, t0.Add(5*time.Minute), math.Inf(1), math.Inf(1), true))
	s, _ := r.Live(w.ID)
	for _, rule := range s.Rules {
		var b strings.Builder
		if err := SVG(&b, s, rule); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		d := xml.NewDecoder(strings.NewReader(out))
		for {
			_, err := d.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("%s: not well-formed XML: %v\n%s", rule.Name, err, out)
				}
				break
			}
		}
		if badNum.MatchString(out) {
			t.Errorf("%s: an attribute is not a finite number: %s", rule.Name, badNum.FindString(out))
		}
		for _, bad := range []string{"<style", "<script", "href="} {
			if strings.Contains(out, bad) {
				t.Errorf("%s: SVG contains %q", rule.Name, bad)
			}
		}
		if !strings.Contains(out, "version 3&amp;4") {
			t.Errorf("%s: title not escaped or missing", rule.Name)
		}
	}
	var b strings.Builder
	_ = SVG(&b, s, s.Rules[0])
	if !strings.Contains(b.String(), "log10(1/α) = 3") || !strings.Contains(b.String(), `class="breach"`) {
		t.Errorf("the statistical chart lacks its threshold or its breach:\n%s", b.String())
	}
	if uri := DataURI(s, s.Rules[1]); !strings.HasPrefix(uri, "data:image/svg+xml;base64,") {
		t.Errorf("data URI %q", uri[:40])
	}
}

// TestSnapshotStaysSmall: a long watch's snapshot keeps at most
// MaxStoredPoints per rule, rounded, and the breach that tripped it.
func TestSnapshotStaysSmall(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	r := New(Config{Store: st})
	for i := range 1000 {
		r.Observe(ctx, w, time.Minute, verdict(policy.Inconclusive, t0.Add(time.Duration(i)*time.Minute), 0.0123456789, 1.23456789, false))
	}
	r.Observe(ctx, w, time.Minute, verdict(policy.Failing, t0.Add(1000*time.Minute), 0.2222222, 12345.6789, true))
	r.Wait()
	evs, err := st.Events(ctx, store.EventFilter{WatchID: w.ID})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %d, err %v", len(evs), err)
	}
	if n := len(evs[0].Data); n > 16<<10 {
		t.Errorf("snapshot is %d bytes, want at most 16 KiB", n)
	}
	s, ok := FromEvents(evs)
	if !ok {
		t.Fatal("snapshot unreadable")
	}
	ps := s.Rules[0].Points
	if len(ps) > MaxStoredPoints {
		t.Errorf("%d points stored, want at most %d", len(ps), MaxStoredPoints)
	}
	last := ps[len(ps)-1]
	if !last.Breached || last.Observed != 0.2222 || *last.LogE != 4.092 {
		t.Errorf("last stored point %+v (log e %v), want the breach rounded to 4 digits", last, *last.LogE)
	}
	if live, _ := r.Live(w.ID); len(live.Rules[0].Points) <= MaxStoredPoints || live.Rules[0].Points[0].Observed != 0.0123456789 {
		t.Error("storing thinned or rounded the live series")
	}
}

// TestStoredReadsTheTargetsOwnHistory: on Redis, where every event list
// keeps the newest EventRetention entries, a watch's snapshot is read from
// its target's list. Other targets' events trim the global list past it;
// the target's own list still holds it (and reading it is cheaper: a
// fleet's events are not scanned for one watch).
func TestStoredReadsTheTargetsOwnHistory(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	st, err := redisstore.New(redisstore.Options{Client: srv.Client(t), EventRetention: 5})
	if err != nil {
		t.Fatal(err)
	}
	r := New(Config{Store: st})
	r.Observe(ctx, w, time.Minute, verdict(policy.Failing, t0, 0.22, 5000, true))
	r.Wait()
	for i := range 10 {
		if err := st.AppendEvent(ctx, store.Event{Time: t0.Add(time.Duration(i) * time.Second), Target: "other",
			Type: event.Verdict, Message: "another target's history"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := Stored(ctx, st, w.Target, w.ID); err != nil || !ok {
		t.Fatalf("snapshot from the target's list: ok=%v err=%v", ok, err)
	}
	if _, ok, _ := Stored(ctx, st, "", w.ID); ok {
		t.Fatal("the global list still holds the snapshot: the test does not trim it")
	}
}
