package history

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/canaryd/canaryd/evidence"
)

const tsLayout = "2006-01-02 15:04:05.000Z"

// Markdown writes the draft as a Markdown document.
func (d Doc) Markdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }

	p("# Postmortem draft: %s, incident %s\n\n", d.Target, d.IncidentID)
	p("_Drafted by canaryd from the incident record. Everything below the line \"For the humans\" is yours to write._\n\n")
	p("## Summary\n\n%s\n\n", d.Summary)
	p("| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			p("| %s | %s |\n", k, cell(v))
		}
	}
	row("Target", d.Target)
	row("Incident", d.IncidentID)
	row("Watch", d.WatchID)
	row("Trigger", d.Trigger+byActor(d.Actor))
	row("Outcome", d.Outcome)
	row("Bad version", d.Versions.Bad)
	row("Known-good version", orNone(d.Versions.KnownGood))
	row("Deploy detected", ts(d.DeployedAt))
	row("Problem detected", ts(d.DetectedAt)+durNote("time to detect", d.TimeToDetect))
	row("Alias reverted", ts(d.MitigatedAt)+durNote("time to mitigate", d.TimeToMitigate))
	row("Closed", ts(d.ClosedAt))
	p("\n")

	d.writeVerdict(p)
	d.writeEvidence(p)
	d.writeTimeline(p)
	d.writeActions(p)
	d.writeAlerts(p)

	p("---\n\n## For the humans\n\n### Root cause\n\n%s\n\n", placeholder(d.RootCause))
	p("### Impact\n\n_Who was affected, for how long?_\n\n")
	p("### Follow-ups\n\n")
	if len(d.FollowUps) == 0 {
		p("- [ ] \n")
	}
	for _, f := range d.FollowUps {
		p("- [ ] %s\n", f)
	}
	return bw.Flush()
}

func (d Doc) writeVerdict(p func(string, ...any)) {
	p("## Triggering rule\n\n")
	switch {
	case d.VerdictError != "":
		p("%s\n\n", d.VerdictError)
		return
	case d.Verdict == nil:
		p("No policy verdict was recorded (trigger: %s%s).\n\n", orNone(d.Trigger), byActor(d.Actor))
		return
	}
	v := d.Verdict
	p("Verdict **%s** at %s: %s\n\n", v.Kind, ts(v.At), v.Summary)
	if v.AlertOnly {
		p("The verdict was alert-only: the known-good version was already failing before the deploy.\n\n")
	}
	if len(d.Findings) == 0 {
		return
	}
	p("| Rule | Kind | Breached | Observed | Op | Threshold | Baseline | Window | Samples | Evidence | Note |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range d.Findings {
		base := ""
		if f.Baseline != nil {
			base = fmt.Sprintf("%.4g", *f.Baseline)
		}
		if f.PValue != nil {
			base += fmt.Sprintf(" (p=%.3g)", *f.PValue)
		}
		evidence := ""
		if f.Evidence > 0 || f.MinEvidence > 0 {
			evidence = fmt.Sprintf("%.0f (min %.0f)", f.Evidence, f.MinEvidence)
		}
		breached := "no"
		if f.Breached {
			breached = "**yes**"
		}
		p("| %s | %s | %s | %.4g | %s | %.4g | %s | %s | %d | %s | %s |\n", cell(f.Rule), cell(f.RuleKind), breached,
			f.Observed, cell(opOr(f.Op)), f.Threshold, cell(base), f.Window, f.Samples, evidence, cell(f.Note))
	}
	p("\n")
}

// writeEvidence draws each rule's series as an SVG image carried in the
// document itself (a data URI), so a wiki paste keeps the picture.
func (d Doc) writeEvidence(p func(string, ...any)) {
	s := d.Evidence
	if s == nil || len(s.Rules) == 0 {
		return
	}
	p("## Evidence\n\n")
	p("Per rule, one point per %s: version %s against the known-good version %s and the threshold", s.Period, s.NewVersion, orNone(s.KnownGood))
	p("; for statistical rules, below, the evidence against the new version (log10 of the e-value) and the level 1/α where the rule trips. Red dots are evaluations that breached.\n\n")
	for _, r := range s.Rules {
		p("### %s\n\n![%s: version %s vs known-good %s](%s)\n\n%s\n\n", r.Name, mdAlt(r.Name), mdAlt(s.NewVersion), mdAlt(orNone(s.KnownGood)),
			evidence.DataURI(*s, r), "`"+strings.ReplaceAll(r.Last, "`", "'")+"`")
	}
}

// mdAlt makes s safe inside an image's alt text.
func mdAlt(s string) string { return strings.NewReplacer("[", "(", "]", ")", "\n", " ").Replace(s) }

func (d Doc) writeTimeline(p func(string, ...any)) {
	p("## Timeline\n\nTimes in UTC; T is the detection (%s).\n\n", ts(d.DetectedAt))
	p("| Time | T | Source | What |\n|---|---|---|---|\n")
	for _, e := range d.Timeline {
		p("| %s | %s | %s | %s |\n", ts(e.Time), rel(e.Offset), e.Source, cell(e.Type+": "+e.Message))
	}
	p("\n")
}

func (d Doc) writeActions(p func(string, ...any)) {
	p("## Actions\n\n")
	if len(d.Actions) == 0 {
		p("No plan step was journaled.\n\n")
		return
	}
	p("| # | Step | Status | Started | Duration | Attempts | Detail |\n|---|---|---|---|---|---|---|\n")
	for _, a := range d.Actions {
		detail := a.Detail
		if a.Error != "" {
			detail = strings.TrimSpace("error: " + a.Error + " " + detail)
		}
		p("| %d | %s | %s | %s | %s | %d | %s |\n", a.Step, cell(a.Name), a.Status, ts(a.Start), a.Duration, a.Attempts, cell(detail))
	}
	p("\n")
}

func (d Doc) writeAlerts(p func(string, ...any)) {
	p("## Alerts sent\n\n")
	if len(d.Alerts) == 0 {
		p("No alert delivery was recorded.\n\n")
		return
	}
	p("| Time | T | Alert | Detail |\n|---|---|---|---|\n")
	for _, a := range d.Alerts {
		p("| %s | %s | %s | %s |\n", ts(a.Time), rel(a.Offset), cell(a.Message), cell(a.Detail))
	}
	p("\n")
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", "<br>")
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(tsLayout)
}

// rel renders an offset from detection: "T+1m5s", "T-30s", "T".
func rel(d time.Duration) string {
	d = d.Round(time.Millisecond)
	switch {
	case d == 0:
		return "T"
	case d < 0:
		return "T-" + (-d).String()
	}
	return "T+" + d.String()
}

func durNote(what string, d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%s %s)", what, d)
}

func placeholder(s string) string {
	if s == "" {
		return "_To be written._"
	}
	return s
}
