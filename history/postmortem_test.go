package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

type fixture struct {
	in      store.Incident
	watch   store.Watch
	journal []store.JournalEntry
	events  []store.Event
	verdict policy.Verdict
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	deployed := t0
	tripped := t0.Add(4*time.Minute + 12*time.Second)
	base := 0.004
	v := policy.Verdict{Kind: policy.Failing, At: tripped, Summary: "error-rate: observed 0.084 > threshold 0.05",
		Findings: []policy.Finding{
			{Rule: "error-rate", RuleKind: "error_rate", Breached: true, Enough: true, Observed: 0.084, Threshold: 0.05, Op: ">",
				Baseline: &base, Window: 5 * time.Minute, Samples: 5, Evidence: 1200, MinEvidence: 50, Version: "7"},
			{Rule: "p99-latency", RuleKind: "latency", Breached: false, Enough: true, Observed: 312, Threshold: 800, Op: ">",
				Window: 5 * time.Minute, Samples: 5},
		}}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	in := store.Incident{ID: "inc-checkout-7", Target: "checkout", WatchID: "w-checkout-7", OpenedAt: tripped.Add(100 * time.Millisecond),
		ClosedAt: tripped.Add(95 * time.Second), FromVersion: "7", ToVersion: "6", Trigger: "policy", Verdict: raw, Outcome: "rolled_back"}
	w := store.Watch{ID: "w-checkout-7", Target: "checkout", Phase: store.PhaseRolledBack, KnownGood: "6", NewVersion: "7",
		Source: "poll", DetectedAt: deployed, IncidentID: in.ID}
	j := func(step int, name string, st store.StepStatus, at time.Duration, d time.Duration, errText, detail string) store.JournalEntry {
		e := store.JournalEntry{PlanID: in.ID, Target: "checkout", Step: step, Name: name, Status: st, Time: tripped.Add(at), Duration: d, Error: errText}
		if detail != "" {
			e.Detail = json.RawMessage(detail)
		}
		return e
	}
	journal := []store.JournalEntry{
		j(0, "lambda-alias", store.StepIntent, 1*time.Second, 0, "", ""),
		j(0, "lambda-alias", store.StepDone, 1*time.Second+830*time.Millisecond, 830*time.Millisecond, "", `{"revision_id": "r-2"}`),
		j(1, "cloudfront:E123", store.StepIntent, 2*time.Second, 0, "", ""),
		j(1, "cloudfront:E123", store.StepDone, 14*time.Second, 12*time.Second, "", `{"invalidation":"I1"}`),
		j(2, "redis:sessions", store.StepIntent, 15*time.Second, 0, "", ""),
		j(2, "redis:sessions", store.StepFailed, 16*time.Second, time.Second, "dial tcp: connection refused", ""),
		j(2, "redis:sessions", store.StepIntent, 20*time.Second, 0, "", ""),
		j(2, "redis:sessions", store.StepDone, 21*time.Second+500*time.Millisecond, 1500*time.Millisecond, "", `{"keys_removed":42}`),
		j(3, "webhook:deploy-bot", store.StepIntent, 22*time.Second, 0, "", ""),
	}
	events := []store.Event{
		{Time: deployed, Target: "checkout", WatchID: w.ID, Type: "watch_started", Message: "watching version 7 (known-good 6)"},
		{Time: deployed.Add(time.Minute), Target: "checkout", WatchID: w.ID, Type: "verdict", Message: "inconclusive: 12 invocations < 50"},
		{Time: tripped, Target: "checkout", WatchID: w.ID, IncidentID: in.ID, Type: "tripped", Message: "tripped: error-rate 0.084 > 0.05"},
		{Time: tripped.Add(2 * time.Second), Target: "checkout", IncidentID: in.ID, Type: "alert_sent", Message: "pagerduty: trigger delivered",
			Data: json.RawMessage(`{"notifier": "pd-oncall"}`)},
		{Time: tripped.Add(3 * time.Second), Target: "checkout", IncidentID: in.ID, Type: "alert_sent", Message: "slack: delivered"},
		{Time: tripped.Add(95 * time.Second), Target: "checkout", IncidentID: in.ID, Type: "rollback_done", Message: "health verified on version 6"},
	}
	return fixture{in: in, watch: w, journal: journal, events: events, verdict: v}
}

func TestPostmortemModel(t *testing.T) {
	f := newFixture(t)
	d := Postmortem(f.in, f.journal, f.events, f.watch)
	if d.Versions != (Versions{Bad: "7", KnownGood: "6"}) {
		t.Errorf("versions %+v", d.Versions)
	}
	if !d.DetectedAt.Equal(f.verdict.At) || d.TimeToDetect != f.verdict.At.Sub(f.watch.DetectedAt) {
		t.Errorf("detection %v ttd %v", d.DetectedAt, d.TimeToDetect)
	}
	aliasDone := f.journal[1].Time
	if !d.MitigatedAt.Equal(aliasDone) || d.TimeToMitigate != aliasDone.Sub(f.verdict.At) {
		t.Errorf("mitigation %v ttm %v", d.MitigatedAt, d.TimeToMitigate)
	}
	if len(d.Triggering) != 1 || d.Triggering[0].Rule != "error-rate" || len(d.Findings) != 2 {
		t.Errorf("findings: %+v / %+v", d.Triggering, d.Findings)
	}
	wantActions := []struct {
		name, status string
		d            time.Duration
		attempts     int
	}{
		{"lambda-alias", "done", 830 * time.Millisecond, 1},
		{"cloudfront:E123", "done", 12 * time.Second, 1},
		{"redis:sessions", "done", 1500 * time.Millisecond, 2},
		{"webhook:deploy-bot", "interrupted", 0, 1},
	}
	if len(d.Actions) != len(wantActions) {
		t.Fatalf("actions: %+v", d.Actions)
	}
	for i, w := range wantActions {
		a := d.Actions[i]
		if a.Name != w.name || a.Status != w.status || a.Duration != w.d || a.Attempts != w.attempts || a.Error != "" {
			t.Errorf("action %d: %+v, want %+v", i, a, w)
		}
	}
	if len(d.Alerts) != 2 || d.Alerts[0].Message != "pagerduty: trigger delivered" || d.Alerts[0].Offset != 2*time.Second ||
		d.Alerts[0].Detail != `{"notifier":"pd-oncall"}` {
		t.Errorf("alerts: %+v", d.Alerts)
	}
	// The timeline holds every event and every journal entry, in time order.
	if got, want := len(d.Timeline), len(f.events)+len(f.journal); got < want {
		t.Errorf("timeline has %d entries, want at least %d", got, want)
	}
	for i := 1; i < len(d.Timeline); i++ {
		if d.Timeline[i].Time.Before(d.Timeline[i-1].Time) {
			t.Errorf("timeline out of order at %d: %+v", i, d.Timeline[i])
		}
	}
	for _, e := range d.Timeline {
		if e.Offset != e.Time.Sub(d.DetectedAt) {
			t.Errorf("offset of %q: %v", e.Message, e.Offset)
		}
	}
	for _, want := range []string{"Version 7 of target checkout", "error-rate", "observed 0.084", "threshold 0.05", "rollback to version 6", "rolled_back"} {
		if !strings.Contains(d.Summary, want) {
			t.Errorf("summary %q lacks %q", d.Summary, want)
		}
	}
}

func TestPostmortemMarkdown(t *testing.T) {
	f := newFixture(t)
	d := Postmortem(f.in, f.journal, f.events, f.watch)
	var buf bytes.Buffer
	if err := d.Markdown(&buf); err != nil {
		t.Fatal(err)
	}
	md := buf.String()

	// Every event and step appears in the timeline section, in order.
	tl := section(t, md, "## Timeline", "## Actions")
	last := -1
	for _, e := range d.Timeline {
		line := fmt.Sprintf("| %s | %s | %s |", e.Time.UTC().Format(tsLayout), rel(e.Offset), e.Source)
		i := strings.Index(tl[last+1:], line)
		if i < 0 {
			t.Fatalf("timeline lacks %q after position %d:\n%s", line, last, tl)
		}
		last += 1 + i
		if !strings.Contains(tl[last:], e.Message) {
			t.Errorf("timeline entry lacks message %q", e.Message)
		}
	}
	for _, e := range f.events {
		if !strings.Contains(tl, e.Message) {
			t.Errorf("timeline lacks event %q", e.Message)
		}
	}
	for _, want := range []string{"T-4m12s", "T+1.83s", "T+2s"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks relative time %s", want)
		}
	}

	// The triggering rule with its values.
	rule := section(t, md, "## Triggering rule", "## Timeline")
	fd := f.verdict.Findings[0]
	for _, want := range []string{fd.Rule, fd.RuleKind, fmt.Sprintf("%.4g", fd.Observed), fmt.Sprintf("%.4g", fd.Threshold),
		fmt.Sprintf("%.4g", *fd.Baseline), fd.Window.String(), "1200 (min 50)", "**yes**", f.verdict.Summary} {
		if !strings.Contains(rule, want) {
			t.Errorf("rule section lacks %q:\n%s", want, rule)
		}
	}

	// Versions and durations.
	for _, want := range []string{"| Bad version | 7 |", "| Known-good version | 6 |", "| Outcome | rolled_back |",
		"time to detect " + d.TimeToDetect.String(), "time to mitigate " + d.TimeToMitigate.String()} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	acts := section(t, md, "## Actions", "## Alerts sent")
	for _, a := range d.Actions {
		want := fmt.Sprintf("| %d | %s | %s | %s | %s | %d |", a.Step, a.Name, a.Status, a.Start.UTC().Format(tsLayout), a.Duration, a.Attempts)
		if !strings.Contains(acts, want) {
			t.Errorf("actions lack %q:\n%s", want, acts)
		}
	}
	if !strings.Contains(acts, `{"keys_removed":42}`) {
		t.Errorf("actions lack the step detail")
	}
	alerts := section(t, md, "## Alerts sent", "## For the humans")
	for _, a := range d.Alerts {
		if !strings.Contains(alerts, a.Message) {
			t.Errorf("alerts lack %q", a.Message)
		}
	}
	for _, want := range []string{"### Root cause", "_To be written._", "### Follow-ups", "- [ ] "} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

func TestPostmortemDegradedInputs(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*fixture)
		want   []string
	}{
		{"unreadable verdict", func(f *fixture) { f.in.Verdict = json.RawMessage(`{"kind": 3`) }, []string{"stored verdict is not readable"}},
		{"manual rollback, no verdict", func(f *fixture) { f.in.Verdict = nil; f.in.Trigger = "manual"; f.in.Actor = "ana" },
			[]string{"No policy verdict was recorded (trigger: manual by ana)", "was rolled back by manual by ana"}},
		{"no known-good", func(f *fixture) {
			f.in.ToVersion, f.watch.KnownGood, f.in.Outcome, f.journal = "", "", "not_executed", nil
		}, []string{"no known-good version was recorded", "| Known-good version | none |", "No plan step was journaled."}},
		{"no watch, no events", func(f *fixture) { f.watch, f.events = store.Watch{}, nil }, []string{"No alert delivery was recorded.", "incident_opened"}},
		{"pipes and newlines in messages", func(f *fixture) { f.events[0].Message = "a|b\nc" }, []string{`a\|b<br>c`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.mutate(&f)
			var buf bytes.Buffer
			if err := Postmortem(f.in, f.journal, f.events, f.watch).Markdown(&buf); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("lacks %q:\n%s", w, buf.String())
				}
			}
		})
	}
}

func TestPostmortemJSONRoundTrip(t *testing.T) {
	f := newFixture(t)
	d := Postmortem(f.in, f.journal, f.events, f.watch)
	var buf bytes.Buffer
	if err := d.JSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Doc
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.IncidentID != d.IncidentID || len(back.Timeline) != len(d.Timeline) || len(back.Actions) != len(d.Actions) ||
		back.Triggering[0].Observed != 0.084 || back.TimeToMitigate != d.TimeToMitigate {
		t.Fatalf("round trip lost data: %+v", back)
	}
}

// section returns the text between two headings.
func section(t *testing.T, md, from, to string) string {
	t.Helper()
	i := strings.Index(md, from)
	j := strings.Index(md, to)
	if i < 0 || j < i {
		t.Fatalf("sections %q..%q not found in:\n%s", from, to, md)
	}
	return md[i:j]
}
