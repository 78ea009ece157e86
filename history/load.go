// Package history turns what the store recorded about watches and
// incidents into things people read: the `canaryd history` table and the
// postmortem draft of one incident.
package history

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/canaryd/canaryd/store"
)

// Record is everything stored about one incident.
type Record struct {
	Incident store.Incident
	Watch    store.Watch // zero when the watch is gone
	Journal  []store.JournalEntry
	Events   []store.Event // of the watch and of the incident, oldest first
}

// maxEvents bounds how much history one incident reads.
const maxEvents = 10000

// Load reads an incident, its watch, its plan's journal and the events of
// both the watch (before the trip) and the incident; store.ErrNotFound if
// there is no such incident.
func Load(ctx context.Context, st store.Store, incidentID string) (Record, error) {
	in, err := st.GetIncident(ctx, incidentID)
	if err != nil {
		return Record{}, fmt.Errorf("incident %s: %w", incidentID, err)
	}
	rec := Record{Incident: in}
	if in.WatchID != "" {
		w, err := st.GetWatch(ctx, in.WatchID)
		switch {
		case err == nil:
			rec.Watch = w
		case !errors.Is(err, store.ErrNotFound):
			return Record{}, fmt.Errorf("incident %s: watch %s: %w", in.ID, in.WatchID, err)
		}
	}
	if rec.Journal, err = st.Journal(ctx, in.ID); err != nil {
		return Record{}, fmt.Errorf("incident %s: journal: %w", in.ID, err)
	}
	byIncident, err := st.Events(ctx, store.EventFilter{Target: in.Target, IncidentID: in.ID, Limit: maxEvents})
	if err != nil {
		return Record{}, fmt.Errorf("incident %s: events: %w", in.ID, err)
	}
	var byWatch []store.Event
	if in.WatchID != "" {
		if byWatch, err = st.Events(ctx, store.EventFilter{Target: in.Target, WatchID: in.WatchID, Limit: maxEvents}); err != nil {
			return Record{}, fmt.Errorf("incident %s: watch %s events: %w", in.ID, in.WatchID, err)
		}
	}
	around, err := targetEvents(ctx, st, rec)
	if err != nil {
		return Record{}, err
	}
	rec.Events = mergeEvents(mergeEvents(byWatch, byIncident), around)
	return rec, nil
}

// targetEvents are the target's events tied to no watch or incident (an
// operator's override set, used or expired) from the deploy until the
// incident closed: they explain what people did meanwhile.
func targetEvents(ctx context.Context, st store.Store, rec Record) ([]store.Event, error) {
	from := rec.Incident.OpenedAt
	if !rec.Watch.DetectedAt.IsZero() && rec.Watch.DetectedAt.Before(from) {
		from = rec.Watch.DetectedAt
	}
	if rec.Incident.Target == "" || from.IsZero() {
		return nil, nil
	}
	evs, err := st.Events(ctx, store.EventFilter{Target: rec.Incident.Target, Since: from, Limit: maxEvents})
	if err != nil {
		return nil, fmt.Errorf("incident %s: target %s events: %w", rec.Incident.ID, rec.Incident.Target, err)
	}
	var out []store.Event
	for _, e := range evs {
		if e.WatchID != "" || e.IncidentID != "" {
			continue
		}
		if !rec.Incident.ClosedAt.IsZero() && e.Time.After(rec.Incident.ClosedAt) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// mergeEvents joins two event lists, dropping the ones present in both,
// oldest first (stable for equal times).
func mergeEvents(a, b []store.Event) []store.Event {
	seen := make(map[string]bool, len(a)+len(b))
	var out []store.Event
	for _, list := range [][]store.Event{a, b} {
		for _, e := range list {
			k := fmt.Sprintf("%d|%s|%s|%s|%s|%s|%s", e.Time.UnixNano(), e.Target, e.WatchID, e.IncidentID, e.Type, e.Message, e.Data)
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
