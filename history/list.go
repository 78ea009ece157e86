package history

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/canaryd/canaryd/store"
)

// WriteList renders `canaryd history [TARGET]`: the watches, then the
// incidents, each newest first, as aligned text tables. now is used for
// ages and for the duration of watches still running.
func WriteList(w io.Writer, watches []store.Watch, incidents []IncidentRef, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ws := slices.Clone(watches)
	slices.SortStableFunc(ws, func(a, b store.Watch) int { return b.DetectedAt.Compare(a.DetectedAt) })
	fmt.Fprintf(tw, "WATCHES (%d)\n", len(ws))
	if len(ws) > 0 {
		fmt.Fprintln(tw, "DETECTED\tAGE\tTARGET\tWATCH\tVERSIONS\tPHASE\tLASTED\tINCIDENT\tREASON")
	}
	for _, x := range ws {
		end := x.EndedAt
		if end.IsZero() && !x.Phase.Final() {
			end = now
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s -> %s\t%s\t%s\t%s\t%s\n",
			ts(x.DetectedAt), age(now, x.DetectedAt), x.Target, x.ID, orNone(x.KnownGood), x.NewVersion,
			x.Phase, span(x.DetectedAt, end), dash(x.IncidentID), oneLine(x.Reason))
	}
	ins := slices.Clone(incidents)
	slices.SortStableFunc(ins, func(a, b IncidentRef) int { return b.OpenedAt.Compare(a.OpenedAt) })
	fmt.Fprintf(tw, "\nINCIDENTS (%d)\n", len(ins))
	if len(ins) > 0 {
		fmt.Fprintln(tw, "OPENED\tAGE\tREF\tBAD -> GOOD\tTRIGGER\tOUTCOME\tLASTED\tINCIDENT")
	}
	for _, in := range ins {
		end := in.ClosedAt
		if end.IsZero() {
			end = now
		}
		trigger := in.Trigger + byActor(in.Actor)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s -> %s\t%s\t%s\t%s\t%s\n",
			ts(in.OpenedAt), age(now, in.OpenedAt), dash(in.Ref), in.FromVersion, orNone(in.ToVersion),
			dash(trigger), dash(string(in.Outcome)), span(in.OpenedAt, end), in.ID)
	}
	return tw.Flush()
}

// IncidentRef is an incident with its short reference, TARGET#N: the
// target's N-th incident counted from its first (`canaryd history
// --incident` takes it, or any unique prefix of the ID).
type IncidentRef struct {
	store.Incident
	Ref string `json:"ref"`
}

// Listing is the JSON form of a history listing.
type Listing struct {
	Watches   []store.Watch `json:"watches"`
	Incidents []IncidentRef `json:"incidents"`
}

// WriteListJSON writes the listing as JSON, newest first, empty lists as [].
func WriteListJSON(w io.Writer, watches []store.Watch, incidents []IncidentRef) error {
	l := Listing{Watches: slices.Clone(watches), Incidents: slices.Clone(incidents)}
	if l.Watches == nil {
		l.Watches = []store.Watch{}
	}
	if l.Incidents == nil {
		l.Incidents = []IncidentRef{}
	}
	slices.SortStableFunc(l.Watches, func(a, b store.Watch) int { return b.DetectedAt.Compare(a.DetectedAt) })
	slices.SortStableFunc(l.Incidents, func(a, b IncidentRef) int { return b.OpenedAt.Compare(a.OpenedAt) })
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}

func age(now, t time.Time) string {
	if t.IsZero() || now.Before(t) {
		return "-"
	}
	return roughDuration(now.Sub(t)) + " ago"
}

func span(from, to time.Time) string {
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return "-"
	}
	return roughDuration(to.Sub(from))
}

// roughDuration is a duration for a table: "45s", "12m", "3h10m", "2d4h".
func roughDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return dash(s)
}
