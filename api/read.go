package api

import (
	"net/http"
	"strconv"

	"github.com/canaryd/canaryd/history"
	"github.com/canaryd/canaryd/store"
)

// Read-only /v1 routes. Status comes from the Controller; the rest is read
// straight from the store.

// OverridesResponse is GET /v1/overrides.
type OverridesResponse struct {
	Overrides []OverrideView `json:"overrides"`
}

// WatchesResponse is GET /v1/watches.
type WatchesResponse struct {
	Watches []store.Watch `json:"watches"`
}

// IncidentsResponse is GET /v1/incidents.
type IncidentsResponse struct {
	Incidents []IncidentView `json:"incidents"`
}

// IncidentDetail is GET /v1/incidents/{id}: the incident, its watch, its
// plan's journal and every event of the watch and the incident.
type IncidentDetail struct {
	Incident store.Incident       `json:"incident"`
	Watch    *store.Watch         `json:"watch,omitempty"`
	Journal  []store.JournalEntry `json:"journal"`
	Events   []store.Event        `json:"events"`
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.cfg.Controller.Status(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st.Targets, st.Overrides = nonNil(st.Targets), nonNil(st.Overrides) // [] for clients, never null
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) listOverrides(w http.ResponseWriter, r *http.Request) {
	activeOnly, err := boolParam(r, "active")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	all, err := s.cfg.Store.ListOverrides(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Clock.Now()
	out := OverridesResponse{Overrides: []OverrideView{}}
	for _, o := range all {
		v := OverrideView{Override: o, Active: o.Active(now)}
		if activeOnly && !v.Active {
			continue
		}
		out.Overrides = append(out.Overrides, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listWatches(w http.ResponseWriter, r *http.Request) {
	f := store.WatchFilter{Target: r.URL.Query().Get("target")}
	var err error
	if f.ActiveOnly, err = boolParam(r, "active"); err == nil {
		f.Limit, err = limitParam(r)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ws, err := s.cfg.Store.ListWatches(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, WatchesResponse{Watches: nonNil(ws)})
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ins, err := s.withRefs(r.Context(), r.URL.Query().Get("target"), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, IncidentsResponse{Incidents: nonNil(ins)})
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	id, err := s.resolveIncident(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rec, err := history.Load(r.Context(), s.cfg.Store, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := IncidentDetail{Incident: rec.Incident, Journal: nonNil(rec.Journal), Events: nonNil(rec.Events)}
	if rec.Watch.ID != "" {
		d.Watch = &rec.Watch
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) getPostmortem(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "markdown"
	}
	if format != "markdown" && format != "json" {
		s.fail(w, r, &FieldError{"format", "must be markdown or json"})
		return
	}
	id, err := s.resolveIncident(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rec, err := history.Load(r.Context(), s.cfg.Store, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doc := history.Postmortem(rec.Incident, rec.Journal, rec.Events, rec.Watch)
	if format == "json" {
		writeJSON(w, http.StatusOK, doc)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = doc.Markdown(w)
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &FieldError{name, "must be true or false"}
	}
	return b, nil
}

func limitParam(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > maxListLimit {
		return 0, &FieldError{"limit", "must be a whole number from 1 to 10000"}
	}
	return n, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
