// Package notify tells people what canaryd saw and did: PagerDuty Events v2,
// Slack, SNS and signed webhooks. Delivery is asynchronous with retries and
// never blocks or delays actuation (promise 9).
package notify

import (
	"context"
	"time"

	"github.com/canaryd/canaryd/event"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// ActionResult summarises one plan step for a message.
type ActionResult struct {
	Name     string        `json:"name"`
	Status   string        `json:"status"` // store.StepStatus values
	Duration time.Duration `json:"duration"`
	Detail   string        `json:"detail,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// Event is one thing to tell on-call about.
type Event struct {
	// ID is the alert's dedup key: the same alert, redelivered after a
	// crash or a take-over, has the same ID.
	ID         string           `json:"id,omitempty"`
	Type       event.Kind       `json:"type"`
	Severity   event.Severity   `json:"severity"`
	Time       time.Time        `json:"time"`
	Target     string           `json:"target"`
	Function   string           `json:"function,omitempty"`
	Alias      string           `json:"alias,omitempty"`
	WatchID    string           `json:"watch_id,omitempty"`
	IncidentID string           `json:"incident_id,omitempty"` // PagerDuty dedup_key
	KnownGood  string           `json:"known_good,omitempty"`
	NewVersion string           `json:"new_version,omitempty"`
	Verdict    *policy.Verdict  `json:"verdict,omitempty"`
	Actions    []ActionResult   `json:"actions,omitempty"`
	Override   *store.Override  `json:"override,omitempty"`  // the override this event is about
	Overrides  []store.Override `json:"overrides,omitempty"` // every override in force for the target
	DryRun     bool             `json:"dry_run,omitempty"`
	Message    string           `json:"message"` // one line: what happened
	// NextSteps says what a human can do now, e.g. the override commands.
	NextSteps []string `json:"next_steps,omitempty"`
	// Links point at dashboards, the incident in the admin API, runbooks.
	Links []Link `json:"links,omitempty"`
}

// Link is a URL with a label, shown by receivers that support links.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Notifier delivers one event to one destination, once. Retries are the
// dispatcher's job; Notify returns an error that says whether to retry
// (see Retryable).
type Notifier interface {
	// Name is the configured notifier name (for metrics and logs).
	Name() string
	// Notify delivers ev; ctx carries the per-attempt timeout.
	Notify(ctx context.Context, ev Event) error
}
