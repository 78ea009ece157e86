package replay

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// The Append functions build trace lines in the format Run reads: what
// the daemon records for each watch it judges (observe.TraceRecorder), so that
// its decision can be replayed, tuned and shared. Each appends whole
// lines to buf and returns it.

// outRecord is a record as written: only the fields of its type, so that
// Run's strict decoding accepts it.
type outRecord struct {
	Type       string         `json:"type"`
	Time       time.Time      `json:"time"`
	KnownGood  *string        `json:"known_good,omitempty"`
	NewVersion string         `json:"new_version,omitempty"`
	Split      bool           `json:"split,omitempty"`
	Kind       sample.Kind    `json:"kind,omitempty"`
	Source     string         `json:"source,omitempty"`
	Version    string         `json:"version,omitempty"`
	Metric     string         `json:"metric,omitempty"`
	Period     string         `json:"period,omitempty"`
	Outcome    sample.Outcome `json:"outcome,omitempty"`
	Value      float64        `json:"value,omitempty"`
	Status     int            `json:"status,omitempty"`
	Latency    string         `json:"latency,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	At         *time.Time     `json:"at,omitempty"`
}

// AppendDeploy appends the watch's deploy record: judged from start, knownGood
// ("" when none) to newVersion, split when versions share the alias.
func AppendDeploy(buf []byte, start time.Time, knownGood, newVersion string, split bool) []byte {
	return appendRecord(buf, outRecord{Type: RecordDeploy, Time: start.UTC(), KnownGood: &knownGood, NewVersion: newVersion, Split: split})
}

// AppendBaseline appends a sample from before the deploy (alias-level metric
// periods, probe results of the known-good).
func AppendBaseline(buf []byte, s sample.Sample) []byte {
	return appendRecord(buf, sampleRecord(RecordBaseline, s))
}

// AppendSample appends a sample delivered to the watch at at.
func AppendSample(buf []byte, s sample.Sample, at time.Time) []byte {
	r := sampleRecord(RecordSample, s)
	at = at.UTC()
	r.At = &at
	return appendRecord(buf, r)
}

// AppendTick appends a tick record: replay evaluates at t (a trace's
// records otherwise end with its last delivery).
func AppendTick(buf []byte, t time.Time) []byte {
	return appendRecord(buf, outRecord{Type: RecordTick, Time: t.UTC()})
}

// AppendComment appends a comment line (Run skips it).
func AppendComment(buf []byte, text string) []byte {
	for _, l := range strings.Split(text, "\n") {
		buf = append(append(append(buf, "# "...), l...), '\n')
	}
	return buf
}

func sampleRecord(typ string, s sample.Sample) outRecord {
	r := outRecord{Type: typ, Time: s.Time.UTC(), Kind: s.Kind, Source: s.Source, Version: s.Version,
		Metric: s.Metric, Outcome: s.Outcome, Value: s.Value, Status: s.Status, Reason: s.Reason}
	if s.Period > 0 {
		r.Period = s.Period.String()
	}
	if s.Latency > 0 {
		r.Latency = s.Latency.String()
	}
	return r
}

func appendRecord(buf []byte, r outRecord) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(r) // plain data: cannot fail
	return append(buf, b.Bytes()...)
}
