// Package watch is the life cycle of one deploy under watch, as pure
// transition functions: given a watch's state, what just happened (a
// verdict at a tick, a plan that started or ended, a newer deploy, an
// operator) and the time, they return the new state and the effects to
// apply — persist the watch, open an incident, run its rollback plan,
// record the known-good version, claim a one-shot override, write a note to
// the history, the log and on-call. Nothing here does I/O or reads a clock.
//
// The daemon applies the effects against the store, the actuator and the
// notifiers (package effects); replay applies the same effects to a trace
// on the trace's clock (package replay). Both call the same functions, so a
// backtest reaches the decision production would reach, at the same time.
//
// The whole life cycle is in lifecycle.go:
//
//	baking ──promote──► promoted ──window closes──► ended
//	  │  ╲                 │
//	  │   hold (failed while alert-only: waits for mark-good)
//	  ▼                    ▼
//	tripped ──plan starts──► rolling_back ──plan ends──► rolled_back | rollback_failed
//	                                                     | superseded (aborted) | ended (dry run)
//	any active phase ──newer deploy──► superseded;  ──operator──► ended
package watch

import (
	"encoding/json"
	"time"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// Config is what the life cycle reads from a target's configuration
// (defaults applied at config load).
type Config struct {
	// RollbackWindow is how long a promoted version stays watched; 0 ends
	// the watch at promotion.
	RollbackWindow time.Duration
	// DryRun says rollback plans are journaled, not executed (the notes
	// say so).
	DryRun bool
	// DataLag is how long after a moment the evidence about it reaches the
	// policy (a metric period plus the read delay): a rollout step passes
	// only when its whole hold has been seen.
	DataLag time.Duration
	// PreHook and PostHook say whether the target's rollouts have a
	// pre-traffic hook (before any traffic moves) and a post-traffic hook
	// (after 100 %).
	PreHook, PostHook bool
	// RolloutStall is how long a rollout step may hold past its hold
	// waiting for evidence before on-call is told (0: never).
	RolloutStall time.Duration
}

// Tick is one evaluation of an active watch.
type Tick struct {
	Now time.Time
	// Verdict is the policy's verdict at Now for a baking or promoted
	// watch (ignored in other phases).
	Verdict policy.Verdict
	// Overrides are the overrides in force at Now (for any target: the
	// life cycle picks those that apply).
	Overrides []store.Override
}

// PlanResult is how a rollback plan ended.
type PlanResult struct {
	Outcome store.Outcome
	Reason  string
	Actions []Action
}

// Action summarises one executed plan step for the notes.
type Action struct {
	Name     string
	Status   string
	Duration time.Duration
	Detail   string
	Error    string
}

// Effect is something the caller must do for a transition, in order. The
// guards (Claim, Save) may fail: another replica took the override, or the
// watch changed since it was read. When a guard fails the caller applies
// none of the effects after it; the next tick recomputes from fresh state.
type Effect interface{ effect() }

// Save persists the watch: only if the stored revision is still the one the
// transition started from (a guard).
type Save struct{ Watch store.Watch }

// Claim takes a one-shot override for this watch by deleting it (a guard:
// the replica whose delete succeeds acts on it, once). Overrides for all
// targets ("*") are not claimed: they lapse with their TTL.
type Claim struct{ Override store.Override }

// OpenIncident creates the watch's incident. Creating it is idempotent
// (its ID derives from the watch): an existing one is the same incident.
type OpenIncident struct{ Incident store.Incident }

// CloseIncident records the plan's outcome on the incident.
type CloseIncident struct {
	IncidentID string
	Outcome    store.Outcome
}

// SetKnownGood records Version as the target's known-good version.
type SetKnownGood struct{ Target, Version string }

// RunPlan makes sure the incident's rollback plan runs (on the replica that
// owns the target, once at a time; its journal makes a re-run resume).
type RunPlan struct{ IncidentID string }

// Note is one thing that happened: the caller writes it to the history
// (Kind), the log, and, when Alert is set, hands it to the notifiers as an
// alert of that kind.
type Note struct {
	Kind       event.Kind
	Alert      event.Kind // "" = not an alert
	Severity   event.Severity
	Target     string
	WatchID    string
	IncidentID string
	KnownGood  string
	NewVersion string
	Message    string
	Verdict    *policy.Verdict // the verdict behind it (tripped, alert-only)
	Data       json.RawMessage // history data (the verdict of a verdict note)
	Actions    []Action        // plan steps (rollback outcomes)
	Override   *store.Override // the override acted upon
	DryRun     bool
}

func (Save) effect()          {}
func (Claim) effect()         {}
func (OpenIncident) effect()  {}
func (CloseIncident) effect() {}
func (SetKnownGood) effect()  {}
func (RunPlan) effect()       {}
func (Note) effect()          {}

// IncidentID is the one incident a watch can open (promise 3): derived from
// the watch, created at most once in the store.
func IncidentID(watchID string) string { return "inc-" + watchID }

// Judged reports whether a watch in phase p is evaluated by the policy
// (rolling out, baking, or promoted inside its rollback window).
func Judged(p store.Phase) bool {
	return p == store.PhaseRollingOut || p == store.PhaseBaking || p == store.PhasePromoted
}
