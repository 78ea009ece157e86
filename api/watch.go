package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/evidence"
	"github.com/canaryd/canaryd/store"
)

// GET /v1/watches/{id}: one watch with its evidence series (what the
// policy saw, per rule and per period), each rule's chart as SVG (the
// same picture the postmortem carries) and the watch's events.

// EvidenceSource gives a watch's evidence series: the daemon's recorder
// (live while this process judges the watch, else the stored snapshot).
type EvidenceSource interface {
	Get(ctx context.Context, target, watchID string) (evidence.Series, bool, error)
}

// WatchDetail is GET /v1/watches/{id}.
type WatchDetail struct {
	Watch    store.Watch      `json:"watch"`
	Evidence *evidence.Series `json:"evidence,omitempty"` // none yet: the watch was not judged here
	Charts   []Chart          `json:"charts"`
	Events   []store.Event    `json:"events"` // oldest first, evidence snapshots left out
}

// Chart is one rule's evidence drawn as a self-contained SVG document.
type Chart struct {
	Rule string `json:"rule"`
	SVG  string `json:"svg"`
}

// maxWatchEvents bounds the events a watch detail carries.
const maxWatchEvents = 500

func (s *Server) getWatch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	wt, err := s.cfg.Store.GetWatch(ctx, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := WatchDetail{Watch: wt, Charts: []Chart{}, Events: []store.Event{}}
	var series evidence.Series
	var ok bool
	if s.cfg.Evidence != nil {
		series, ok, err = s.cfg.Evidence.Get(ctx, wt.Target, wt.ID)
	} else {
		series, ok, err = evidence.Stored(ctx, s.cfg.Store, wt.Target, wt.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ok {
		d.Evidence = &series
		for _, rule := range series.Rules {
			var b strings.Builder
			_ = evidence.SVG(&b, series, rule)
			d.Charts = append(d.Charts, Chart{Rule: rule.Name, SVG: b.String()})
		}
	}
	evs, err := s.cfg.Store.Events(ctx, store.EventFilter{Target: wt.Target, WatchID: wt.ID, Limit: maxWatchEvents})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, e := range evs {
		if e.Type != event.EvidenceSnapshot {
			d.Events = append(d.Events, e)
		}
	}
	writeJSON(w, http.StatusOK, d)
}
