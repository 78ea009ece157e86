package quality

import (
	"io"
	"strconv"
	"time"

	"github.com/canaryd/canaryd/replay"
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
	BaselineSince         time.Time // deploy: the format's optional baseline_since (zero: none)
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
		if !r.BaselineSince.IsZero() {
			b = appendTime(append(b, `,"baseline_since":`...), r.BaselineSince)
		}
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

// ReadTrace reads a trace with canaryd's own strict reader (replay.Parse):
// the deploy first, then the records in order of delivery, each with its
// delivery time.
func ReadTrace(r io.Reader) ([]Record, error) {
	tr, err := replay.Parse(r, period)
	if err != nil {
		return nil, err
	}
	d := tr.Deploy
	out := []Record{{Type: RecDeploy, Time: d.Time, KnownGood: d.KnownGood, NewVersion: d.NewVersion, Split: d.Split, BaselineSince: d.BaselineSince, At: d.Time}}
	for _, rec := range tr.Records {
		r := Record{Type: rec.Type, S: rec.Sample, At: rec.At}
		if rec.Type == RecTick {
			r.Time = rec.At
		}
		out = append(out, r)
	}
	return out, nil
}
