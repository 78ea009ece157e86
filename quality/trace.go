package quality

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// This file writes replay traces (format: testdata/traces/README.md and
// policy/trace.go) and reads them back for the judges that do not run
// canaryd (the static alarm).

// Record types of the trace format.
const (
	RecDeploy   = "deploy"
	RecBaseline = "baseline"
	RecSample   = "sample"
	RecTick     = "tick"
)

// sourceCloudWatch is the source the watcher stamps on metric samples.
const sourceCloudWatch = "cloudwatch"

// Record is one line of a replay trace.
type Record struct {
	Type string
	// deploy and tick
	Time                  time.Time
	KnownGood, NewVersion string
	Split                 bool
	// baseline and sample
	S  sample.Sample
	At time.Time // delivery time; zero: the format's default
}

// Delivered is when the record reaches the judge: At, else the period end
// for metric samples, else its time.
func (r *Record) Delivered() time.Time {
	switch {
	case !r.At.IsZero():
		return r.At
	case r.Type == RecDeploy || r.Type == RecTick:
		return r.Time
	case r.S.Kind == sample.KindMetric:
		return r.S.Time.Add(r.S.Period)
	}
	return r.S.Time
}

// WriteTrace writes records as JSON lines, after comment lines.
func WriteTrace(w io.Writer, comments []string, recs []Record) error {
	var b []byte
	for _, c := range comments {
		b = append(append(append(b, "# "...), c...), '\n')
	}
	for i := range recs {
		b = appendRecord(b, &recs[i])
	}
	_, err := w.Write(b)
	return err
}

func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"type":`...)
	b = strconv.AppendQuote(b, r.Type)
	switch r.Type {
	case RecDeploy:
		b = appendTime(append(b, `,"time":`...), r.Time)
		b = strconv.AppendQuote(append(b, `,"known_good":`...), r.KnownGood)
		b = strconv.AppendQuote(append(b, `,"new_version":`...), r.NewVersion)
		b = strconv.AppendBool(append(b, `,"split":`...), r.Split)
	case RecTick:
		b = appendTime(append(b, `,"time":`...), r.Time)
	default:
		b = appendSample(b, &r.S)
		if !r.At.IsZero() {
			b = appendTime(append(b, `,"at":`...), r.At)
		}
	}
	return append(b, "}\n"...)
}

func appendSample(b []byte, s *sample.Sample) []byte {
	b = strconv.AppendQuote(append(b, `,"kind":`...), string(s.Kind))
	b = strconv.AppendQuote(append(b, `,"source":`...), s.Source)
	if s.Metric != "" {
		b = strconv.AppendQuote(append(b, `,"metric":`...), s.Metric)
	}
	if s.Version != "" {
		b = strconv.AppendQuote(append(b, `,"version":`...), s.Version)
	}
	b = appendTime(append(b, `,"time":`...), s.Time)
	if s.Period != 0 {
		b = append(b, `,"period":`...)
		b = append(b, durationString(s.Period)...)
	}
	b = strconv.AppendQuote(append(b, `,"outcome":`...), string(s.Outcome))
	if s.Outcome == sample.OutcomeOK && s.Kind == sample.KindMetric {
		b = strconv.AppendFloat(append(b, `,"value":`...), s.Value, 'f', -1, 64)
	}
	if s.Status != 0 {
		b = strconv.AppendInt(append(b, `,"status":`...), int64(s.Status), 10)
	}
	if s.Latency != 0 {
		b = strconv.AppendQuote(append(b, `,"latency":`...), s.Latency.String())
	}
	if s.Reason != "" {
		b = strconv.AppendQuote(append(b, `,"reason":`...), s.Reason)
	}
	return b
}

// durationString writes whole seconds as "60s", anything else as Go does.
func durationString(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.Quote(strconv.FormatInt(int64(d/time.Second), 10) + "s")
	}
	return strconv.Quote(d.String())
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// jsonRecord is the permissive shape ReadTrace decodes; canaryd's own
// reader (policy) is the strict one.
type jsonRecord struct {
	Type       string          `json:"type"`
	Time       time.Time       `json:"time"`
	At         time.Time       `json:"at"`
	KnownGood  string          `json:"known_good"`
	NewVersion string          `json:"new_version"`
	Split      bool            `json:"split"`
	Target     string          `json:"target"`
	Kind       sample.Kind     `json:"kind"`
	Source     string          `json:"source"`
	Version    string          `json:"version"`
	Period     json.RawMessage `json:"period"`
	Outcome    sample.Outcome  `json:"outcome"`
	Metric     string          `json:"metric"`
	Value      float64         `json:"value"`
	Status     int             `json:"status"`
	Latency    json.RawMessage `json:"latency"`
	Reason     string          `json:"reason"`
}

// ReadTrace reads a trace's records (comments skipped). Metric samples
// without a period get 60s.
func ReadTrace(r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []Record
	for line := 1; sc.Scan(); line++ {
		t := bytes.TrimSpace(sc.Bytes())
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		var j jsonRecord
		if err := json.Unmarshal(t, &j); err != nil {
			return nil, fmt.Errorf("trace line %d: %w", line, err)
		}
		rec, err := j.record()
		if err != nil {
			return nil, fmt.Errorf("trace line %d: %w", line, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

func (j *jsonRecord) record() (Record, error) {
	rec := Record{Type: j.Type, Time: j.Time, KnownGood: j.KnownGood, NewVersion: j.NewVersion, Split: j.Split, At: j.At}
	switch j.Type {
	case RecDeploy, RecTick:
		return rec, nil
	case RecBaseline, RecSample:
	default:
		return rec, fmt.Errorf("unknown record type %q", j.Type)
	}
	p, err1 := jsonDuration(j.Period)
	lat, err2 := jsonDuration(j.Latency)
	if err := errors.Join(err1, err2); err != nil {
		return rec, err
	}
	if j.Kind == sample.KindMetric && p == 0 {
		p = period
	}
	rec.Time = time.Time{}
	rec.S = sample.Sample{Target: j.Target, Kind: j.Kind, Source: j.Source, Version: j.Version, Time: j.Time,
		Period: p, Outcome: j.Outcome, Metric: j.Metric, Value: j.Value, Status: j.Status, Latency: lat, Reason: j.Reason}
	return rec, nil
}

func jsonDuration(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return time.ParseDuration(s)
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("bad duration %s", raw)
	}
	return time.Duration(n), nil
}
