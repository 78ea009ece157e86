package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/evidence"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// Doc is a postmortem draft of one incident: everything canaryd knows,
// arranged the way a postmortem is written, with the human parts (root
// cause, follow-ups) left blank.
type Doc struct {
	IncidentID string `json:"incident_id"`
	Target     string `json:"target"`
	WatchID    string `json:"watch_id,omitempty"`
	Summary    string `json:"summary"`
	Trigger    string `json:"trigger"` // policy | operator | manual
	Actor      string `json:"actor,omitempty"`
	Outcome    string `json:"outcome,omitempty"`

	Versions Versions `json:"versions"`

	DeployedAt     time.Time     `json:"deployed_at,omitzero"` // the watch saw the deploy
	DetectedAt     time.Time     `json:"detected_at"`          // the verdict that tripped, else the incident opening
	MitigatedAt    time.Time     `json:"mitigated_at,omitzero"`
	ClosedAt       time.Time     `json:"closed_at,omitzero"`
	TimeToDetect   time.Duration `json:"time_to_detect,omitempty"`
	TimeToMitigate time.Duration `json:"time_to_mitigate,omitempty"`

	Verdict      *policy.Verdict  `json:"verdict,omitempty"`
	VerdictError string           `json:"verdict_error,omitempty"` // the stored verdict could not be read
	Triggering   []policy.Finding `json:"triggering"`              // the breached findings
	Findings     []policy.Finding `json:"findings"`                // every rule evaluated

	// Evidence is the watch's evidence series as stored when its verdict
	// turned (package evidence): the postmortem's charts.
	Evidence *evidence.Series `json:"evidence,omitempty"`

	Timeline []TimelineEntry `json:"timeline"`
	Actions  []Action        `json:"actions"`
	Alerts   []Alert         `json:"alerts"`

	// For the humans.
	RootCause string   `json:"root_cause"`
	FollowUps []string `json:"follow_ups"`
}

// Versions are the versions the incident is about.
type Versions struct {
	Bad       string `json:"bad"`
	KnownGood string `json:"known_good"` // "" = none known: alert only
}

// TimelineEntry is one thing that happened. Offset is relative to
// DetectedAt (negative before it).
type TimelineEntry struct {
	Time    time.Time     `json:"time"`
	Offset  time.Duration `json:"offset"`
	Source  string        `json:"source"` // incident | event | step
	Type    string        `json:"type"`
	Message string        `json:"message"`
}

// Action is one plan step, from its first intent to its last status.
type Action struct {
	Step     int           `json:"step"`
	Name     string        `json:"name"`
	Status   string        `json:"status"` // last status; "interrupted" if only an intent
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end,omitzero"`
	Duration time.Duration `json:"duration"`
	Attempts int           `json:"attempts"`
	Detail   string        `json:"detail,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// Alert is one notification canaryd sent (events of type alert_sent).
type Alert struct {
	Time    time.Time     `json:"time"`
	Offset  time.Duration `json:"offset"`
	Message string        `json:"message"`
	Detail  string        `json:"detail,omitempty"`
}

// Postmortem builds the draft of an incident from what the store holds.
// It never fails: what cannot be decoded is reported inside the Doc.
func Postmortem(in store.Incident, journal []store.JournalEntry, events []store.Event, watch store.Watch) Doc {
	d := Doc{
		IncidentID: in.ID, Target: in.Target, WatchID: in.WatchID, Trigger: in.Trigger, Actor: in.Actor,
		Outcome:    string(in.Outcome),
		Versions:   Versions{Bad: in.FromVersion, KnownGood: in.ToVersion},
		DeployedAt: watch.DetectedAt, DetectedAt: in.OpenedAt, ClosedAt: in.ClosedAt,
		Triggering: []policy.Finding{}, Findings: []policy.Finding{},
		FollowUps: []string{},
	}
	if d.Target == "" {
		d.Target = watch.Target
	}
	if d.Versions.Bad == "" {
		d.Versions.Bad = watch.NewVersion
	}
	if d.Versions.KnownGood == "" {
		d.Versions.KnownGood = watch.KnownGood
	}
	d.decodeVerdict(in.Verdict)
	if !d.DeployedAt.IsZero() && d.DetectedAt.After(d.DeployedAt) {
		d.TimeToDetect = d.DetectedAt.Sub(d.DeployedAt)
	}
	d.Actions = actions(journal)
	d.mitigation()
	if s, ok := evidence.FromEvents(events); ok {
		d.Evidence = &s
	}
	d.Timeline = d.timeline(in, journal, events)
	d.Alerts = d.alerts(events)
	d.Summary = d.summary()
	return d
}

func (d *Doc) decodeVerdict(raw json.RawMessage) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return
	}
	var v policy.Verdict
	if err := json.Unmarshal(raw, &v); err != nil {
		d.VerdictError = fmt.Sprintf("stored verdict is not readable: %v", err)
		return
	}
	d.Verdict = &v
	if !v.At.IsZero() {
		d.DetectedAt = v.At
	}
	d.Findings = append(d.Findings, v.Findings...)
	for _, f := range v.Findings {
		if f.Breached {
			d.Triggering = append(d.Triggering, f)
		}
	}
}

// actions folds the journal into one Action per step.
func actions(journal []store.JournalEntry) []Action {
	byStep := map[int]*Action{}
	var order []int
	for _, e := range journal {
		a, ok := byStep[e.Step]
		if !ok {
			a = &Action{Step: e.Step, Name: e.Name, Start: e.Time}
			byStep[e.Step] = a
			order = append(order, e.Step)
		}
		if e.Status == store.StepIntent {
			a.Attempts++
			a.Error = "" // a retry: report the retry's result
			a.Status, a.End, a.Duration = string(store.StepIntent), time.Time{}, 0
			continue
		}
		a.Status, a.End = string(e.Status), e.Time
		a.Duration = e.Duration
		if a.Duration <= 0 && !a.Start.IsZero() {
			a.Duration = e.Time.Sub(a.Start)
		}
		if len(e.Detail) > 0 {
			a.Detail = compactJSON(e.Detail)
		}
		if e.Error != "" {
			a.Error = e.Error
		}
	}
	sort.Ints(order)
	out := make([]Action, 0, len(order))
	for _, s := range order {
		a := byStep[s]
		if a.Status == string(store.StepIntent) {
			a.Status = "interrupted"
		}
		out = append(out, *a)
	}
	return out
}

// mitigation sets MitigatedAt from the alias step (the first step, or the
// second after stopping CodeDeploy; it is what stops the harm) when it is
// done, else from the incident closing with a rolled_back outcome.
func (d *Doc) mitigation() {
	for _, a := range d.Actions {
		if a.Status == string(store.StepDone) && !a.End.IsZero() && (a.Step == 0 && !strings.HasPrefix(a.Name, "codedeploy:") || strings.HasPrefix(a.Name, "lambda")) {
			d.MitigatedAt = a.End
			break
		}
	}
	if d.MitigatedAt.IsZero() && d.Outcome == "rolled_back" {
		d.MitigatedAt = d.ClosedAt
	}
	if !d.MitigatedAt.IsZero() && d.MitigatedAt.After(d.DetectedAt) {
		d.TimeToMitigate = d.MitigatedAt.Sub(d.DetectedAt)
	}
}

func (d *Doc) timeline(in store.Incident, journal []store.JournalEntry, events []store.Event) []TimelineEntry {
	var tl []TimelineEntry
	add := func(t time.Time, source, typ, msg string) {
		if t.IsZero() {
			return
		}
		tl = append(tl, TimelineEntry{Time: t, Offset: t.Sub(d.DetectedAt), Source: source, Type: typ, Message: msg})
	}
	add(d.DeployedAt, "incident", "deploy_detected", fmt.Sprintf("deploy of version %s detected (known-good %s)", d.Versions.Bad, orNone(d.Versions.KnownGood)))
	if d.Verdict != nil {
		add(d.Verdict.At, "incident", "verdict", fmt.Sprintf("verdict %s: %s", d.Verdict.Kind, d.Verdict.Summary))
	}
	add(in.OpenedAt, "incident", "incident_opened", fmt.Sprintf("incident opened (trigger %s%s)", orNone(in.Trigger), byActor(in.Actor)))
	for _, e := range events {
		if e.Type == event.EvidenceSnapshot {
			continue // drawn in its own section
		}
		add(e.Time, "event", string(e.Type), e.Message)
	}
	for _, j := range journal {
		msg := fmt.Sprintf("step %d %s: %s", j.Step, j.Name, j.Status)
		if j.Duration > 0 {
			msg += fmt.Sprintf(" in %s", j.Duration)
		}
		if j.Error != "" {
			msg += ": " + j.Error
		}
		add(j.Time, "step", "step_"+string(j.Status), msg)
	}
	add(in.ClosedAt, "incident", "incident_closed", fmt.Sprintf("incident closed: %s", orNone(string(in.Outcome))))
	sort.SliceStable(tl, func(i, j int) bool { return tl[i].Time.Before(tl[j].Time) })
	return tl
}

func (d *Doc) alerts(events []store.Event) []Alert {
	out := []Alert{}
	for _, e := range events {
		if e.Type != event.AlertSent {
			continue
		}
		a := Alert{Time: e.Time, Offset: e.Time.Sub(d.DetectedAt), Message: e.Message}
		if len(e.Data) > 0 {
			a.Detail = compactJSON(e.Data)
		}
		out = append(out, a)
	}
	return out
}

func (d *Doc) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Version %s of target %s", orNone(d.Versions.Bad), d.Target)
	switch {
	case len(d.Triggering) > 0:
		f := d.Triggering[0]
		fmt.Fprintf(&b, " tripped rule %s (observed %.4g %s threshold %.4g)", f.Rule, f.Observed, opOr(f.Op), f.Threshold)
		if n := len(d.Triggering) - 1; n > 0 {
			fmt.Fprintf(&b, " and %d more", n)
		}
	case d.Trigger != "" && d.Trigger != "policy":
		fmt.Fprintf(&b, " was rolled back by %s%s", d.Trigger, byActor(d.Actor))
	default:
		b.WriteString(" was judged failing")
	}
	if d.TimeToDetect > 0 {
		fmt.Fprintf(&b, " %s after it was deployed", d.TimeToDetect)
	}
	if d.Versions.KnownGood == "" {
		b.WriteString("; no known-good version was recorded, so canaryd only alerted")
	} else {
		fmt.Fprintf(&b, "; rollback to version %s", d.Versions.KnownGood)
	}
	if d.Outcome != "" {
		fmt.Fprintf(&b, ": %s", d.Outcome)
	}
	if d.TimeToMitigate > 0 {
		fmt.Fprintf(&b, ", alias reverted %s after detection", d.TimeToMitigate)
	}
	b.WriteString(".")
	return b.String()
}

// JSON writes the draft as indented JSON.
func (d Doc) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func byActor(a string) string {
	if a == "" {
		return ""
	}
	return " by " + a
}

func opOr(op string) string {
	if op == "" {
		return ">"
	}
	return op
}
