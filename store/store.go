// Package store persists canaryd's state: target state (known-good
// versions), watches, incidents, the rollback journal, operator overrides,
// ownership leases and the event history. Two backends implement Store: an
// embedded bbolt file (one replica, zero set-up) and Redis (shared by
// replicas); one conformance suite (storetest) runs against both.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/event"
)

// Errors callers tell apart with errors.Is.
var (
	ErrNotFound  = errors.New("store: not found")
	ErrExists    = errors.New("store: already exists")
	ErrLeaseHeld = errors.New("store: lease held by another replica")
	ErrFenced    = errors.New("store: fencing token is stale")
	ErrConflict  = errors.New("store: concurrent update")
)

// Store is the state backend. Every method is safe for concurrent use by
// several goroutines and, for shared backends, by several replicas.
type Store interface {
	// GetTarget returns what is known about a target; ErrNotFound if nothing.
	GetTarget(ctx context.Context, name string) (TargetState, error)
	// PutTarget replaces a target's state.
	PutTarget(ctx context.Context, t TargetState) error

	// CreateWatch stores a new watch; ErrExists if the ID is taken.
	CreateWatch(ctx context.Context, w Watch) error
	// GetWatch returns one watch; ErrNotFound if absent.
	GetWatch(ctx context.Context, id string) (Watch, error)
	// UpdateWatch atomically reads the watch, applies fn and writes it back
	// with Revision incremented. If fn returns an error nothing is written
	// and that error is returned. Concurrent updates are serialised
	// (retried by the backend), never lost. fn may therefore run more than
	// once, must not call the Store, and must not change ID or Target.
	UpdateWatch(ctx context.Context, id string, fn func(*Watch) error) (Watch, error)
	// ListWatches returns watches newest first.
	ListWatches(ctx context.Context, f WatchFilter) ([]Watch, error)

	// CreateIncident stores a new incident; ErrExists if one with the same
	// ID exists. Incident IDs derive from the watch, so one tripped watch
	// can open at most one incident, across restarts and replicas.
	CreateIncident(ctx context.Context, in Incident) error
	// GetIncident returns one incident; ErrNotFound if absent.
	GetIncident(ctx context.Context, id string) (Incident, error)
	// UpdateIncident is UpdateWatch for incidents.
	UpdateIncident(ctx context.Context, id string, fn func(*Incident) error) (Incident, error)
	// ListIncidents returns incidents newest first; target "" means all.
	ListIncidents(ctx context.Context, target string, limit int) ([]Incident, error)

	// AppendJournal records one step transition of a plan. When fence.Token
	// is non-zero the append fails with ErrFenced unless fence is still the
	// target's current lease, checked atomically with the write.
	AppendJournal(ctx context.Context, e JournalEntry, fence Fence) error
	// Journal returns a plan's entries in append order; none (and no
	// error) for an unknown plan.
	Journal(ctx context.Context, planID string) ([]JournalEntry, error)

	// PutOverride creates or replaces an override (by ID).
	PutOverride(ctx context.Context, o Override) error
	// DeleteOverride removes one; ErrNotFound if absent.
	DeleteOverride(ctx context.Context, id string) error
	// ListOverrides returns all stored overrides, expired ones included;
	// callers judge expiry with their own clock (Override.Active).
	ListOverrides(ctx context.Context) ([]Override, error)

	// AcquireLease takes or renews the lease on target for holder. A new
	// holder gets a strictly larger fencing token than any before it; the
	// same holder renewing an unexpired lease keeps its token (after its
	// lease expired it gets a new one). ErrLeaseHeld if another holder's
	// lease has not expired.
	AcquireLease(ctx context.Context, target, holder string, ttl time.Duration) (Fence, error)
	// ReleaseLease gives the lease up if holder still has it.
	ReleaseLease(ctx context.Context, target, holder string) error
	// CheckFence returns ErrFenced unless fence is the current lease; an
	// expired lease is not current, even if nobody has taken it yet.
	CheckFence(ctx context.Context, fence Fence) error

	// AppendEvent adds to the history.
	AppendEvent(ctx context.Context, e Event) error
	// Events returns history entries oldest first, filtered.
	Events(ctx context.Context, f EventFilter) ([]Event, error)

	// PutOutbox writes alerts owed to notifiers, all or none; an entry with
	// the same ID and notifier is replaced (an alert redelivered keeps its
	// dedup key).
	PutOutbox(ctx context.Context, entries []OutboxEntry) error
	// DeleteOutbox removes a delivered entry; ErrNotFound if absent.
	DeleteOutbox(ctx context.Context, id, notifier string) error
	// ListOutbox returns every entry, oldest first (Created, then ID,
	// then notifier).
	ListOutbox(ctx context.Context) ([]OutboxEntry, error)

	// Marker returns the store's marker, writing a new one when the store
	// has none (created). A store that answers created after it answered
	// with a marker before has lost its data.
	Marker(ctx context.Context) (m Marker, created bool, err error)

	// Shared reports whether several replicas may use the store at once:
	// then targets need leases. The embedded file is one process's alone.
	Shared() bool

	// Close releases the backend.
	Close() error
}

// TargetState is what persists about one target between watches.
type TargetState struct {
	Name        string             `json:"name"`
	KnownGood   string             `json:"known_good,omitempty"` // last promoted version
	KnownGoodAt time.Time          `json:"known_good_at,omitempty"`
	Version     string             `json:"version,omitempty"`     // alias FunctionVersion last observed
	Weights     map[string]float64 `json:"weights,omitempty"`     // alias routing last observed
	RevisionID  string             `json:"revision_id,omitempty"` // alias RevisionId last observed
	ObservedAt  time.Time          `json:"observed_at,omitempty"`
	// AloneSince is when an alias read first found Version serving the
	// alias alone, in the run of reads that have found it so since: it
	// served alone from then on. Zero when not known (the state's first
	// observation: it may have served long before) or while the alias
	// splits.
	AloneSince  time.Time `json:"alone_since,omitzero"`
	ActiveWatch string    `json:"active_watch,omitempty"` // ID of the running watch, if any
}

// Phase is a watch's place in its life cycle.
type Phase string

// Watch phases. Baking and Promoted (inside the rollback window) are
// watched; Tripped and RollingBack have a plan under way; the rest are final.
const (
	PhaseRollingOut     Phase = "rolling_out" // canaryd is shifting traffic step by step
	PhaseBaking         Phase = "baking"
	PhasePromoted       Phase = "promoted" // still watched while inside the rollback window
	PhaseTripped        Phase = "tripped"
	PhaseRollingBack    Phase = "rolling_back"
	PhaseRolledBack     Phase = "rolled_back" // verified
	PhaseRollbackFailed Phase = "rollback_failed"
	PhaseSuperseded     Phase = "superseded"
	PhaseEnded          Phase = "ended" // by an operator (mark good) or the window closing
)

// Final reports whether nothing more happens to a watch in this phase.
func (p Phase) Final() bool {
	switch p {
	case PhaseRolledBack, PhaseRollbackFailed, PhaseSuperseded, PhaseEnded:
		return true
	}
	return false
}

// Watch is the life of one deploy of one target.
type Watch struct {
	ID         string             `json:"id"`
	Target     string             `json:"target"`
	Phase      Phase              `json:"phase"`
	KnownGood  string             `json:"known_good"` // "" = none known: alert only
	NewVersion string             `json:"new_version"`
	Weights    map[string]float64 `json:"weights,omitempty"` // additional version weights when split
	RevisionID string             `json:"revision_id"`       // alias RevisionId when the deploy was seen
	Source     string             `json:"source"`            // poll | sweep | announce | event | rollout | recovered
	DetectedAt time.Time          `json:"detected_at"`
	// BaselineSince is when the version the alias served before the
	// deploy (the one the pre-deploy baseline measures) was first seen
	// serving it alone (TargetState.AloneSince). When the minutes before
	// show another version's rates, the policy takes the baseline's rates
	// from the periods after it only (policy.Input.BaselineSince).
	// Zero when not known: the whole baseline_window is that version's.
	BaselineSince time.Time       `json:"baseline_since,omitzero"`
	EventAt       time.Time       `json:"event_at,omitzero"` // Source event: the event's time (DetectedAt - EventAt: how late)
	PromotedAt    time.Time       `json:"promoted_at,omitempty"`
	EndedAt       time.Time       `json:"ended_at,omitempty"`
	IncidentID    string          `json:"incident_id,omitempty"`
	SupersededBy  string          `json:"superseded_by,omitempty"`
	Reason        string          `json:"reason,omitempty"`       // why it reached its phase
	LastVerdict   json.RawMessage `json:"last_verdict,omitempty"` // policy.Verdict
	VerdictKind   string          `json:"verdict_kind,omitempty"` // kind of LastVerdict
	// AlertOnlyAt is when the watch first failed while canaryd could only
	// alert (paused, no known-good, known-good failing too), and why: such
	// a version is not promoted on its own (see package watch).
	AlertOnlyAt  time.Time `json:"alert_only_at,omitempty"`
	AlertOnlyWhy string    `json:"alert_only_why,omitempty"`
	// HeldAt is when a held promotion was announced (once).
	HeldAt time.Time `json:"held_at,omitempty"`
	// Rollout is set when canaryd moves the traffic itself (phase
	// rolling_out until the last step passes).
	Rollout *Rollout `json:"rollout,omitempty"`
	// ProbeBaseline is the known-good's probe results from before the
	// deploy, the probe rules' baseline, as the process that saw the deploy
	// had them: a process that restarts or takes the watch over never saw
	// the known-good alone and judges with these. Nil for a rollout (its
	// evidence starts at its first weight) and for older watches.
	ProbeBaseline *ProbeBaseline `json:"probe_baseline,omitempty"`
	Revision      int64          `json:"revision"` // bumped by UpdateWatch
}

// ProbeBaseline is a compact list of probe results (at most a few dozen:
// it is written with every update of its watch).
type ProbeBaseline struct {
	Probes []string `json:"probes,omitempty"` // the probes' names
	AtNS   []int64  `json:"at_ns,omitempty"`  // each result's time, Unix nanoseconds
	Probe  []int    `json:"probe,omitempty"`  // each result's probe, an index into Probes (all 0 when omitted)
	Failed []int    `json:"failed,omitempty"` // the indexes of the results that failed, ascending
}

// ProbeResult is one result of a ProbeBaseline.
type ProbeResult struct {
	At     time.Time
	Probe  string
	Failed bool
}

// NewProbeBaseline compacts results.
func NewProbeBaseline(results []ProbeResult) *ProbeBaseline {
	b := &ProbeBaseline{}
	index := map[string]int{}
	needProbe := false
	for i, r := range results {
		j, ok := index[r.Probe]
		if !ok {
			j = len(b.Probes)
			index[r.Probe] = j
			b.Probes = append(b.Probes, r.Probe)
		}
		needProbe = needProbe || j != 0
		b.AtNS = append(b.AtNS, r.At.UnixNano())
		b.Probe = append(b.Probe, j)
		if r.Failed {
			b.Failed = append(b.Failed, i)
		}
	}
	if !needProbe {
		b.Probe = nil
	}
	return b
}

// Len is how many results the baseline holds (0 for nil).
func (b *ProbeBaseline) Len() int {
	if b == nil {
		return 0
	}
	return len(b.AtNS)
}

// Results expands the baseline; an error says how a stored one is
// malformed.
func (b *ProbeBaseline) Results() ([]ProbeResult, error) {
	if b == nil {
		return nil, nil
	}
	if b.Probe != nil && len(b.Probe) != len(b.AtNS) {
		return nil, fmt.Errorf("probe_baseline: %d probe indexes for %d results", len(b.Probe), len(b.AtNS))
	}
	out := make([]ProbeResult, len(b.AtNS))
	for i, at := range b.AtNS {
		j := 0
		if b.Probe != nil {
			j = b.Probe[i]
		}
		if j < 0 || j >= len(b.Probes) {
			return nil, fmt.Errorf("probe_baseline: result %d names probe %d of %d", i, j, len(b.Probes))
		}
		out[i] = ProbeResult{At: time.Unix(0, at).UTC(), Probe: b.Probes[j]}
	}
	for _, i := range b.Failed {
		if i < 0 || i >= len(out) {
			return nil, fmt.Errorf("probe_baseline: failed result %d of %d", i, len(out))
		}
		out[i].Failed = true
	}
	return out, nil
}

// Rollout is a deploy whose traffic canaryd shifts itself, step by step,
// judging each step before the next.
type Rollout struct {
	Steps []RolloutStep `json:"steps"`
	Step  int           `json:"step"` // index of the current step
	// StepAt is when the current step's weight was set; zero while it is
	// still to be set.
	StepAt time.Time `json:"step_at,omitempty"`
	// Gated is set when an operator passed the current step's gate (or
	// asked to move on now).
	Gated    bool      `json:"gated,omitempty"`
	PreHook  HookState `json:"pre_hook,omitempty"`
	PostHook HookState `json:"post_hook,omitempty"`
	// TrafficAt is when the first step's weight was set: the new version's
	// evidence starts there (watch.JudgedFrom).
	TrafficAt time.Time `json:"traffic_at,omitempty"`
	// StalledAt is when on-call was told the current step holds past its
	// hold for want of evidence (zero: not yet, for this step).
	StalledAt time.Time `json:"stalled_at,omitempty"`
}

// RolloutStep is one weight of a rollout and how long it is judged.
type RolloutStep struct {
	Weight float64       `json:"weight"`         // share of the traffic on the new version, (0, 1]
	Hold   time.Duration `json:"hold"`           // judged this long before the next step
	Gate   bool          `json:"gate,omitempty"` // after the hold, wait for an operator's promote
}

// HookState is how a rollout's traffic hook went.
type HookState string

// Hook states.
const (
	HookPending HookState = "pending"
	HookPassed  HookState = "passed"
	HookFailed  HookState = "failed"
)

// Outcome is how an incident's rollback plan ended.
type Outcome string

// Outcomes (the actuator's plan outcomes have the same values).
const (
	OutcomeRolledBack     Outcome = "rolled_back"              // alias reverted, health verified
	OutcomeFailed         Outcome = "rollback_failed"          // a critical step failed
	OutcomeAborted        Outcome = "aborted"                  // the alias moved meanwhile: a newer deploy, not clobbered
	OutcomeNotExecuted    Outcome = "not_executed"             // dry run: planned and journaled only
	OutcomeUnhealthyAfter Outcome = "unhealthy_after_rollback" // alias reverted, health did not recover
)

// WatchFilter selects watches. Zero values select everything.
type WatchFilter struct {
	Target     string
	ActiveOnly bool // phases that are not Final
	Limit      int
}

// Incident is a tripped watch and everything done about it.
type Incident struct {
	ID          string          `json:"id"`
	Target      string          `json:"target"`
	WatchID     string          `json:"watch_id"`
	OpenedAt    time.Time       `json:"opened_at"`
	ClosedAt    time.Time       `json:"closed_at,omitempty"`
	FromVersion string          `json:"from_version"` // the bad version
	ToVersion   string          `json:"to_version"`   // the known-good target of the rollback
	Trigger     string          `json:"trigger"`      // policy | operator | manual
	Actor       string          `json:"actor,omitempty"`
	Verdict     json.RawMessage `json:"verdict,omitempty"` // policy.Verdict that tripped it
	Outcome     Outcome         `json:"outcome,omitempty"` // "" while the plan has not finished
	// ClearedAt is when an operator marked FromVersion good again after
	// this incident (override mark-good --version): canaryd no longer
	// treats it as known-bad.
	ClearedAt time.Time `json:"cleared_at,omitempty"`
	ClearedBy string    `json:"cleared_by,omitempty"`
	Revision  int64     `json:"revision"`
}

// RolledBack reports whether the incident reverted its version (it is
// known-bad until cleared).
func (in Incident) RolledBack() bool {
	return in.Outcome == OutcomeRolledBack || in.Outcome == OutcomeUnhealthyAfter
}

// StepStatus is one transition of a plan step in the journal.
type StepStatus string

// Step statuses: Intent is written before a step acts; one of the others
// after. A step with an Intent and no later status was interrupted.
const (
	StepIntent      StepStatus = "intent"
	StepDone        StepStatus = "done"
	StepFailed      StepStatus = "failed"
	StepSkipped     StepStatus = "skipped"
	StepNotExecuted StepStatus = "not_executed" // dry-run / alert-only
	StepAborted     StepStatus = "aborted"      // e.g. alias moved: newer deploy
)

// JournalEntry is one persisted step transition.
type JournalEntry struct {
	PlanID   string          `json:"plan_id"` // the incident ID
	Target   string          `json:"target"`
	Step     int             `json:"step"` // index in the plan
	Name     string          `json:"name"` // e.g. "lambda-alias", "cloudfront:E123", "redis:sessions"
	Status   StepStatus      `json:"status"`
	Time     time.Time       `json:"time"`
	Duration time.Duration   `json:"duration,omitempty"`
	Detail   json.RawMessage `json:"detail,omitempty"` // step-specific outcome (keys removed, invalidation id, ...)
	Error    string          `json:"error,omitempty"`
}

// OverrideKind is what an operator decided.
type OverrideKind string

// Override kinds.
const (
	OverridePause         OverrideKind = "pause"          // alert only until expiry
	OverrideForceRollback OverrideKind = "force_rollback" // roll back now (consumed once acted upon)
	OverrideMarkGood      OverrideKind = "mark_good"      // end the watch, promote (consumed)
	OverridePromote       OverrideKind = "promote"        // a rollout: pass the current step's gate or hold now (consumed)
)

// Override is an operator's decision with TTL, reason and actor.
type Override struct {
	ID        string       `json:"id"`
	Target    string       `json:"target"` // "*" = all targets
	Kind      OverrideKind `json:"kind"`
	Reason    string       `json:"reason"`
	Actor     string       `json:"actor"`
	CreatedAt time.Time    `json:"created_at"`
	ExpiresAt time.Time    `json:"expires_at,omitempty"` // zero = until removed
	Version   string       `json:"version,omitempty"`    // force_rollback --to, mark_good version
}

// Active reports whether the override is in force at now.
func (o Override) Active(now time.Time) bool {
	return o.ExpiresAt.IsZero() || now.Before(o.ExpiresAt)
}

// Applies reports whether the override covers target.
func (o Override) Applies(target string) bool { return o.Target == "*" || o.Target == target }

// Fence is a lease's fencing token.
type Fence struct {
	Target string `json:"target"`
	Holder string `json:"holder"`
	Token  int64  `json:"token"`
}

// Event is one history entry: something that happened, when, and its data.
type Event struct {
	Time       time.Time       `json:"time"`
	Target     string          `json:"target"`
	WatchID    string          `json:"watch_id,omitempty"`
	IncidentID string          `json:"incident_id,omitempty"`
	Type       event.Kind      `json:"type"` // see package event
	Message    string          `json:"message"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// OutboxEntry is one alert owed to one notifier: written before the state
// change it reports is applied, removed once delivered, redelivered after a
// crash or a lease take-over (at least once; ID is the dedup key).
type OutboxEntry struct {
	ID       string          `json:"id"`
	Notifier string          `json:"notifier"`
	Target   string          `json:"target"`
	Created  time.Time       `json:"created"`
	Event    json.RawMessage `json:"event"` // the notify.Event
}

// Marker is written once into an empty store; its ID tells one store's
// life from the next.
type Marker struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

// EventFilter selects history entries. Zero values select everything.
type EventFilter struct {
	Target     string
	WatchID    string
	IncidentID string
	Since      time.Time
	Limit      int // newest Limit, still returned oldest first
}

// LeaseBatcher is implemented by shared backends that can take or renew
// many leases at once (AcquireLease's semantics per target, fewer round
// trips). A replica renews every target's lease every few seconds, so the
// daemon uses it when the store has it.
type LeaseBatcher interface {
	AcquireLeases(ctx context.Context, targets []string, holder string, ttl time.Duration) (map[string]Fence, map[string]error)
}
