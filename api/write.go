package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/store"
)

// State-changing routes. Each decodes strictly, validates naming the field,
// calls the Controller and logs who did what (never the token).

// OverrideRequest is the body of POST /v1/overrides.
type OverrideRequest struct {
	Target  string             `json:"target"` // a target name or "*" (all targets)
	Kind    store.OverrideKind `json:"kind"`   // pause | force_rollback | mark_good
	TTL     string             `json:"ttl,omitempty"`
	Reason  string             `json:"reason"`
	Actor   string             `json:"actor,omitempty"`
	Version string             `json:"version,omitempty"` // force_rollback: to; mark_good: which version
}

// DeployRequest is the body of POST /v1/deploys.
type DeployRequest struct {
	Target  string `json:"target"`
	Version string `json:"version"`
	Actor   string `json:"actor,omitempty"`
	// Rollout asks canaryd to shift the traffic itself, step by step (the
	// version is published, the alias still serves the known-good one);
	// without it the request announces a deploy the pipeline made.
	Rollout bool `json:"rollout,omitempty"`
}

// OverrideView is a stored override with whether it is in force now.
type OverrideView struct {
	store.Override
	Active bool `json:"active"`
}

const maxReasonLen = 2000

var (
	targetNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	// versionRE is what an alias may point at (a deploy announcement).
	versionRE = regexp.MustCompile(`^(\$LATEST|[0-9]{1,10})$`)
	// publishedRE is what a rollback may go to, and what an override may
	// name: a published version — never $LATEST, which changes under it.
	publishedRE = regexp.MustCompile(`^[0-9]{1,10}$`)
)

// checkPublished refuses a version a rollback cannot target, naming field.
func checkPublished(field, v string) error {
	if v != "" && !publishedRE.MatchString(v) {
		return &FieldError{field, fmt.Sprintf("%q is not a published Lambda version number (a rollback target is a published version, never $LATEST)", v)}
	}
	return nil
}

func (s *Server) postOverride(w http.ResponseWriter, r *http.Request) {
	var req OverrideRequest
	if re := decodeBody(w, r, s.cfg.MaxBodyBytes, &req); re != nil {
		writeError(w, re.status, re.msg, re.field)
		return
	}
	o, err := s.buildOverride(req, actor(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	stored, err := s.cfg.Controller.SetOverride(r.Context(), o)
	s.audit(r, "override set", err, req.Actor, zap.String("target", o.Target),
		zap.String("kind", string(o.Kind)), zap.String("override", o.ID), zap.Time("expires_at", o.ExpiresAt),
		zap.String("reason", o.Reason))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, OverrideView{Override: stored, Active: stored.Active(s.cfg.Clock.Now())})
}

// buildOverride validates req; the override's actor is the token's name.
func (s *Server) buildOverride(req OverrideRequest, actor string) (store.Override, error) {
	if err := checkTarget(req.Target, true); err != nil {
		return store.Override{}, err
	}
	switch req.Kind {
	case store.OverridePause:
		if req.Version != "" {
			return store.Override{}, &FieldError{"version", "only force_rollback and mark_good take a version"}
		}
	case store.OverrideForceRollback, store.OverrideMarkGood:
		// "*" applies to every deploy under watch when it is set (each
		// rolled back to, or promoted as, its own version): a version
		// cannot be the same for all targets.
		if req.Target == "*" && req.Version != "" {
			return store.Override{}, &FieldError{"version", fmt.Sprintf("%s of all targets cannot name a version", req.Kind)}
		}
	case store.OverridePromote:
		if req.Target == "*" || req.Version != "" {
			return store.Override{}, &FieldError{"target", "promote names one target's rollout and no version"}
		}
	case "":
		return store.Override{}, &FieldError{"kind", "is required: pause, force_rollback, mark_good or promote"}
	default:
		return store.Override{}, &FieldError{"kind", fmt.Sprintf("%q is not one of pause, force_rollback, mark_good, promote", req.Kind)}
	}
	if err := checkPublished("version", req.Version); err != nil {
		return store.Override{}, err
	}
	if err := checkReason(req.Reason, true); err != nil {
		return store.Override{}, err
	}
	ttl := s.cfg.DefaultOverrideTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		switch {
		case err != nil:
			return store.Override{}, &FieldError{"ttl", fmt.Sprintf("%q is not a duration like \"30m\" or \"2h\"", req.TTL)}
		case d <= 0:
			return store.Override{}, &FieldError{"ttl", fmt.Sprintf("%s must be positive: an override cannot expire in the past", req.TTL)}
		case d > s.cfg.MaxOverrideTTL:
			return store.Override{}, &FieldError{"ttl", fmt.Sprintf("%s exceeds the maximum %s", req.TTL, s.cfg.MaxOverrideTTL)}
		}
		ttl = d
	}
	now := s.cfg.Clock.Now()
	return store.Override{
		ID: s.cfg.NewID(), Target: req.Target, Kind: req.Kind, Reason: strings.TrimSpace(req.Reason),
		Actor: actor, CreatedAt: now, ExpiresAt: now.Add(ttl), Version: req.Version,
	}, nil
}

func (s *Server) deleteOverride(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := s.cfg.Controller.DeleteOverride(r.Context(), id)
	s.audit(r, "override deleted", err, r.URL.Query().Get("actor"), zap.String("override", id))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": id})
}

func (s *Server) postRollback(w http.ResponseWriter, r *http.Request) {
	var req RollbackRequest
	if re := decodeBody(w, r, s.cfg.MaxBodyBytes, &req); re != nil {
		writeError(w, re.status, re.msg, re.field)
		return
	}
	claimed := req.Actor
	if err := validateRollback(&req, actor(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := s.cfg.Controller.Rollback(r.Context(), req)
	s.audit(r, "manual rollback", err, claimed, zap.String("target", req.Target),
		zap.String("to_version", req.ToVersion), zap.Bool("plan_only", req.PlanOnly), zap.String("reason", req.Reason),
		zap.String("incident", resp.IncidentID), zap.String("outcome", resp.Outcome))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// validateRollback checks req and sets its actor, the token's name.
func validateRollback(req *RollbackRequest, actor string) error {
	if err := checkTarget(req.Target, false); err != nil {
		return err
	}
	if err := checkPublished("to_version", req.ToVersion); err != nil {
		return err
	}
	if err := checkReason(req.Reason, !req.PlanOnly); err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	req.Actor = actor
	return nil
}

func (s *Server) postDeploy(w http.ResponseWriter, r *http.Request) {
	var req DeployRequest
	if re := decodeBody(w, r, s.cfg.MaxBodyBytes, &req); re != nil {
		writeError(w, re.status, re.msg, re.field)
		return
	}
	if err := checkTarget(req.Target, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if !versionRE.MatchString(req.Version) {
		s.fail(w, r, &FieldError{"version", fmt.Sprintf("%q is not a Lambda version number", req.Version)})
		return
	}
	what, deploy := "deploy announced", s.cfg.Controller.AnnounceDeploy
	if req.Rollout {
		if err := checkPublished("version", req.Version); err != nil {
			s.fail(w, r, err)
			return
		}
		what, deploy = "rollout started", s.cfg.Controller.StartRollout
	}
	res, err := deploy(r.Context(), req.Target, req.Version)
	s.audit(r, what, err, req.Actor, zap.String("target", req.Target),
		zap.String("version", req.Version), zap.Bool("changed", res.Changed), zap.String("watch", res.WatchID))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func checkTarget(t string, allowAll bool) error {
	switch {
	case t == "":
		return &FieldError{"target", "is required"}
	case t == "*" && allowAll:
		return nil
	case !targetNameRE.MatchString(t):
		return &FieldError{"target", fmt.Sprintf("%q is not a target name", t)}
	}
	return nil
}

func checkReason(reason string, required bool) error {
	switch {
	case required && strings.TrimSpace(reason) == "":
		return &FieldError{"reason", "is required: say why, for the people reading the history later"}
	case len(reason) > maxReasonLen:
		return &FieldError{"reason", fmt.Sprintf("is longer than %d bytes", maxReasonLen)}
	}
	return nil
}

// audit logs one state-changing request and its result: the actor is the
// token's name; what the client says of itself (the CLI sends
// user@host) is kept as claimed_actor, never trusted.
func (s *Server) audit(r *http.Request, what string, err error, claimed string, fields ...zap.Field) {
	fields = append(fields, zap.String("actor", actor(r)), zap.String("remote", r.RemoteAddr))
	if claimed = strings.TrimSpace(claimed); claimed != "" {
		if len(claimed) > 200 {
			claimed = claimed[:200]
		}
		fields = append(fields, zap.String("claimed_actor", claimed))
	}
	if err != nil {
		s.log.Warn("admin api: "+what+" refused", append(fields, zap.Error(err))...)
		return
	}
	s.log.Info("admin api: "+what, fields...)
}

// fail answers with the status an error maps to.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *FieldError
	var re *requestError
	switch {
	case errors.As(err, &re):
		writeError(w, re.status, re.msg, re.field)
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.Error(), fe.Field)
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, err.Error(), "")
	case errors.Is(err, ErrUnknownTarget), errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error(), "")
	case errors.Is(err, ErrConflict), errors.Is(err, ErrStale), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExists):
		writeError(w, http.StatusConflict, err.Error(), "")
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, err.Error(), "")
	default:
		s.log.Error("admin api: internal error", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		writeError(w, http.StatusInternalServerError, "internal error: "+err.Error(), "")
	}
}
