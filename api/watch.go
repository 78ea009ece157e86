package api

import (
	"context"
	"errors"
	"io"
	"io/fs"
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

// TraceSource opens the replay trace this process recorded of a watch
// (daemon.trace_dir) and names it for a download; an error satisfying
// errors.Is(err, fs.ErrNotExist) when it has none.
type TraceSource interface {
	OpenTrace(w store.Watch) (trace io.ReadCloser, name string, err error)
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

// GET /v1/watches/{id}/trace: the replay trace the daemon recorded of the
// watch (JSON lines, `canaryd replay --trace`), from the replica that
// judged it.
func (s *Server) getTrace(w http.ResponseWriter, r *http.Request) {
	wt, err := s.cfg.Store.GetWatch(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.cfg.Traces == nil {
		writeError(w, http.StatusNotFound, "this canaryd records no traces: set daemon.trace_dir", "")
		return
	}
	f, name, err := s.cfg.Traces.OpenTrace(wt)
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, "no trace of watch "+wt.ID+" here: it was judged by another replica, before daemon.trace_dir was set, or its trace was pruned (daemon.trace_keep)", "")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, f)
}
