package history

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

func TestWriteListNewestFirst(t *testing.T) {
	now := t0.Add(3 * time.Hour)
	watches := []store.Watch{ // deliberately not sorted
		{ID: "w-old", Target: "checkout", Phase: store.PhasePromoted, KnownGood: "5", NewVersion: "6", DetectedAt: t0, EndedAt: t0.Add(10 * time.Minute), Reason: "baked 10m healthy"},
		{ID: "w-new", Target: "checkout", Phase: store.PhaseBaking, KnownGood: "6", NewVersion: "8", DetectedAt: now.Add(-90 * time.Second)},
		{ID: "w-mid", Target: "search", Phase: store.PhaseRolledBack, KnownGood: "", NewVersion: "3", DetectedAt: t0.Add(time.Hour),
			EndedAt: t0.Add(time.Hour + 5*time.Minute), IncidentID: "inc-w-mid", Reason: "error-rate\nbreached"},
	}
	incidents := []IncidentRef{
		{Incident: store.Incident{ID: "inc-a", Target: "checkout", OpenedAt: t0.Add(time.Minute), ClosedAt: t0.Add(3 * time.Minute), FromVersion: "6", ToVersion: "5", Trigger: "policy", Outcome: "rolled_back"}, Ref: "checkout#1"},
		{Incident: store.Incident{ID: "inc-w-mid", Target: "search", OpenedAt: t0.Add(time.Hour + 4*time.Minute), FromVersion: "3", Trigger: "manual", Actor: "ana"}, Ref: "search#1"},
	}
	var buf bytes.Buffer
	if err := WriteList(&buf, watches, incidents, now); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	order := []string{"WATCHES (3)", "w-new", "w-mid", "w-old", "INCIDENTS (2)", "inc-w-mid", "inc-a"}
	pos := -1
	for _, s := range order {
		i := strings.Index(out[pos+1:], s)
		if i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", s, out)
		}
		pos += 1 + i
	}
	watchPart, incidentPart, _ := strings.Cut(out, "INCIDENTS (")
	line := func(part, id string) string {
		for _, l := range strings.Split(part, "\n") {
			if strings.Contains(l, " "+id+" ") || strings.HasSuffix(l, " "+id) {
				return l
			}
		}
		t.Fatalf("no line for %s in:\n%s", id, part)
		return ""
	}
	checks := []struct {
		part, id string
		wants    []string
	}{
		{watchPart, "w-new", []string{"6 -> 8", "baking", "1m30s ago", "1m30s"}}, // running: lasted until now
		{watchPart, "w-old", []string{"5 -> 6", "promoted", "3h00m ago", "10m00s", "baked 10m healthy"}},
		{watchPart, "w-mid", []string{"none -> 3", "rolled_back", "inc-w-mid", "error-rate breached"}},
		{incidentPart, "inc-a", []string{"checkout#1", "6 -> 5", "policy", "rolled_back", "2m00s"}},
		{incidentPart, "inc-w-mid", []string{"search#1", "3 -> none", "manual by ana", "1h56m"}}, // still open: lasted until now
	}
	for _, c := range checks {
		l := line(c.part, c.id)
		for _, w := range c.wants {
			if !strings.Contains(l, w) {
				t.Errorf("%s line %q lacks %q", c.id, l, w)
			}
		}
	}
}

func TestWriteListEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteList(&buf, nil, nil, t0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "WATCHES (0)") || !strings.Contains(buf.String(), "INCIDENTS (0)") || strings.Contains(buf.String(), "TARGET") {
		t.Fatalf("empty list: %q", buf.String())
	}
}

// TestWriteListJSON: the listing as JSON, newest first, refs included,
// empty lists as [] (never null).
func TestWriteListJSON(t *testing.T) {
	var buf bytes.Buffer
	incs := []IncidentRef{
		{Incident: store.Incident{ID: "inc-1", Target: "api", OpenedAt: t0}, Ref: "api#1"},
		{Incident: store.Incident{ID: "inc-2", Target: "api", OpenedAt: t0.Add(time.Hour)}, Ref: "api#2"},
	}
	if err := WriteListJSON(&buf, nil, incs); err != nil {
		t.Fatal(err)
	}
	var l Listing
	if err := json.Unmarshal(buf.Bytes(), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Incidents) != 2 || l.Incidents[0].ID != "inc-2" || l.Incidents[0].Ref != "api#2" || l.Watches == nil {
		t.Fatalf("listing %+v", l)
	}
	if !strings.Contains(buf.String(), `"watches": []`) || !strings.Contains(buf.String(), `"ref": "api#1"`) {
		t.Fatalf("json:\n%s", buf.String())
	}
}
