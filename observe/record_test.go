package observe

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/canaryd/canaryd/replay"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
)

var recT0 = time.Date(2026, 3, 2, 12, 0, 43, 0, time.UTC)

func recWatch(id string) store.Watch {
	return store.Watch{ID: id, Target: "checkout-api", Phase: store.PhaseBaking, KnownGood: "41", NewVersion: "42", DetectedAt: recT0}
}

func metricAt(metric string, start time.Time, v float64) sample.Sample {
	return sample.Sample{Target: "checkout-api", Kind: sample.KindMetric, Source: sample.SourceCloudWatch, Metric: metric,
		Time: start, Period: time.Minute, Outcome: sample.OutcomeOK, Value: v}
}

func parseTrace(t *testing.T, r *TraceRecorder, path string) replay.Trace {
	t.Helper()
	if !r.Flush(10 * time.Second) {
		t.Fatal("the queued lines were not written within 10 s")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := replay.Parse(bytes.NewReader(data), time.Minute)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return tr
}

func countTypes(tr replay.Trace) map[string]int {
	n := map[string]int{}
	for _, r := range tr.Records {
		n[r.Type]++
	}
	return n
}

// TestRecorderTrace: a watch's trace holds its deploy, its baseline (alias
// level), its samples when they reached it and a tick at each transition;
// a process that takes the watch up appends without a second deploy or
// baseline.
func TestRecorderTrace(t *testing.T) {
	dir := t.TempDir()
	r, err := NewTraceRecorder(dir, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := recWatch("w-1")
	w.BaselineSince = recT0.Add(-25 * time.Minute) // 41 first seen alone
	base := []sample.Sample{
		metricAt("Invocations", recT0.Truncate(time.Minute).Add(-2*time.Minute), 1000),
		metricAt("Errors", recT0.Truncate(time.Minute).Add(-2*time.Minute), 9),
		{Kind: sample.KindMetric, Metric: "Errors", Version: "41", Time: recT0.Add(-2 * time.Minute).Truncate(time.Minute), Period: time.Minute, Outcome: sample.OutcomeOK, Value: 9},
		{Kind: sample.KindProbe, Source: "health", Time: recT0.Add(-30 * time.Second), Outcome: sample.OutcomeOK, Status: 200},
	}
	r.Samples(w, recT0.Add(3*time.Second), sample.Sample{Kind: sample.KindProbe, Source: "health", Time: recT0.Add(2 * time.Second), Outcome: sample.OutcomeFail, Status: 503, Reason: "unexpected status 503"})
	r.Baseline(w, recT0.Add(4*time.Second), base)
	r.Baseline(w, recT0.Add(5*time.Second), base) // once per watch
	at := recT0.Truncate(time.Minute).Add(time.Minute + 5*time.Second)
	r.Samples(w, at, metricAt("Invocations", recT0.Truncate(time.Minute), 400), metricAt("Errors", recT0.Truncate(time.Minute), 200))
	r.Transition(w, at, store.PhaseTripped, "error-rate failing")

	path := r.Path(w)
	if want := filepath.Join(dir, "checkout-api", "w-1.jsonl"); path != want {
		t.Fatalf("path %s, want %s", path, want)
	}
	tr := parseTrace(t, r, path)
	if want := (replay.Deploy{Time: recT0, KnownGood: "41", NewVersion: "42", BaselineSince: w.BaselineSince.UTC(), RecordedReads: true}); tr.Deploy != want {
		t.Fatalf("deploy %+v, want %+v", tr.Deploy, want)
	}
	if got := countTypes(tr); got[replay.RecordBaseline] != 3 || got[replay.RecordSample] != 3 || got[replay.RecordTick] != 1 {
		t.Fatalf("records %v: want 3 baseline (alias level only), 3 samples, 1 tick", got)
	}
	last := tr.Records[len(tr.Records)-1]
	if last.Type != replay.RecordTick || !last.At.Equal(at) {
		t.Fatalf("last record %+v, want the transition's tick at %s", last, at)
	}
	for _, rec := range tr.Records {
		if rec.Type == replay.RecordSample && rec.Sample.Metric == "Errors" && !rec.At.Equal(at) {
			t.Fatalf("a metric period delivered at %s, want the cycle's %s", rec.At, at)
		}
	}

	// Another process takes the watch up: it appends, and neither the
	// deploy nor the baseline comes twice (replay would refuse a second
	// deploy and count the baseline twice).
	r2, err := NewTraceRecorder(dir, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2.Baseline(w, at.Add(time.Minute), base)
	r2.Samples(w, at.Add(time.Minute), metricAt("Errors", recT0.Truncate(time.Minute).Add(time.Minute), 250))
	tr = parseTrace(t, r2, path)
	if got := countTypes(tr); got[replay.RecordBaseline] != 3 || got[replay.RecordSample] != 4 {
		t.Fatalf("after a take-up: %v, want the 3 baseline records once and 4 samples", got)
	}
	if data, _ := os.ReadFile(path); !bytes.Contains(data, []byte("# taken up by another canaryd process")) {
		t.Fatalf("the take-up is not noted:\n%s", data)
	}
}

// TestRecorderBaselineAsItReachesTheWatch: the known-good's probe results,
// applied when the watch is adopted, are baseline from the first second;
// the CloudWatch baseline is written when its read answers, with that
// instant when it came after the watch began (replay judges without it
// until then, as the daemon did) and without one when it came at once;
// nothing is written twice (a reload adopts the watch again).
func TestRecorderBaselineAsItReachesTheWatch(t *testing.T) {
	r, err := NewTraceRecorder(t.TempDir(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	p0 := recT0.Truncate(time.Minute)
	probes := []sample.Sample{
		{Kind: sample.KindProbe, Source: "health", Time: recT0.Add(-40 * time.Second), Outcome: sample.OutcomeFail, Status: 503},
		{Kind: sample.KindProbe, Source: "health", Time: recT0.Add(-30 * time.Second), Outcome: sample.OutcomeOK, Status: 200},
	}
	cw := []sample.Sample{
		metricAt("Invocations", p0.Add(-2*time.Minute), 1000), metricAt("Errors", p0.Add(-2*time.Minute), 9),
		{Kind: sample.KindMetric, Metric: "Errors", Version: "41", Time: p0.Add(-2 * time.Minute), Period: time.Minute, Outcome: sample.OutcomeOK, Value: 9},
	}
	late, onTime := recWatch("w-late"), recWatch("w-on-time")
	answered := recT0.Add(90 * time.Second)
	r.Baseline(late, recT0, probes) // adopted
	r.Samples(late, recT0.Add(5*time.Second), sample.Sample{Kind: sample.KindProbe, Source: "health", Time: recT0.Add(5 * time.Second), Outcome: sample.OutcomeFail})
	r.Baseline(late, answered, cw)                      // CloudWatch answered
	r.Baseline(late, answered.Add(time.Minute), cw)     // a reload adopted it again
	r.Baseline(late, answered.Add(time.Minute), probes) // ...
	r.Baseline(onTime, recT0, probes)                   // adopted
	r.Baseline(onTime, recT0, append(cw, probes[0]))    // CloudWatch answered at once
	for _, c := range []struct {
		w    store.Watch
		cwAt time.Time // zero: at once
	}{{late, answered}, {onTime, time.Time{}}} {
		w, cwAt := c.w, c.cwAt
		tr := parseTrace(t, r, r.Path(w))
		var got []string
		for _, rec := range tr.Records {
			if rec.Type != replay.RecordBaseline {
				continue
			}
			want := rec.Sample.Time // a probe result's
			switch {
			case rec.Sample.Kind == sample.KindMetric && !cwAt.IsZero():
				want = cwAt
			case rec.Sample.Kind == sample.KindMetric:
				want = rec.Sample.Time.Add(rec.Sample.Period)
			}
			if !rec.At.Equal(want) {
				t.Errorf("%s: baseline %s %s reached the watch at %s, want %s", w.ID, rec.Sample.Kind, rec.Sample.Time, rec.At, want)
			}
			got = append(got, fmt.Sprintf("%s/%s%s", rec.Sample.Kind, rec.Sample.Metric, rec.Sample.Time.Format("15:04:05")))
		}
		slices.Sort(got)
		if want := "metric/Errors11:58:00 metric/Invocations11:58:00 probe/12:00:03 probe/12:00:13"; strings.Join(got, " ") != want {
			t.Errorf("%s: baseline records %s\nwant %s", w.ID, strings.Join(got, " "), want)
		}
	}
}

// TestRecorderTakeUpAddsWhatIsMissing: a process that takes up another's
// trace adds the baseline kinds the other never wrote (its CloudWatch read
// hung until it died), with the instant they reached the watch, and none
// twice; a last line the other died writing is cut off, and a deploy it
// died writing is written again, so that the trace stays one replay reads.
func TestRecorderTakeUpAddsWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	p0 := recT0.Truncate(time.Minute)
	probes := []sample.Sample{{Kind: sample.KindProbe, Source: "health", Time: recT0.Add(-30 * time.Second), Outcome: sample.OutcomeFail, Status: 503}}
	cw := []sample.Sample{metricAt("Invocations", p0.Add(-2*time.Minute), 1000), metricAt("Errors", p0.Add(-2*time.Minute), 9)}
	w, bare := recWatch("w-hung"), recWatch("w-bare")
	r1, err := NewTraceRecorder(dir, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1.Baseline(w, recT0, probes) // adopted; CloudWatch never answers
	r1.Samples(w, recT0.Add(10*time.Second), sample.Sample{Kind: sample.KindProbe, Source: "health", Time: recT0.Add(10 * time.Second), Outcome: sample.OutcomeFail})
	parseTrace(t, r1, r1.Path(w))
	appendTo := func(path, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
	appendTo(r1.Path(w), `{"type":"sample","time":"2026-03-02T12:00:`)           // r1 dies in a write
	appendTo(r1.Path(bare), "# canaryd trace of watch w-bare\n"+`{"type":"depl`) // ... in its first

	r2, err := NewTraceRecorder(dir, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	taken := recT0.Add(3 * time.Minute)
	for _, w := range []store.Watch{w, bare} {
		r2.Baseline(w, taken, probes)                // adopted again
		r2.Baseline(w, taken.Add(2*time.Second), cw) // CloudWatch answers
		r2.Samples(w, taken.Add(5*time.Second), metricAt("Errors", p0.Add(2*time.Minute), 7))
	}
	for _, c := range []struct {
		w      store.Watch
		probes int // probe baseline records: r1's for w, r2's for bare
	}{{w, 1}, {bare, 1}} {
		tr := parseTrace(t, r2, r2.Path(c.w))
		if tr.Deploy.NewVersion != "42" {
			t.Errorf("%s: deploy %+v", c.w.ID, tr.Deploy)
		}
		var kinds []string
		for _, rec := range tr.Records {
			if rec.Type != replay.RecordBaseline {
				continue
			}
			kinds = append(kinds, string(rec.Sample.Kind))
			if rec.Sample.Kind == sample.KindMetric && !rec.At.Equal(taken.Add(2*time.Second)) {
				t.Errorf("%s: CloudWatch baseline %s reached the watch at %s, want when r2 read it, %s", c.w.ID, rec.Sample.Metric, rec.At, taken.Add(2*time.Second))
			}
		}
		slices.Sort(kinds)
		if got, want := strings.Join(kinds, " "), "metric metric probe"; got != want {
			t.Errorf("%s: baseline kinds %q, want %q (each once)", c.w.ID, got, want)
		}
	}
}

// TestRecorderRolloutStartsAgain: when a rollout's first weight is set its
// evidence starts again there, and so does its trace.
func TestRecorderRolloutStartsAgain(t *testing.T) {
	r, err := NewTraceRecorder(t.TempDir(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := recWatch("w-roll")
	w.Phase, w.Rollout = store.PhaseRollingOut, &store.Rollout{}
	r.Baseline(w, recT0, []sample.Sample{metricAt("Errors", recT0.Add(-2*time.Minute).Truncate(time.Minute), 1)})
	r.Samples(w, recT0.Add(10*time.Second), sample.Sample{Kind: sample.KindProbe, Source: "health", Time: recT0.Add(9 * time.Second), Outcome: sample.OutcomeOK})
	traffic := recT0.Add(time.Minute)
	w.Rollout.TrafficAt, w.Weights = traffic, map[string]float64{"42": 0.1}
	r.Baseline(w, traffic, []sample.Sample{metricAt("Errors", traffic.Add(-2*time.Minute).Truncate(time.Minute), 2)})
	tr := parseTrace(t, r, r.Path(w))
	if want := (replay.Deploy{Time: traffic, KnownGood: "41", NewVersion: "42", Split: true, RecordedReads: true}); tr.Deploy != want {
		t.Fatalf("deploy %+v, want %+v", tr.Deploy, want)
	}
	if got := countTypes(tr); got[replay.RecordBaseline] != 1 || got[replay.RecordSample] != 0 || tr.Records[0].Sample.Value != 2 {
		t.Fatalf("records %+v: want only the baseline read up to the first weight", tr.Records)
	}
}

// TestRecorderKeepsTheNewest: a target's oldest traces beyond trace_keep
// are removed.
func TestRecorderKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	r, err := NewTraceRecorder(dir, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		w := recWatch(fmt.Sprintf("w-%d", i))
		r.Samples(w, recT0, sample.Sample{Kind: sample.KindProbe, Source: "health", Time: recT0, Outcome: sample.OutcomeOK})
		r.Flush(10 * time.Second)
		// Modification times a second apart, whatever the file system's
		// resolution.
		mod := recT0.Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(r.Path(w), mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "checkout-api", "*.jsonl"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if got := strings.Join(names, " "); got != "w-2.jsonl w-3.jsonl w-4.jsonl" {
		t.Fatalf("kept %s, want the newest three", got)
	}
}

// TestRecorderFailureIsLoggedOnce: a trace that cannot be written is
// logged once and not written on; judging is not affected (nothing to
// return).
func TestRecorderFailureIsLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	core, logs := observer.New(zap.WarnLevel)
	r, err := NewTraceRecorder(dir, 3, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	// The target's directory is a file: nothing can be written under it.
	if err := os.WriteFile(filepath.Join(dir, "checkout-api"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := recWatch("w-1")
	for i := range 3 {
		r.Samples(w, recT0.Add(time.Duration(i)*time.Second), sample.Sample{Kind: sample.KindProbe, Source: "health", Time: recT0, Outcome: sample.OutcomeOK})
	}
	r.Flush(10 * time.Second)
	if n := logs.FilterMessage("trace of the watch not written on").Len(); n != 1 {
		t.Fatalf("%d warnings, want 1", n)
	}
	if _, err := NewTraceRecorder(filepath.Join(dir, "checkout-api", "sub"), 3, nil); err == nil || !strings.Contains(err.Error(), "trace_dir") {
		t.Fatalf("a trace_dir that cannot be made: %v, want an error naming trace_dir", err)
	}
	// A directory that exists but cannot be written fails at once, not
	// trace by trace. /proc takes no new files, even from root (the tests
	// run as root in CI, where a mode bit would not stop them).
	if _, err := os.Stat("/proc/self"); err == nil {
		if _, err := NewTraceRecorder("/proc/self", 3, nil); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Fatalf("an unwritable trace_dir: %v, want an error saying it is not writable", err)
		}
	}
}

func TestRecorderFileNames(t *testing.T) {
	for in, want := range map[string]string{"checkout-api": "checkout-api", "../etc": ".._etc", "..": "_", "": "_", "a b/c": "a_b_c"} {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRecorderSkipsUnchangedRereads: a cycle reads the last periods
// again; a period read again unchanged is not written again, a changed
// one is (late data), and so is every probe result and failed read.
func TestRecorderSkipsUnchangedRereads(t *testing.T) {
	r, err := NewTraceRecorder(t.TempDir(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := recWatch("w-1")
	p0 := recT0.Truncate(time.Minute)
	noData := metricAt("Errors", p0, 0)
	noData.Outcome = sample.OutcomeNoData
	failed := metricAt("Errors", p0, 0)
	failed.Outcome, failed.Reason = sample.OutcomeSourceError, "ThrottlingException"
	cycle := func(k int, ss ...sample.Sample) {
		r.Samples(w, p0.Add(time.Duration(k)*time.Minute+5*time.Second), ss...)
	}
	cycle(1, noData, metricAt("Invocations", p0, 300))
	cycle(2, metricAt("Errors", p0, 4), metricAt("Invocations", p0, 300)) // late data arrived; invocations unchanged
	cycle(3, metricAt("Errors", p0, 4), metricAt("Invocations", p0, 300)) // nothing new
	cycle(4, failed, failed)
	cycle(5, metricAt("Errors", p0, 5)) // later still
	tr := parseTrace(t, r, r.Path(w))
	var got []string
	for _, rec := range tr.Records {
		got = append(got, fmt.Sprintf("%s=%s/%g", rec.Sample.Metric, rec.Sample.Outcome, rec.Sample.Value))
	}
	want := "Errors=no_data/0 Invocations=ok/300 Errors=ok/4 Errors=source_error/0 Errors=source_error/0 Errors=ok/5"
	if strings.Join(got, " ") != want {
		t.Fatalf("recorded %s\nwant     %s", strings.Join(got, " "), want)
	}
}

// TestRecorderNeverWaitsForTheDisk: with the trace file a FIFO nobody
// reads (the writer's open hangs, as on a hung disk), the callers still
// return at once; the queue fills, that watch's trace stops and says so
// once, and the writer finishes once the disk answers.
func TestRecorderNeverWaitsForTheDisk(t *testing.T) {
	dir := t.TempDir()
	core, logs := observer.New(zap.WarnLevel)
	r, err := NewTraceRecorder(dir, 3, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	w := recWatch("w-1")
	if err := os.MkdirAll(filepath.Dir(r.Path(w)), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(r.Path(w), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range maxQueued + 10 {
		r.Samples(w, recT0.Add(time.Duration(i)*time.Second), sample.Sample{Kind: sample.KindProbe, Source: "health", Time: recT0, Outcome: sample.OutcomeOK})
	}
	if r.Flush(0) {
		t.Fatal("the writer is idle: it should hang on the FIFO")
	}
	if n := logs.FilterMessage("trace of the watch not written on").Len(); n != 1 {
		t.Fatalf("%d warnings, want 1 (the queue full)", n)
	}
	// The disk answers: the writer drains what was queued and stops.
	f, err := os.OpenFile(r.Path(w), os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, f); close(done) }()
	if !r.Flush(10 * time.Second) {
		t.Fatal("the writer did not finish once the disk answered")
	}
	f.Close()
	<-done
}
