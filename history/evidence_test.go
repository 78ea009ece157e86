package history

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/evidence"
	"github.com/canaryd/canaryd/store"
)

// TestPostmortemCarriesTheEvidenceChart: the markdown draws the stored
// evidence series as an SVG image inside the document, and the snapshot is
// not a timeline line.
func TestPostmortemCarriesTheEvidenceChart(t *testing.T) {
	f := newFixture(t)
	base := 0.004
	le := 3.9
	s := evidence.Series{WatchID: f.watch.ID, Target: "checkout", NewVersion: "7", KnownGood: "6", Period: time.Minute,
		Rules: []evidence.Rule{{Name: "error-rate", Kind: "error_rate", Alpha: 0.001, Last: "error-rate: observed 0.084 > threshold 0.05",
			Points: []evidence.Point{
				{At: t0, Observed: 0.01, Baseline: &base, Threshold: 0.05, Verdict: "inconclusive"},
				{At: t0.Add(time.Minute), Observed: 0.084, Baseline: &base, Threshold: 0.05, LogE: &le, Breached: true, Verdict: "failing"},
			}}}}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	events := append(f.events, store.Event{Time: t0.Add(4 * time.Minute), Target: "checkout", WatchID: f.watch.ID,
		Type: event.EvidenceSnapshot, Message: "evidence kept", Data: data})
	d := Postmortem(f.in, f.journal, events, f.watch)
	if d.Evidence == nil || len(d.Evidence.Rules) != 1 {
		t.Fatalf("evidence %+v", d.Evidence)
	}
	for _, e := range d.Timeline {
		if e.Type == string(event.EvidenceSnapshot) {
			t.Errorf("the snapshot is a timeline line: %+v", e)
		}
	}
	var b strings.Builder
	if err := d.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	m := regexp.MustCompile(`!\[error-rate: version 7 vs known-good 6\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)`).FindStringSubmatch(md)
	if m == nil || !strings.Contains(md, "## Evidence") {
		t.Fatalf("markdown lacks the chart:\n%s", md)
	}
	svg, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("chart is not well-formed: %v", err)
		}
	}
	if !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), `class="breach"`) {
		t.Errorf("chart lacks its breach: %s", svg)
	}
}
