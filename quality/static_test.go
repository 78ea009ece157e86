package quality

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// traceBuilder writes hand-made traces: a deploy at epoch, minutes of
// alias-level metrics delivered 10 s after they close, probes.
type traceBuilder struct{ recs []Record }

type minuteData struct {
	inv, errs, thr, p99 float64
	srcErr              bool
}

func (b *traceBuilder) minute(typ string, i int, m minuteData) {
	start := epoch.Add(time.Duration(i) * time.Minute)
	at := time.Time{}
	if typ == RecSample {
		at = start.Add(70 * time.Second)
	}
	for _, kv := range []struct {
		metric string
		v      float64
	}{{"Invocations", m.inv}, {"Errors", m.errs}, {"Throttles", m.thr}, {"Duration.p99", m.p99}} {
		s := sample.Sample{Kind: sample.KindMetric, Source: sourceCloudWatch, Metric: kv.metric, Time: start,
			Period: time.Minute, Outcome: sample.OutcomeOK, Value: kv.v}
		if m.srcErr {
			s.Outcome, s.Value, s.Reason = sample.OutcomeSourceError, 0, srcErrReason
		}
		b.recs = append(b.recs, Record{Type: typ, S: s, At: at})
	}
}

func (b *traceBuilder) probe(at time.Duration, ok bool) {
	s := sample.Sample{Kind: sample.KindProbe, Source: "health", Time: epoch.Add(at), Outcome: sample.OutcomeOK, Status: 200}
	if !ok {
		s.Outcome, s.Status = sample.OutcomeFail, 503
	}
	b.recs = append(b.recs, Record{Type: RecSample, S: s})
}

func (b *traceBuilder) bytes(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := WriteTrace(&buf, []string{"hand-made"}, b.recs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var healthy = minuteData{inv: 1000, errs: 10, p99: 100}

// newTrace is a baseline of 30 healthy minutes, the deploy at epoch, then
// the given minutes.
func newTrace(after ...minuteData) *traceBuilder {
	b := &traceBuilder{}
	for i := -baselineN; i < 0; i++ {
		b.minute(RecBaseline, i, healthy)
	}
	b.recs = append(b.recs, Record{Type: RecDeploy, Time: epoch, KnownGood: "41", NewVersion: "42"})
	for i, m := range after {
		b.minute(RecSample, i, m)
	}
	return b
}

// withProbes adds probes every 10 s from +10s, ok or failing.
func withProbes(b *traceBuilder, ok ...bool) *traceBuilder {
	for i, o := range ok {
		b.probe(time.Duration(i+1)*10*time.Second, o)
	}
	return b
}

// inIncident makes the last two baseline minutes breach the error alarm.
func inIncident(b *traceBuilder) *traceBuilder {
	for i := range b.recs {
		r := &b.recs[i]
		if r.Type == RecBaseline && r.S.Metric == "Errors" && !r.S.Time.Before(epoch.Add(-2*time.Minute)) {
			r.S.Value = 90
		}
	}
	return b
}

func TestStaticAlarm(t *testing.T) {
	bad := minuteData{inv: 1000, errs: 80, p99: 100}
	slow := minuteData{inv: 1000, errs: 10, p99: 160}
	blind := minuteData{srcErr: true}
	throttled := minuteData{inv: 900, errs: 9, thr: 100, p99: 100}
	tests := []struct {
		name  string
		trace *traceBuilder
		want  time.Duration // -1: no rollback
	}{
		{"healthy", newTrace(healthy, healthy, healthy, healthy), -1},
		{"errors 2 of 3", newTrace(healthy, bad, healthy, bad, healthy), 3*time.Minute + 70*time.Second},
		{"errors 1 of 3", newTrace(bad, healthy, healthy, bad, healthy), -1},
		{"errors next to a source error", newTrace(bad, blind, bad), 2*time.Minute + 70*time.Second},
		{"source errors are not breaches", newTrace(bad, blind, blind, healthy), -1},
		{"p99 3 of 3", newTrace(slow, slow, slow), 2*time.Minute + 70*time.Second},
		{"p99 2 of 3", newTrace(slow, slow, healthy, slow, slow), -1},
		{"throttles 2 of 3", newTrace(throttled, throttled), time.Minute + 70*time.Second},
		{"no traffic", newTrace(minuteData{}, minuteData{}, minuteData{}), -1},
		{"probe fail ok fail fail", withProbes(newTrace(healthy), false, true, false, false), -1},
		{"probe 3 failures in a row", withProbes(newTrace(healthy), true, false, false, false), 40 * time.Second},
		{"alarm already on at the deploy", inIncident(newTrace(healthy)), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := DefaultStatic().Judge(context.Background(), &Case{Bytes: tc.trace.bytes(t)})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Rollback(); got != (tc.want >= 0) || (got && d.At != tc.want) {
				t.Errorf("rollback %v at +%s (%s), want rollback %v at +%s", got, d.At, d.Note, tc.want >= 0, tc.want)
			}
		})
	}
}

func TestStaticAlarmNeedsDeploy(t *testing.T) {
	b := &traceBuilder{}
	b.minute(RecBaseline, -1, healthy)
	if _, err := DefaultStatic().Judge(context.Background(), &Case{Bytes: b.bytes(t)}); err == nil {
		t.Error("a trace without deploy record judged")
	}
}
