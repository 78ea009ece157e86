package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/canaryd/canaryd/event"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
)

// DefaultPagerDutyURL is the Events API v2 base URL.
const DefaultPagerDutyURL = "https://events.pagerduty.com"

// maxPagerDutySummary is the Events API v2 limit on payload.summary.
const maxPagerDutySummary = 1024

// maxPagerDutyDedupKey is the Events API v2 limit on dedup_key.
const maxPagerDutyDedupKey = 255

// pagerDutyRetrier retries 429 (rate limited) as well as 5xx; other 4xx
// (400 invalid event) will never succeed.
var pagerDutyRetrier = Retrier{RetryCodes: []int{http.StatusTooManyRequests}}

// PagerDutyConfig configures a PagerDuty Events API v2 notifier.
type PagerDutyConfig struct {
	Name       string
	RoutingKey config.Secret // integration key
	URL        string        // base URL; default DefaultPagerDutyURL (tests point it at httptest)
	Client     *http.Client  // default: a client with no timeout of its own
	Source     string        // payload.source when the event names no function; default "canaryd"
}

// PagerDuty sends events to PagerDuty Events API v2: it triggers an alert
// when a watch trips or a rollback goes wrong, and resolves it, with the
// same dedup_key, when the rollback is verified.
type PagerDuty struct {
	c PagerDutyConfig
}

// NewPagerDuty returns a PagerDuty notifier.
func NewPagerDuty(c PagerDutyConfig) *PagerDuty {
	if c.URL == "" {
		c.URL = DefaultPagerDutyURL
	}
	c.URL = strings.TrimRight(c.URL, "/")
	if c.Client == nil {
		c.Client = defaultHTTPClient()
	}
	if c.Source == "" {
		c.Source = "canaryd"
	}
	return &PagerDuty{c: c}
}

// Name is the configured notifier name.
func (p *PagerDuty) Name() string { return p.c.Name }

// Handles reports whether PagerDuty is told about events of type t: only
// those that open or close an incident; the rest would be noise on a pager.
func (p *PagerDuty) Handles(t event.Kind) bool {
	_, ok := PagerDutyAction(t)
	return ok
}

// PagerDutyAction maps an event type to the Events v2 event_action.
func PagerDutyAction(t event.Kind) (action string, ok bool) {
	switch t {
	case event.Tripped, event.RollbackRetrying, event.RollbackFailed, event.RollbackUnhealthy, event.AlertOnly:
		return "trigger", true
	case event.Test:
		return "trigger", true
	case event.RollbackDone, event.RollbackAborted, event.TestResolved:
		// A rollback stopped for a newer deploy is over: that deploy has
		// its own watch (and its own incident if it fails).
		return "resolve", true
	}
	return "", false
}

// DedupKey is the key that ties a trigger to its resolve: the incident, or
// the target and watch when no incident was opened (alert only).
// Keys longer than PagerDuty's 255 characters keep a prefix and a hash of
// the whole, so distinct keys stay distinct.
func DedupKey(ev Event) string {
	key := ev.Target
	switch {
	case ev.IncidentID != "":
		key = ev.IncidentID
	case ev.WatchID != "":
		key = ev.Target + "/" + ev.WatchID
	}
	if len(key) <= maxPagerDutyDedupKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return key[:maxPagerDutyDedupKey-len(h)-1] + "-" + h
}

// Notify sends one event; types PagerDuty does not handle are ignored.
func (p *PagerDuty) Notify(ctx context.Context, ev Event) error {
	body, ok, err := p.body(ev)
	if err != nil || !ok {
		return err
	}
	return httpPost{
		notifier: p.c.Name,
		client:   p.c.Client,
		url:      p.c.URL + "/v2/enqueue",
		body:     body,
		retrier:  pagerDutyRetrier,
		secrets:  []string{p.c.RoutingKey.Value()},
	}.do(ctx)
}

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload,omitempty"`
	Client      string     `json:"client,omitempty"`
	Links       []pdLink   `json:"links,omitempty"`
}

type pdPayload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp,omitempty"`
	Component     string          `json:"component,omitempty"`
	Group         string          `json:"group,omitempty"`
	Class         string          `json:"class,omitempty"`
	CustomDetails pdCustomDetails `json:"custom_details"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// pdCustomDetails is what the PagerDuty incident page shows under details.
type pdCustomDetails struct {
	What       string           `json:"what"`
	Why        []string         `json:"why,omitempty"`
	Findings   []policy.Finding `json:"findings,omitempty"`
	Versions   string           `json:"versions,omitempty"`
	KnownGood  string           `json:"known_good,omitempty"`
	NewVersion string           `json:"new_version,omitempty"`
	Actions    []string         `json:"actions,omitempty"`
	Overrides  []string         `json:"overrides_in_force,omitempty"`
	NextSteps  []string         `json:"next_steps,omitempty"`
	IncidentID string           `json:"incident_id,omitempty"`
	WatchID    string           `json:"watch_id,omitempty"`
	DryRun     bool             `json:"dry_run,omitempty"`
}

// body builds the request body; ok is false for event types not sent.
func (p *PagerDuty) body(ev Event) (body []byte, ok bool, err error) {
	action, ok := PagerDutyAction(ev.Type)
	if !ok {
		return nil, false, nil
	}
	e := pdEvent{
		RoutingKey:  p.c.RoutingKey.Value(),
		EventAction: action,
		DedupKey:    DedupKey(ev),
		Client:      "canaryd",
	}
	for _, l := range ev.Links {
		e.Links = append(e.Links, pdLink(l))
	}
	// A resolve needs only the key, but a payload makes the resolve note
	// readable in the incident's timeline; PagerDuty accepts both.
	e.Payload = p.payload(ev)
	body, err = json.Marshal(e)
	if err != nil {
		return nil, false, &DeliveryError{Notifier: p.c.Name, Err: fmt.Errorf("encode pagerduty event: %w", err)}
	}
	return body, true, nil
}

func (p *PagerDuty) payload(ev Event) *pdPayload {
	m := Render(ev)
	source := p.c.Source
	if ev.Function != "" {
		source = ev.Function
		if ev.Alias != "" {
			source += ":" + ev.Alias
		}
	}
	pl := &pdPayload{
		Summary:   truncate(m.Headline, maxPagerDutySummary),
		Source:    source,
		Severity:  pagerDutySeverity(ev.Severity),
		Component: ev.Target,
		Group:     ev.Function,
		Class:     string(ev.Type),
		CustomDetails: pdCustomDetails{
			What:       m.What,
			Why:        m.Why,
			Versions:   m.Versions,
			KnownGood:  ev.KnownGood,
			NewVersion: ev.NewVersion,
			Actions:    m.Actions,
			Overrides:  m.Overrides,
			NextSteps:  m.NextSteps,
			IncidentID: ev.IncidentID,
			WatchID:    ev.WatchID,
			DryRun:     ev.DryRun,
		},
	}
	if ev.Verdict != nil {
		pl.CustomDetails.Findings = ev.Verdict.Findings
	}
	if !ev.Time.IsZero() {
		pl.Timestamp = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	return pl
}

// pagerDutySeverity maps to the four severities Events v2 accepts.
func pagerDutySeverity(s event.Severity) string {
	switch s {
	case event.Critical:
		return "critical"
	case event.Warning:
		return "warning"
	case event.Info:
		return "info"
	}
	return "error"
}
