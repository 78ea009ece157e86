package notify

// This file is the one place that turns an Event into words. Every notifier
// builds its payload from a Message; none formats an Event itself.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/canaryd/canaryd/event"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// Message is an Event rendered for people.
type Message struct {
	// Title is one ASCII line: severity, target and what happened, e.g.
	// "[CRITICAL] checkout: tripped, rolling back 7 -> 6".
	Title string
	// Headline is the title without the severity tag followed by the first
	// breached finding: what a pager shows.
	Headline string
	// What is what happened, in a sentence.
	What string
	// Why is the verdict's explanation: its summary, then one line per
	// finding, breached first.
	Why []string
	// Versions says which versions are involved, e.g. "known-good 6 -> new 7".
	Versions string
	// Actions lists plan steps with status and durations.
	Actions []string
	// Overrides lists the operator overrides in force for the target.
	Overrides []string
	// NextSteps says what a human can do now, as commands.
	NextSteps []string
}

// Render builds the Message for ev. It is a pure function of ev.
func Render(ev Event) Message {
	phrase := phraseFor(ev)
	m := Message{
		Title:     fmt.Sprintf("[%s] %s: %s", strings.ToUpper(string(ev.Severity)), ev.Target, phrase),
		What:      ev.Message,
		Why:       renderWhy(ev.Verdict),
		Versions:  renderVersions(ev),
		Actions:   renderActions(ev.Actions),
		Overrides: renderOverrides(ev),
		NextSteps: ev.NextSteps,
	}
	if m.What == "" {
		m.What = fmt.Sprintf("%s: %s.", ev.Target, phrase)
	}
	if len(m.NextSteps) == 0 {
		m.NextSteps = DefaultNextSteps(ev)
	}
	m.Headline = ev.Target + ": " + phrase
	if f, ok := firstBreached(ev.Verdict); ok {
		m.Headline += " - " + f.String()
	}
	return m
}

// Text renders the whole message as plain text: title, then sections.
func (m Message) Text() string {
	var b strings.Builder
	b.WriteString(m.Title)
	b.WriteString("\n\n")
	b.WriteString(m.What)
	b.WriteString("\n")
	for _, s := range m.Sections() {
		fmt.Fprintf(&b, "\n%s:\n", s.Heading)
		for _, l := range s.Lines {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}

// Section is a heading with its lines.
type Section struct {
	Heading string
	Lines   []string
}

// Sections returns the non-empty body sections in display order.
func (m Message) Sections() []Section {
	all := []Section{
		{"Why", m.Why},
		{"Versions", nonEmpty(m.Versions)},
		{"Actions", m.Actions},
		{"Overrides in force", m.Overrides},
		{"Next steps", m.NextSteps},
	}
	out := all[:0]
	for _, s := range all {
		if len(s.Lines) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// DefaultNextSteps are the commands suggested when the event carries none.
func DefaultNextSteps(ev Event) []string {
	t := ev.Target
	status := "canaryd status   # watches, verdicts and overrides of every target"
	pause := fmt.Sprintf("canaryd override pause %s --ttl 1h --reason \"<why>\"   # stop automatic rollback, alert only", t)
	rollback := fmt.Sprintf("canaryd rollback %s   # roll back now", t)
	postmortem := ""
	if ev.IncidentID != "" {
		postmortem = fmt.Sprintf("canaryd history --incident %s --format markdown   # postmortem draft", ev.IncidentID)
	}
	var steps []string
	switch ev.Type {
	case event.Tripped:
		if ev.DryRun {
			steps = []string{status, rollback, pause}
		} else {
			steps = []string{status, pause}
		}
	case event.AlertOnly, event.RollbackFailed, event.RollbackRetrying:
		steps = []string{status, rollback, pause}
	case event.RollbackAborted:
		steps = []string{status}
	case event.RollbackUnhealthy:
		steps = []string{status, pause}
	case event.RollbackDone:
		steps = []string{status}
	case event.WatchStarted:
		steps = []string{status, rollback, pause}
	case event.OverrideSet:
		if ev.Override == nil || ev.Override.Kind != store.OverridePause {
			return nil
		}
		target := ev.Override.Target
		if target == "*" {
			target = "all"
		}
		return []string{fmt.Sprintf("canaryd override resume %s   # lift the pause", target)}
	default:
		return nil
	}
	if postmortem != "" && ev.Type != event.WatchStarted {
		steps = append(steps, postmortem)
	}
	return steps
}

func phraseFor(ev Event) string {
	nv, kg := orNone(ev.NewVersion), orNone(ev.KnownGood)
	switch ev.Type {
	case event.WatchStarted:
		return fmt.Sprintf("watching new version %s (known-good %s)", nv, kg)
	case event.Tripped:
		if ev.DryRun {
			return fmt.Sprintf("failing, dry run: would roll back %s -> %s", nv, kg)
		}
		return fmt.Sprintf("tripped, rolling back %s -> %s", nv, kg)
	case event.RollbackDone:
		return fmt.Sprintf("rolled back %s -> %s, health verified", nv, kg)
	case event.RollbackFailed:
		return fmt.Sprintf("rollback FAILED (%s -> %s)", nv, kg)
	case event.RollbackUnhealthy:
		return fmt.Sprintf("rolled back to %s but health did not recover", kg)
	case event.RollbackRetrying:
		return fmt.Sprintf("rollback %s -> %s cannot reach AWS, retrying", nv, kg)
	case event.RollbackAborted:
		return fmt.Sprintf("rollback of %s stopped: a newer deploy took over", nv)
	case event.StoreLost:
		return "canaryd's store lost its data"
	case event.Test:
		return "test alert: canaryd reaches this receiver (no deploy is affected)"
	case event.TestResolved:
		return "test alert resolved"
	case event.AlertOnly:
		return fmt.Sprintf("version %s failing, alert only (no rollback)", nv)
	case event.Promoted:
		return fmt.Sprintf("version %s promoted", nv)
	case event.OverrideSet, event.OverrideExpired:
		verb := "set"
		if ev.Type == event.OverrideExpired {
			verb = "expired"
		}
		if ev.Override != nil {
			return fmt.Sprintf("override %s %s (by %s)", ev.Override.Kind, verb, orNone(ev.Override.Actor))
		}
		return "override " + verb
	}
	return string(ev.Type)
}

func renderWhy(v *policy.Verdict) []string {
	if v == nil {
		return nil
	}
	var out []string
	if v.Summary != "" {
		out = append(out, v.Summary)
	}
	fs := append([]policy.Finding(nil), v.Findings...)
	sort.SliceStable(fs, func(i, j int) bool { return rank(fs[i]) < rank(fs[j]) })
	for _, f := range fs {
		out = append(out, fmt.Sprintf("[%s] %s", findingState(f), renderFinding(f)))
	}
	return out
}

// renderFinding uses the policy's own wording for a breach ("observed
// 0.084 > threshold 0.05 ..."); a finding that did not breach would read
// as a false statement that way ("observed 180 > threshold 800"), so it
// says when the rule would trip instead.
func renderFinding(f policy.Finding) string {
	if f.Breached {
		return f.String()
	}
	op := f.Op
	if op == "" {
		op = ">"
	}
	s := fmt.Sprintf("%s: observed %.4g, trips when %s %.4g, over %s (%d samples", f.Rule, f.Observed, op, f.Threshold, f.Window, f.Samples)
	if f.Evidence > 0 || f.MinEvidence > 0 {
		s += fmt.Sprintf(", evidence %.0f of %.0f needed", f.Evidence, f.MinEvidence)
	}
	s += ")"
	if f.Note != "" {
		s += "; " + f.Note
	}
	return s
}

func rank(f policy.Finding) int {
	switch {
	case f.Breached:
		return 0
	case !f.Enough:
		return 2
	}
	return 1
}

func findingState(f policy.Finding) string {
	switch {
	case f.Breached:
		return "BREACHED"
	case !f.Enough:
		return "not enough evidence"
	}
	return "ok"
}

func firstBreached(v *policy.Verdict) (policy.Finding, bool) {
	if v == nil {
		return policy.Finding{}, false
	}
	for _, f := range v.Findings {
		if f.Breached {
			return f, true
		}
	}
	return policy.Finding{}, false
}

func renderVersions(ev Event) string {
	if ev.KnownGood == "" && ev.NewVersion == "" {
		return ""
	}
	s := fmt.Sprintf("known-good %s -> new %s", orNone(ev.KnownGood), orNone(ev.NewVersion))
	if ev.Function != "" {
		s += fmt.Sprintf(" (%s:%s)", ev.Function, ev.Alias)
	}
	return s
}

func renderActions(as []ActionResult) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		l := fmt.Sprintf("%s: %s", a.Name, a.Status)
		if a.Duration > 0 {
			l += fmt.Sprintf(" in %s", a.Duration.Round(time.Millisecond))
		}
		if a.Detail != "" {
			l += " - " + a.Detail
		}
		if a.Error != "" {
			l += " - error: " + a.Error
		}
		out = append(out, l)
	}
	return out
}

func renderOverrides(ev Event) []string {
	out := make([]string, 0, len(ev.Overrides))
	for _, o := range ev.Overrides {
		out = append(out, renderOverride(o, ev.Time))
	}
	return out
}

func renderOverride(o store.Override, now time.Time) string {
	s := fmt.Sprintf("%s on %s by %s", o.Kind, o.Target, orNone(o.Actor))
	if o.Version != "" {
		s += " (version " + o.Version + ")"
	}
	if o.ExpiresAt.IsZero() {
		s += ", until removed"
	} else {
		s += ", expires " + o.ExpiresAt.UTC().Format(time.RFC3339)
		if !now.IsZero() && o.ExpiresAt.After(now) {
			s += fmt.Sprintf(" (in %s)", o.ExpiresAt.Sub(now).Round(time.Second))
		}
	}
	if o.Reason != "" {
		s += fmt.Sprintf(": %q", o.Reason)
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := n - len(mark)
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
