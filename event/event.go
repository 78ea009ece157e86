// Package event names what happens to a target, a watch or an incident.
// One Kind serves the history (store.Event.Type), the log and the alerts
// (notify.Event.Type), so behaviour never depends on a string that is also
// a message. It is a leaf package.
package event

// Kind is what happened.
type Kind string

// Kinds of the watch life cycle. Those marked "alert" can be delivered to
// notifiers (a notifier's `events` list names them); the others are history
// only.
const (
	WatchStarted      Kind = "watch_started"      // alert: a deploy is under watch
	Verdict           Kind = "verdict"            // the policy's verdict changed kind
	Tripped           Kind = "tripped"            // alert: rolling back
	AlertOnly         Kind = "alert_only"         // alert: failing, but no automatic action (and why)
	PromotionHeld     Kind = "promotion_held"     // healthy after failing while alert-only: waits for an operator
	Promoted          Kind = "promoted"           // alert: the version is known-good now
	Ended             Kind = "ended"              // rollback window closed, or an operator ended the watch
	Superseded        Kind = "superseded"         // a newer deploy replaced the watched one
	RollbackDone      Kind = "rollback_done"      // alert: alias reverted and health verified
	RollbackFailed    Kind = "rollback_failed"    // alert: a step failed
	RollbackUnhealthy Kind = "rollback_unhealthy" // alert: alias reverted but health did not recover
	RollbackAborted   Kind = "rollback_aborted"   // alert: the alias moved meanwhile: a newer deploy, not clobbered
	RollbackRetrying  Kind = "rollback_retrying"  // alert: the rollback cannot reach AWS and keeps trying
	RollbackDryRun    Kind = "rollback_not_executed"
	OverrideSet       Kind = "override_set"     // alert
	OverrideExpired   Kind = "override_expired" // alert
	OverrideUsed      Kind = "override_used"    // a one-shot override was acted upon
	StoreLost         Kind = "store_lost"       // alert: the store came back empty (watches, incidents, journals gone)
	RolloutStep       Kind = "rollout_step"     // alert: a rollout moved traffic, or a hook ran
	RolloutAborted    Kind = "rollout_aborted"  // alert: a rollout stopped without a rollback (hook failed, alias moved)
	AlertSent         Kind = "alert_sent"       // an alert reached a notifier
	AlertFailed       Kind = "alert_failed"     // an alert could not be delivered
	// EvidenceSnapshot keeps a watch's evidence series (package evidence)
	// when its verdict turns failing or promote: the charts of an incident
	// survive a restart.
	EvidenceSnapshot Kind = "evidence_snapshot"
	// `canaryd notify test`: a test alert, and its resolve for receivers
	// that open incidents (PagerDuty). Never sent by the daemon.
	Test         Kind = "test"
	TestResolved Kind = "test_resolved"
)

// Alerts lists the kinds notifiers can deliver, in life-cycle order.
var Alerts = []Kind{WatchStarted, Tripped, RollbackRetrying, RollbackDone, RollbackFailed, RollbackUnhealthy,
	RollbackAborted, AlertOnly, Promoted, OverrideSet, OverrideExpired, StoreLost, RolloutStep, RolloutAborted}

// Alert reports whether k can be delivered to notifiers.
func (k Kind) Alert() bool {
	for _, a := range Alerts {
		if a == k {
			return true
		}
	}
	return false
}

// Severity is how urgent an alert is.
type Severity string

// Severities.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)
