package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestProbeBaselineRoundTrip: probe results come back from the compact
// form, through JSON, as they went in (to the nanosecond, probe names and
// failures in place), and the form stays small.
func TestProbeBaselineRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 11, 59, 0, 123456789, time.UTC)
	var in []ProbeResult
	for i := range 64 {
		in = append(in, ProbeResult{At: t0.Add(time.Duration(i) * 10 * time.Second), Probe: []string{"health", "deep"}[i%3/2], Failed: i%7 == 3})
	}
	for _, rs := range [][]ProbeResult{nil, in[:1], in} {
		raw, err := json.Marshal(NewProbeBaseline(rs))
		if err != nil {
			t.Fatal(err)
		}
		var b ProbeBaseline
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		got, err := b.Results()
		if err != nil || len(got) != len(rs) || (len(rs) > 0 && !reflect.DeepEqual(got, rs)) {
			t.Fatalf("%d results: got %+v, %v", len(rs), got, err)
		}
		if len(rs) == 64 && len(raw) > 1600 {
			t.Errorf("64 results take %d bytes of JSON, want at most 1,600", len(raw))
		}
	}
}

// TestProbeBaselineMalformed: a stored baseline whose parts disagree is an
// error naming what is wrong, never a panic.
func TestProbeBaselineMalformed(t *testing.T) {
	for _, c := range []struct {
		b    ProbeBaseline
		want string
	}{
		{ProbeBaseline{Probes: []string{"health"}, AtNS: []int64{1, 2}, Probe: []int{0}}, "1 probe indexes for 2 results"},
		{ProbeBaseline{Probes: []string{"health"}, AtNS: []int64{1}, Probe: []int{1}}, "names probe 1 of 1"},
		{ProbeBaseline{AtNS: []int64{1}}, "names probe 0 of 0"},
		{ProbeBaseline{Probes: []string{"health"}, AtNS: []int64{1}, Failed: []int{1}}, "failed result 1 of 1"},
	} {
		if _, err := c.b.Results(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error saying %q", c.b, err, c.want)
		}
	}
}
