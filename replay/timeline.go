package replay

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/canaryd/canaryd/event"
)

// WriteTimeline prints the replay for humans: one line per entry (with the
// breached findings of its verdict, "!"), every finding of the final verdict
// ("-" for those that did not breach), and the outcome.
func (r Result) WriteTimeline(w io.Writer) {
	mode := "alias-level samples vs the pre-deploy baseline"
	if r.Split {
		mode = "per-version samples, split traffic"
	}
	if r.RecordedReads {
		mode += "; metric periods when the daemon read them"
	}
	kg := r.KnownGood
	if kg == "" {
		kg = "(none)"
	}
	fmt.Fprintf(w, "replay %s: deploy %s -> %s at %s (%s)\n", r.Target, kg, r.NewVersion, r.WatchStart.Format(time.RFC3339), mode)
	for _, e := range r.Timeline {
		kind := string(e.Kind)
		if e.Kind == event.Verdict && e.Verdict != nil {
			kind = string(e.Verdict.Kind)
		}
		fmt.Fprintf(w, "  %-9s %s  %-14s %s\n", "+"+e.At.Sub(r.WatchStart).String(), e.At.UTC().Format("15:04:05"), kind, e.Message)
		if e.Verdict == nil {
			continue
		}
		for _, f := range e.Verdict.Findings {
			if f.Breached {
				fmt.Fprintf(w, "      ! %s\n", f.String())
			}
		}
	}
	fmt.Fprintf(w, "  %-9s %s  %-14s %s\n", "+"+r.Final.At.Sub(r.WatchStart).String(), r.Final.At.UTC().Format("15:04:05"),
		"final "+string(r.Final.Kind), r.Final.Summary)
	for _, f := range r.Final.Findings {
		mark := "-"
		if f.Breached {
			mark = "!"
		}
		fmt.Fprintf(w, "      %s %s\n", mark, f.String())
	}
	fmt.Fprintf(w, "outcome: %s", r.Outcome)
	if r.AlertOnly {
		fmt.Fprintf(w, " (failed while alert-only: %s)", r.AlertOnlyWhy)
	}
	if !r.DecidedAt.IsZero() {
		fmt.Fprintf(w, " at +%s", r.DecidedAt.Sub(r.WatchStart))
	}
	fmt.Fprintf(w, " (exit %d), watch %s, %d evaluations of %d records\n", r.ExitCode(), r.Phase, r.Evaluations, r.Records)
	r.writeRecorded(w)
	r.writeEvidence(w)
}

// writeRecorded prints what the daemon that recorded the trace decided,
// and whether replay, with the config it was given, decides the same.
func (r Result) writeRecorded(w io.Writer) {
	if len(r.Recorded) == 0 {
		return
	}
	fmt.Fprint(w, "recorded by the daemon:")
	for i, p := range r.Recorded {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %s at +%s", sep, p.Phase, p.At.Sub(r.WatchStart))
	}
	fmt.Fprintln(w)
	if a, ok := r.Agreement(); ok {
		fmt.Fprintln(w, a)
	}
}

// Agreement says whether replay decides what the daemon that recorded the
// trace decided (RecordedOutcome), and when; ok is false when the trace
// records no decision.
func (r Result) Agreement() (string, bool) {
	o, at, ok := r.RecordedOutcome()
	switch {
	case !ok:
		return "", false
	case o == r.Outcome && at.Equal(r.DecidedAt):
		return fmt.Sprintf("replay agrees with the daemon: %s at +%s", o, at.Sub(r.WatchStart)), true
	case o == r.Outcome && (r.DecidedAt.Sub(at)).Abs() <= Tick:
		return fmt.Sprintf("replay agrees with the daemon within a tick: %s at +%s, replay at +%s", o, at.Sub(r.WatchStart), r.DecidedAt.Sub(r.WatchStart)), true
	}
	s := fmt.Sprintf("replay DIFFERS from the daemon: it %s at +%s, replay %s", o, at.Sub(r.WatchStart), r.Outcome)
	if !r.DecidedAt.IsZero() {
		s += fmt.Sprintf(" at +%s", r.DecidedAt.Sub(r.WatchStart))
	}
	return s + " (other rules or settings than the daemon had?)", true
}

// writeEvidence prints each followed rule's finding at every change.
func (r Result) writeEvidence(w io.Writer) {
	names := make([]string, 0, len(r.Evidence))
	for n := range r.Evidence {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "evidence of %s, at every change:\n", n)
		for _, st := range r.Evidence[n] {
			fmt.Fprintf(w, "  %-9s %s  %s\n", "+"+st.At.Sub(r.WatchStart).String(), st.At.UTC().Format("15:04:05"), st.Finding.String())
		}
	}
}
