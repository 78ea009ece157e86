package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
)

// Trace format (JSON lines) read by Run.
//
// One JSON object per line; blank lines and lines starting with '#' are
// comments. Fields are decoded strictly: an unknown field, a field that does
// not belong to the record's type, or a missing required field is an error
// that names the line ("trace line 7: unknown field \"vaule\"").
//
//	{"type":"deploy","time":"2026-01-01T12:00:00Z","known_good":"3","new_version":"4","split":false}
//	    Starts the watch (exactly one per trace). known_good may be "".
//	    Optional "baseline_since": when the version the alias served
//	    before the deploy was first seen serving it alone. When the
//	    baseline metric records before it show another error rate,
//	    throttle rate or latency, the baseline's rates come from its first
//	    whole period on and the window's records before are left out; probe
//	    results before it that fail at another rate are dropped.
//	    Optional "reads":"recorded" (the daemon writes it): each metric
//	    sample's "at" is when the daemon's metric cycle read it, and
//	    replay gives it to the watch then (or at its "answered"),
//	    instead of modelling when the daemon's cycles read. Without it
//	    "at" is when CloudWatch had the period, and replay reads it at
//	    the next modelled cycle.
//	{"type":"baseline","kind":"metric","metric":"Errors","time":"...","period":"60s","outcome":"ok","value":3}
//	    An alias-level metric sample from before the deploy (Version ""):
//	    the known-good baseline when the alias does not split traffic.
//	    Those older than the target's baseline_window (counted back from
//	    the newest baseline period's end) are its shape history, read
//	    for the shape of the counts' bursts alone when the target has a
//	    longer shape_window (as the daemon reads Invocations, Errors and
//	    Throttles that far back). Without one, every baseline record is
//	    baseline, however old.
//	{"type":"baseline","kind":"probe","source":"health","time":"...","outcome":"fail","status":503}
//	    A probe result from before the deploy: the known-good version's
//	    health, which probe rules compare the new version with.
//	    Optional "at" on a baseline record: when the daemon had it, if that
//	    was after the deploy (its CloudWatch read of the baseline answered
//	    late); replay judges without it until then, as the daemon did.
//	    Without "at" (or at or before the deploy), it counts from the
//	    first second.
//	{"type":"sample","kind":"metric","metric":"Invocations","version":"","time":"...","period":"60s","outcome":"ok","value":1200}
//	{"type":"sample","kind":"probe","source":"health","time":"...","outcome":"fail","status":503,"latency":"120ms","reason":"status 503"}
//	    A sample.Sample (same field names: target, kind, source, version,
//	    time, period, outcome, metric, value, status, latency, reason).
//	    Durations are Go duration strings ("60s") or integer nanoseconds.
//	    Optional "at": when the sample was delivered; default: the period
//	    end for metric samples (time + period), the probe time for probes.
//	    A later sample with the same key replaces the earlier one (late
//	    CloudWatch data). Optional "answered", on metric samples only (the
//	    daemon writes it): "at" is when the daemon's metric cycle read it,
//	    "answered" when that read answered, if later (a slow or throttled
//	    CloudWatch); replay judges the cycle's samples from then on, and
//	    starts no other cycle before, as the daemon did.
//	{"type":"tick","time":"..."}
//	    Evaluate at this instant (e.g. to run the clock past the bake time).
//	    Optional "phase" (the daemon writes it at each change of its
//	    watch's phase): the phase the daemon moved the watch to at this
//	    instant, which replay reports next to its own outcome.
//
// Records may appear in any order; Run orders them by delivery time
// (stable, so equal times keep their file order).

// readsRecorded is the deploy record's "reads" when the daemon wrote the
// trace: each metric sample's "at" is the instant its metric cycle read
// it, not when CloudWatch had it, so replay gives it to the watch then
// ("answered": then, if later) instead of modelling the daemon's cycles.
// A daemon whose ticks slipped (a slow tick, a paused process, a restart
// that moved their phase) read at other instants than the model's.
const readsRecorded = "recorded"

// Record types.
const (
	RecordDeploy   = "deploy"
	RecordSample   = "sample"
	RecordBaseline = "baseline"
	RecordTick     = "tick"
)

// traceDuration is a duration written as "60s" or as integer nanoseconds.
type traceDuration time.Duration

func (d traceDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *traceDuration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = traceDuration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid duration %s: want \"60s\" or integer nanoseconds", b)
	}
	*d = traceDuration(n)
	return nil
}

// traceRecord is one line, as read and as written (write.go: the tags
// leave out what a record of its type does not carry).
type traceRecord struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	// deploy
	KnownGood  string `json:"known_good,omitempty"`
	NewVersion string `json:"new_version,omitempty"`
	Split      bool   `json:"split,omitempty"`
	// BaselineSince: when the version before the deploy was first seen
	// serving the alias alone (policy.Input.BaselineSince); optional.
	BaselineSince time.Time `json:"baseline_since,omitzero"`
	// Reads, "recorded" when the daemon wrote the trace: each metric
	// sample's "at" is when its metric cycle read it (readsRecorded).
	Reads string `json:"reads,omitempty"`
	// sample, baseline
	Target  string         `json:"target,omitempty"`
	Kind    sample.Kind    `json:"kind,omitempty"`
	Source  string         `json:"source,omitempty"`
	Version string         `json:"version,omitempty"`
	Metric  string         `json:"metric,omitempty"`
	Period  traceDuration  `json:"period,omitempty"`
	Outcome sample.Outcome `json:"outcome,omitempty"`
	Value   float64        `json:"value,omitempty"`
	Status  int            `json:"status,omitempty"`
	Latency traceDuration  `json:"latency,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	At      time.Time      `json:"at,omitzero"`
	// Phase, on a tick the daemon recorded: its watch's phase from that
	// instant on (a trip, a promotion, the end of its rollback window).
	Phase store.Phase `json:"phase,omitempty"`
	// Answered, on a metric sample the daemon recorded: when the
	// CloudWatch read that got it (at its "at") answered and the daemon
	// could judge it.
	Answered time.Time `json:"answered,omitzero"`

	line int
	at   time.Time // delivery time
}

func (r *traceRecord) sample() sample.Sample {
	return sample.Sample{
		Target: r.Target, Kind: r.Kind, Source: r.Source, Version: r.Version,
		Time: r.Time.UTC(), Period: time.Duration(r.Period), Outcome: r.Outcome,
		Metric: r.Metric, Value: r.Value, Status: r.Status,
		Latency: time.Duration(r.Latency), Reason: r.Reason,
	}
}

// end is when a sample record's measurement ended: its period's end for a
// metric, its time for a probe result (whatever its "at" says).
func (r *traceRecord) end() time.Time {
	if r.Kind == sample.KindMetric {
		return r.Time.Add(time.Duration(r.Period))
	}
	return r.Time
}

// TraceError is a malformed trace record.
type TraceError struct {
	Line int
	Err  error
}

func (e *TraceError) Error() string { return fmt.Sprintf("trace line %d: %v", e.Line, e.Err) }
func (e *TraceError) Unwrap() error { return e.Err }

const maxTraceLine = 1 << 20

// readTrace decodes and validates every record; period fills a metric
// sample's missing period.
func readTrace(r io.Reader, period time.Duration) ([]traceRecord, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var recs []traceRecord
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(b) > maxTraceLine {
			return nil, &TraceError{line, fmt.Errorf("line longer than %d bytes", maxTraceLine)}
		}
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] != '#' {
			rec, derr := decodeRecord(t, period)
			if derr != nil {
				return nil, &TraceError{line, derr}
			}
			rec.line = line
			recs = append(recs, rec)
		}
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read trace: %w", err)
		}
	}
}

func decodeRecord(b []byte, period time.Duration) (traceRecord, error) {
	var rec traceRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return rec, errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return rec, errors.New("more than one JSON value on the line")
	}
	if rec.Time.IsZero() {
		return rec, errors.New(`missing "time"`)
	}
	isSample := rec.Type == RecordSample || rec.Type == RecordBaseline
	if !isSample {
		if f := sampleFieldSet(&rec); f != "" {
			return rec, fmt.Errorf("field %q does not belong in a %s record", f, rec.Type)
		}
	}
	switch rec.Type {
	case RecordDeploy:
		if rec.NewVersion == "" {
			return rec, errors.New(`deploy record needs "new_version"`)
		}
		if rec.Reads != "" && rec.Reads != readsRecorded {
			return rec, fmt.Errorf(`reads %q: want %q (each metric sample's "at" is when the daemon read it) or no "reads"`, rec.Reads, readsRecorded)
		}
		rec.at = rec.Time
	case RecordTick:
		if deployFieldSet(&rec) {
			return rec, errors.New("tick records carry only type, time and phase")
		}
		rec.at = rec.Time
	case RecordSample, RecordBaseline:
		if deployFieldSet(&rec) {
			return rec, fmt.Errorf("known_good, new_version, split, baseline_since and reads belong in the deploy record, not a %s record", rec.Type)
		}
		if err := checkSample(&rec, period); err != nil {
			return rec, err
		}
	case "":
		return rec, errors.New(`missing "type"`)
	default:
		return rec, fmt.Errorf("unknown record type %q (want deploy, sample, baseline or tick)", rec.Type)
	}
	if !rec.At.IsZero() {
		rec.at = rec.At
	}
	if rec.Phase != "" && rec.Type != RecordTick {
		return rec, fmt.Errorf(`"phase" belongs only in tick records (the daemon's phase of the watch from then on), not a %s record`, rec.Type)
	}
	if !rec.Answered.IsZero() {
		if rec.Type != RecordSample || rec.Kind != sample.KindMetric {
			return rec, errors.New(`"answered" belongs only in metric sample records (when the daemon's read of it answered)`)
		}
		if rec.Answered.Before(rec.at) {
			return rec, fmt.Errorf(`"answered" %s is before the sample's delivery %s`, rec.Answered.Format(time.RFC3339Nano), rec.at.Format(time.RFC3339Nano))
		}
	}
	return rec, nil
}

// deployFieldSet reports whether a record sets a field of the deploy
// record's own.
func deployFieldSet(r *traceRecord) bool {
	return r.KnownGood != "" || r.NewVersion != "" || r.Split || !r.BaselineSince.IsZero() || r.Reads != ""
}

func sampleFieldSet(r *traceRecord) string {
	switch {
	case r.Kind != "":
		return "kind"
	case r.Source != "":
		return "source"
	case r.Metric != "":
		return "metric"
	case r.Outcome != "":
		return "outcome"
	case r.Version != "":
		return "version"
	case r.Value != 0:
		return "value"
	case r.Period != 0:
		return "period"
	case r.Status != 0, r.Latency != 0, r.Reason != "", r.Target != "":
		return "status/latency/reason/target"
	case !r.At.IsZero():
		return "at"
	case !r.Answered.IsZero():
		return "answered"
	}
	return ""
}

func checkSample(r *traceRecord, period time.Duration) error {
	switch r.Outcome {
	case sample.OutcomeOK, sample.OutcomeFail, sample.OutcomeNoData, sample.OutcomeSourceError:
	default:
		return fmt.Errorf("outcome %q: want ok, fail, no_data or source_error", r.Outcome)
	}
	switch r.Kind {
	case sample.KindMetric:
		if r.Metric == "" {
			return errors.New(`metric sample needs "metric"`)
		}
		if r.Period < 0 {
			return errors.New("period must not be negative")
		}
		if r.Period == 0 {
			r.Period = traceDuration(period)
		}
		r.at = r.Time.Add(time.Duration(r.Period))
	case sample.KindProbe:
		if r.Source == "" {
			return errors.New(`probe sample needs "source" (the probe name)`)
		}
		r.at = r.Time
	default:
		return fmt.Errorf("kind %q: want metric or probe", r.Kind)
	}
	if r.Type == RecordBaseline && r.Version != "" {
		return errors.New(`baseline samples are alias-level: "version" must be empty`)
	}
	return nil
}
