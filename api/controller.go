// Package api is canaryd's admin HTTP API: status, overrides, manual
// rollback, deploy announcements and incident history, plus the
// unauthenticated /healthz, /readyz and /metrics. Every /v1 route needs a
// bearer token of a scope that allows it (promise 10: reader, deployer,
// operator; see auth.go), and the token's name is the actor of what it
// changes; state changes go through a Controller, which the daemon
// implements, and reads go straight to the store.
//
// Routes (JSON unless said otherwise; errors are {"error": "...", "field": "..."}):
//
//	GET    /healthz                         liveness, no auth
//	GET    /readyz                          503 {"reason": ...} when Config.Ready errs, no auth
//	GET    /metrics                         Prometheus text of Config.Registry, no auth
//	GET    /console/                        the read-only web console's static shell, no auth, no data
//	GET    /                                redirects to /console/
//	GET    /v1/status                       Status
//	GET    /v1/overrides[?active=true]      OverridesResponse
//	POST   /v1/overrides                    OverrideRequest -> 201 OverrideView
//	DELETE /v1/overrides/{id}[?actor=]      resume; 404 if absent
//	POST   /v1/rollback                     RollbackRequest -> RollbackResponse
//	POST   /v1/deploys                      DeployRequest -> AnnounceResult (changed=false: duplicate; 409: stale)
//	GET    /v1/watches[?target=&active=&limit=]
//	GET    /v1/watches/{id}                 WatchDetail: the watch, its evidence series, charts (SVG), events
//	GET    /v1/incidents[?target=&limit=]
//	GET    /v1/incidents/{id}               IncidentDetail ({id}: the ID, TARGET#N or a unique prefix)
//	GET    /v1/incidents/{id}/postmortem[?format=markdown|json]
//
// /v1 needs "Authorization: Bearer <token>": 401 otherwise, 403 beyond the
// token's scope (GET: reader; POST /v1/deploys: deployer; overrides and
// rollback: operator), 403 for everything when no token is configured. Bodies are limited to
// Config.MaxBodyBytes (413), decoded strictly (unknown fields are 400,
// naming the field) and must hold exactly one JSON object.
package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// Controller is what the daemon exposes to operators. Each method takes the
// request's context; errors wrapping ErrUnknownTarget, ErrConflict (or
// ErrStale), ErrBadRequest or store.ErrNotFound become 404, 409, 400 and 404.
type Controller interface {
	// Status is a snapshot of every configured target.
	Status(ctx context.Context) (Status, error)
	// AnnounceDeploy tells the daemon a deploy of version happened on
	// target (a pipeline calling in rather than waiting for the poll).
	// A version already being watched is not an error: Changed is false.
	// ErrStale when the alias has since moved to a different version.
	AnnounceDeploy(ctx context.Context, target, version string) (AnnounceResult, error)
	// StartRollout starts a rollout of version that canaryd drives itself
	// (the target's [target.rollout] steps). ErrConflict when the alias is
	// not settled on the known-good version; ErrBadRequest for a target
	// without rollout steps or a version that does not exist.
	StartRollout(ctx context.Context, target, version string) (AnnounceResult, error)
	// Rollback plans, and unless PlanOnly executes, a manual rollback.
	Rollback(ctx context.Context, req RollbackRequest) (RollbackResponse, error)
	// SetOverride persists an override (ID, CreatedAt and ExpiresAt are
	// already set by the API), applies it on every replica and announces
	// it. It returns the override as stored.
	SetOverride(ctx context.Context, o store.Override) (store.Override, error)
	// DeleteOverride removes one (resume); store.ErrNotFound if absent.
	DeleteOverride(ctx context.Context, id string) error
}

// Errors a Controller returns (wrapped, with context) so the API can answer
// with the right status.
var (
	ErrUnknownTarget = errors.New("unknown target")    // 404
	ErrConflict      = errors.New("conflict")          // 409
	ErrStale         = errors.New("stale deploy")      // 409: the alias moved on
	ErrBadRequest    = errors.New("bad request")       // 400
	ErrUnavailable   = errors.New("not available now") // 503: e.g. not the lease owner and cannot forward
)

// FieldError is a bad request naming the offending field. Controllers may
// return one (it matches ErrBadRequest with errors.Is).
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// Is makes a FieldError match ErrBadRequest.
func (e *FieldError) Is(target error) bool { return target == ErrBadRequest }

// Status is the daemon's state as an operator sees it.
type Status struct {
	Time      time.Time        `json:"time"`
	Replica   string           `json:"replica,omitempty"`
	DryRun    bool             `json:"dry_run"`           // daemon-wide alert-only
	Paused    bool             `json:"paused"`            // a "*" pause override is in force
	Targets   []TargetStatus   `json:"targets"`           // in config order
	Overrides []store.Override `json:"overrides"`         // every override in force
	Message   string           `json:"message,omitempty"` // e.g. "config reloaded at ..."
}

// TargetStatus is one target's state.
type TargetStatus struct {
	Name       string             `json:"name"`
	Function   string             `json:"function"`
	Alias      string             `json:"alias"`
	Version    string             `json:"version,omitempty"` // alias version last observed
	Weights    map[string]float64 `json:"weights,omitempty"`
	RevisionID string             `json:"revision_id,omitempty"`
	ObservedAt time.Time          `json:"observed_at,omitzero"`
	KnownGood  string             `json:"known_good,omitempty"`
	LeaseOwner string             `json:"lease_owner,omitempty"` // replica owning the target
	Paused     bool               `json:"paused"`                // a pause override applies
	DryRun     bool               `json:"dry_run"`               // target or daemon dry-run
	Watch      *WatchStatus       `json:"watch,omitempty"`       // the active watch
	Overrides  []store.Override   `json:"overrides,omitempty"`   // in force for this target
	Error      string             `json:"error,omitempty"`       // last observation error (AWS unreachable...)
}

// WatchStatus summarises an active watch.
type WatchStatus struct {
	ID          string      `json:"id"`
	Phase       store.Phase `json:"phase"`
	NewVersion  string      `json:"new_version"`
	KnownGood   string      `json:"known_good"`
	DetectedAt  time.Time   `json:"detected_at"`
	Source      string      `json:"source,omitempty"`  // how the deploy was seen: poll, sweep, announce, event, rollout, recovered
	EventAt     time.Time   `json:"event_at,omitzero"` // source event: the event's time (detected_at - event_at: how late)
	BakeUntil   time.Time   `json:"bake_until,omitzero"`
	PromotedAt  time.Time   `json:"promoted_at,omitzero"`
	WindowUntil time.Time   `json:"window_until,omitzero"` // promoted: still watched (and rolled back on failure) until then
	Reason      string      `json:"reason,omitempty"`      // why the watch reached its phase
	// AlertOnlyAt is when the watch failed while canaryd could only alert,
	// and AlertOnlyWhy why (paused, no known-good, known-good failing too).
	AlertOnlyAt  time.Time       `json:"alert_only_at,omitzero"`
	AlertOnlyWhy string          `json:"alert_only_why,omitempty"`
	IncidentID   string          `json:"incident_id,omitempty"`
	LastVerdict  *policy.Verdict `json:"last_verdict,omitempty"`
	Rollout      *store.Rollout  `json:"rollout,omitempty"` // the steps canaryd shifts, and where it is
}

// AnnounceResult answers POST /v1/deploys.
type AnnounceResult struct {
	Target  string `json:"target"`
	Version string `json:"version"`
	Changed bool   `json:"changed"`            // false: this deploy was already known
	WatchID string `json:"watch_id,omitempty"` // the watch (new or existing)
	Message string `json:"message,omitempty"`
}

// RollbackRequest asks for a manual rollback.
type RollbackRequest struct {
	Target    string `json:"target"`
	ToVersion string `json:"to_version,omitempty"` // "" = the recorded known-good
	Reason    string `json:"reason"`
	Actor     string `json:"actor"`
	PlanOnly  bool   `json:"plan_only"` // show the plan, change nothing
}

// RollbackResponse is the plan and what became of it.
type RollbackResponse struct {
	Target      string     `json:"target"`
	FromVersion string     `json:"from_version"`
	ToVersion   string     `json:"to_version"`
	IncidentID  string     `json:"incident_id,omitempty"`
	Plan        []PlanStep `json:"plan"`
	PlanText    string     `json:"plan_text,omitempty"` // the plan as a human reads it
	Outcome     string     `json:"outcome"`             // planned | started | rolled_back | rollback_failed | ...
	Message     string     `json:"message,omitempty"`
}

// PlanStep is one step of a rollback plan.
type PlanStep struct {
	Name        string `json:"name"` // e.g. "lambda-alias", "cloudfront:E123"
	Description string `json:"description"`
	Critical    bool   `json:"critical,omitempty"`
}
