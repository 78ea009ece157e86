package replay

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
)

// The Append functions build trace lines in the format Run reads: what
// the daemon records for each watch it judges (observe.TraceRecorder), so that
// its decision can be replayed, tuned and shared. Each appends whole
// lines to buf and returns it.

// AppendDeploy appends the watch's deploy record: judged from d.Time,
// d.KnownGood ("" when none) to d.NewVersion, split when versions share
// the alias, the version before alone since d.BaselineSince (zero: not
// known), its metric samples' "at" the daemon's reads when d.RecordedReads.
func AppendDeploy(buf []byte, d Deploy) []byte {
	r := traceRecord{Type: RecordDeploy, Time: d.Time.UTC(), KnownGood: d.KnownGood, NewVersion: d.NewVersion,
		Split: d.Split, BaselineSince: d.BaselineSince.UTC()} // omitzero: no field when not known
	if d.RecordedReads {
		r.Reads = readsRecorded
	}
	return appendRecord(buf, r)
}

// AppendBaseline appends a sample from before the deploy (alias-level metric
// periods, probe results of the known-good) that the watch was judged with
// from its first second.
func AppendBaseline(buf []byte, s sample.Sample) []byte {
	return appendRecord(buf, sampleRecord(RecordBaseline, s))
}

// AppendLateBaseline appends a sample from before the deploy that reached
// the watch only at at, after it began (a CloudWatch baseline read that
// answered late): replay judges without it until then.
func AppendLateBaseline(buf []byte, s sample.Sample, at time.Time) []byte {
	r := sampleRecord(RecordBaseline, s)
	r.At = at.UTC()
	return appendRecord(buf, r)
}

// AppendSample appends a sample delivered to the watch at at.
func AppendSample(buf []byte, s sample.Sample, at time.Time) []byte {
	return AppendRead(buf, s, at, at)
}

// AppendRead appends a metric sample a CloudWatch read began to get at
// at and that reached the watch at answered: the "answered" field when
// that was later.
func AppendRead(buf []byte, s sample.Sample, at, answered time.Time) []byte {
	r := sampleRecord(RecordSample, s)
	r.At = at.UTC()
	if answered.After(at) && s.Kind == sample.KindMetric {
		r.Answered = answered.UTC()
	}
	return appendRecord(buf, r)
}

// AppendPhase appends a tick record at t that says the daemon moved its
// watch to phase then: replay evaluates at t and reports the recorded
// decision next to its own.
func AppendPhase(buf []byte, t time.Time, phase store.Phase) []byte {
	return appendRecord(buf, traceRecord{Type: RecordTick, Time: t.UTC(), Phase: phase})
}

// AppendComment appends a comment line (Run skips it).
func AppendComment(buf []byte, text string) []byte {
	for _, l := range strings.Split(text, "\n") {
		buf = append(append(append(buf, "# "...), l...), '\n')
	}
	return buf
}

func sampleRecord(typ string, s sample.Sample) traceRecord {
	return traceRecord{Type: typ, Time: s.Time.UTC(), Kind: s.Kind, Source: s.Source, Version: s.Version,
		Metric: s.Metric, Period: traceDuration(s.Period), Outcome: s.Outcome, Value: s.Value, Status: s.Status,
		Latency: traceDuration(s.Latency), Reason: s.Reason}
}

func appendRecord(buf []byte, r traceRecord) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(r) // plain data: cannot fail
	return append(buf, b.Bytes()...)
}
