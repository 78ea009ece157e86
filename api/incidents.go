package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/canaryd/canaryd/history"
	"github.com/canaryd/canaryd/store"
)

// Short incident references. An incident's ID is long (inc-, the detection
// time to the nanosecond, the target, the version, a revision: 50 or more
// characters); an operator may name it instead by TARGET#N — the target's
// N-th incident, counted from its first, stable as new ones come — or by
// any prefix of the ID that only one incident has ("inc-" may be left out).

// IncidentView is an incident with its short reference, TARGET#N.
type IncidentView = history.IncidentRef

// withRefs lists target's incidents ("" = all) newest first, each with its
// TARGET#N reference, the first limit of them.
func (s *Server) withRefs(ctx context.Context, target string, limit int) ([]IncidentView, error) {
	all, err := s.cfg.Store.ListIncidents(ctx, target, maxListLimit)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, in := range all {
		counts[in.Target]++
	}
	out := make([]IncidentView, len(all))
	for i, in := range all { // newest first: the target's count so far is its number
		out[i] = IncidentView{Incident: in, Ref: in.Target + "#" + strconv.Itoa(counts[in.Target])}
		counts[in.Target]--
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// resolveIncident turns an ID, a TARGET#N or a unique prefix into an ID.
func (s *Server) resolveIncident(ctx context.Context, ref string) (string, error) {
	if _, err := s.cfg.Store.GetIncident(ctx, ref); err == nil || !errors.Is(err, store.ErrNotFound) {
		return ref, err
	}
	if target, n, ok := strings.Cut(ref, "#"); ok {
		return s.bySequence(ctx, ref, target, n)
	}
	views, err := s.withRefs(ctx, "", 0)
	if err != nil {
		return "", err
	}
	var matches []string
	for _, v := range views {
		if strings.HasPrefix(v.ID, ref) || strings.HasPrefix(v.ID, "inc-"+ref) {
			matches = append(matches, v.ID)
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("incident %q: %w", ref, store.ErrNotFound)
	case 1:
		return matches[0], nil
	}
	slices.Sort(matches)
	if len(matches) > 5 {
		matches = append(matches[:5], "...")
	}
	return "", &FieldError{"id", fmt.Sprintf("%q is the start of %d incidents (%s): give more of it, or TARGET#N", ref, len(matches), strings.Join(matches, ", "))}
}

func (s *Server) bySequence(ctx context.Context, ref, target, n string) (string, error) {
	i, err := strconv.Atoi(n)
	if err != nil || i < 1 || checkTarget(target, false) != nil {
		return "", &FieldError{"id", fmt.Sprintf("%q: write TARGET#N, N counting the target's incidents from 1", ref)}
	}
	views, err := s.withRefs(ctx, target, 0)
	if err != nil {
		return "", err
	}
	for _, v := range views {
		if v.Ref == ref {
			return v.ID, nil
		}
	}
	return "", fmt.Errorf("incident %s: %s has %d incidents: %w", ref, target, len(views), store.ErrNotFound)
}
