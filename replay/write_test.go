package replay

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// TestAppendRoundTrip: what the Append functions write, Parse reads back
// as the same deploy and the same samples, delivered when they were.
func TestAppendRoundTrip(t *testing.T) {
	dep := time.Date(2026, 3, 2, 12, 0, 43, 0, time.FixedZone("CET", 3600))
	base := []sample.Sample{
		{Kind: sample.KindMetric, Source: sample.SourceCloudWatch, Metric: "Errors", Time: dep.Add(-2 * time.Minute).Truncate(time.Minute), Period: time.Minute, Outcome: sample.OutcomeOK, Value: 3},
		{Kind: sample.KindProbe, Source: "health", Time: dep.Add(-20 * time.Second), Outcome: sample.OutcomeFail, Status: 503, Latency: 120 * time.Millisecond, Reason: `unexpected status 503 "quoted" <tag>`},
	}
	type delivered struct {
		s  sample.Sample
		at time.Time
	}
	after := []delivered{
		{sample.Sample{Kind: sample.KindMetric, Source: sample.SourceCloudWatch, Metric: "Duration.TC(412:)", Version: "42", Time: dep.Truncate(time.Minute), Period: time.Minute, Outcome: sample.OutcomeOK, Value: 17.5}, dep.Add(22 * time.Second)},
		{sample.Sample{Kind: sample.KindMetric, Source: sample.SourceCloudWatch, Metric: "Invocations", Time: dep.Truncate(time.Minute).Add(time.Minute), Period: time.Minute, Outcome: sample.OutcomeNoData}, dep.Add(82 * time.Second)},
		{sample.Sample{Kind: sample.KindMetric, Source: sample.SourceCloudWatch, Metric: "Errors", Time: dep.Truncate(time.Minute).Add(time.Minute), Period: time.Minute, Outcome: sample.OutcomeSourceError, Reason: "ThrottlingException: Rate exceeded"}, dep.Add(83 * time.Second)},
		{sample.Sample{Kind: sample.KindProbe, Source: "health", Time: dep.Add(5 * time.Second), Outcome: sample.OutcomeOK, Status: 200, Latency: 41 * time.Millisecond}, dep.Add(5*time.Second + 41*time.Millisecond)},
	}
	var buf []byte
	buf = AppendComment(buf, "recorded by canaryd\nwatch w-1")
	for i := len(after) - 1; i >= 0; i-- { // any order
		buf = AppendSample(buf, after[i].s, after[i].at)
	}
	buf = AppendDeploy(buf, Deploy{Time: dep, NewVersion: "42", Split: true, BaselineSince: dep.Add(-8 * time.Minute)})
	for _, s := range base {
		buf = AppendBaseline(buf, s)
	}
	tr, err := Parse(bytes.NewReader(buf), time.Minute)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf)
	}
	if want := (Deploy{Time: dep.UTC(), KnownGood: "", NewVersion: "42", Split: true, BaselineSince: dep.Add(-8 * time.Minute).UTC()}); tr.Deploy != want {
		t.Fatalf("deploy %+v, want %+v", tr.Deploy, want)
	}
	var gotBase []sample.Sample
	var gotAfter []delivered
	for _, r := range tr.Records {
		switch r.Type {
		case RecordBaseline:
			gotBase = append(gotBase, r.Sample)
		case RecordSample:
			gotAfter = append(gotAfter, delivered{r.Sample, r.At})
		default:
			t.Fatalf("unexpected record %+v", r)
		}
	}
	norm := func(s sample.Sample) sample.Sample { s.Time = s.Time.UTC(); return s }
	for i := range base {
		base[i] = norm(base[i])
	}
	for i := range after {
		after[i].s, after[i].at = norm(after[i].s), after[i].at.UTC()
	}
	if !reflect.DeepEqual(gotBase, base) {
		t.Fatalf("baseline read back:\n%+v\nwant\n%+v", gotBase, base)
	}
	slices.SortStableFunc(after, func(a, b delivered) int { return a.at.Compare(b.at) }) // Parse's order
	if !reflect.DeepEqual(gotAfter, after) {
		t.Fatalf("samples read back:\n%+v\nwant\n%+v\n%s", gotAfter, after, buf)
	}
}

// TestAppendLateBaseline: a baseline sample the watch had only after its
// deploy reads back with that delivery time; one it had from the start
// with the end of what it measured.
func TestAppendLateBaseline(t *testing.T) {
	dep := time.Date(2026, 3, 2, 12, 0, 43, 0, time.UTC)
	metric := sample.Sample{Kind: sample.KindMetric, Source: sample.SourceCloudWatch, Metric: "Errors", Time: dep.Add(-2 * time.Minute).Truncate(time.Minute), Period: time.Minute, Outcome: sample.OutcomeOK, Value: 3}
	probe := sample.Sample{Kind: sample.KindProbe, Source: "health", Time: dep.Add(-20 * time.Second), Outcome: sample.OutcomeOK, Status: 200}
	late := dep.Add(95 * time.Second)
	buf := AppendDeploy(nil, Deploy{Time: dep, KnownGood: "41", NewVersion: "42"})
	buf = AppendBaseline(buf, probe)
	buf = AppendSample(buf, probe, dep.Add(10*time.Second)) // any record between
	buf = AppendLateBaseline(buf, metric, late)
	tr, err := Parse(bytes.NewReader(buf), time.Minute)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf)
	}
	want := []Record{
		{Type: RecordBaseline, Sample: probe, At: probe.Time},
		{Type: RecordSample, Sample: probe, At: dep.Add(10 * time.Second)},
		{Type: RecordBaseline, Sample: metric, At: late},
	}
	if !reflect.DeepEqual(tr.Records, want) {
		t.Fatalf("read back:\n%+v\nwant\n%+v\n%s", tr.Records, want, buf)
	}
}

// TestScanWhatIsWritten: Scan finds a trace's deploy and the kinds of its
// baseline records, and skips what does not decode (a line its writer
// died in) instead of failing.
func TestScanWhatIsWritten(t *testing.T) {
	dep := time.Date(2026, 3, 2, 12, 0, 43, 0, time.UTC)
	probe := sample.Sample{Kind: sample.KindProbe, Source: "health", Time: dep.Add(-20 * time.Second), Outcome: sample.OutcomeOK}
	metric := sample.Sample{Kind: sample.KindMetric, Metric: "Errors", Time: dep.Add(-2 * time.Minute).Truncate(time.Minute), Period: time.Minute, Outcome: sample.OutcomeOK, Value: 3}
	for _, c := range []struct {
		name string
		buf  []byte
		want Written
	}{
		{"empty", nil, Written{Baseline: map[sample.Kind]bool{}}},
		{"deploy and probe baseline", AppendBaseline(AppendDeploy(nil, Deploy{Time: dep, KnownGood: "41", NewVersion: "42"}), probe),
			Written{Deploy: true, Baseline: map[sample.Kind]bool{sample.KindProbe: true}}},
		{"a late CloudWatch baseline after samples", AppendLateBaseline(AppendSample(AppendDeploy(nil, Deploy{Time: dep, KnownGood: "41", NewVersion: "42"}), probe, dep), metric, dep.Add(time.Minute)),
			Written{Deploy: true, Baseline: map[sample.Kind]bool{sample.KindMetric: true}}},
		{"an unfinished deploy", append(AppendComment(nil, "a trace"), `{"type":"deploy","ti`...), Written{Baseline: map[sample.Kind]bool{}}},
	} {
		got, err := Scan(bytes.NewReader(c.buf))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}
