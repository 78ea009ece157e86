package config

import (
	"net/url"
	"strings"
	"time"
)

// Events is the [events] section: deploy detection driven by EventBridge
// events (CloudTrail UpdateAlias/CreateAlias of Lambda, CodeDeploy
// deployment state changes) delivered to an SQS queue. Absent (no
// queue_url), canaryd polls aliases as before.
type Events struct {
	QueueURL   string `toml:"queue_url"`   // the SQS queue the EventBridge rule delivers to
	Region     string `toml:"region"`      // default: the queue URL's region, else [aws] region
	RoleARN    string `toml:"role_arn"`    // optional: assume this role to read the queue
	ExternalID string `toml:"external_id"` // with role_arn
	// Sweep is how often every alias is still read while events flow
	// (the safety net for a lost event); stretched like poll_interval to
	// respect daemon.max_poll_rate. Default 5m.
	Sweep Duration `toml:"sweep"`
	// SweepRate caps the sweep's alias reads per second (the interval is
	// stretched to fit), so that with many targets the safety net takes a
	// bounded share of Lambda's control-plane quota. Default 2, at most
	// daemon.max_poll_rate.
	SweepRate float64 `toml:"sweep_rate"`
	// WaitTime is the long poll's WaitTimeSeconds, 1s..20s; default 20s.
	WaitTime Duration `toml:"wait_time"`
	// MaxMessages per ReceiveMessage, 1..10; default 10.
	MaxMessages int `toml:"max_messages"`
}

// Enabled reports whether deploy events are consumed.
func (e Events) Enabled() bool { return e.QueueURL != "" }

// Defaults of [events].
const (
	DefaultEventsSweep    = 5 * time.Minute
	DefaultEventsWaitTime = 20 * time.Second
	// DefaultEventsSweepRate is a fifth of the default max_poll_rate.
	DefaultEventsSweepRate = 2.0
)

func applyEventsDefaults(c *Config) {
	e := &c.Events
	setDur(&e.Sweep, DefaultEventsSweep)
	setDur(&e.WaitTime, DefaultEventsWaitTime)
	setInt(&e.MaxMessages, 10)
	if e.SweepRate == 0 {
		e.SweepRate = DefaultEventsSweepRate
	}
	if e.Region == "" {
		e.Region = QueueRegion(e.QueueURL)
	}
	if e.Region == "" {
		e.Region = c.AWS.Region
	}
}

// QueueRegion is the region in an SQS queue URL
// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), "" if it names none.
func QueueRegion(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 4 && parts[0] == "sqs" && parts[2] == "amazonaws" {
		return parts[1]
	}
	return ""
}

func (l *loader) validateEvents(c *Config) {
	e := &c.Events
	if !e.Enabled() {
		if l.pos.written("events") {
			l.add("events.queue_url", "required when [events] is present (the SQS queue URL the EventBridge rule delivers to, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
		}
		return
	}
	u, err := url.Parse(e.QueueURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || len(strings.Split(strings.Trim(u.Path, "/"), "/")) != 2 {
		l.add("events.queue_url", "must be an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/canaryd-events (got %q)", e.QueueURL)
	}
	if strings.HasSuffix(e.QueueURL, ".fifo") {
		l.add("events.queue_url", "a FIFO queue cannot be an EventBridge rule target without a message group; use a standard queue")
	}
	l.roleARN("events.role_arn", e.RoleARN)
	l.durWithin("events.sweep", e.Sweep, time.Minute, 24*time.Hour)
	l.durWithin("events.wait_time", e.WaitTime, time.Second, 20*time.Second)
	if e.WaitTime.Duration%time.Second != 0 {
		l.add("events.wait_time", "must be whole seconds (SQS WaitTimeSeconds; got %s)", e.WaitTime.Duration)
	}
	l.intRange("events.max_messages", e.MaxMessages, 1, 10)
	if e.SweepRate <= 0 || e.SweepRate > c.Daemon.MaxPollRate {
		l.add("events.sweep_rate", "must be in (0, daemon.max_poll_rate = %g] alias reads per second (got %g)", c.Daemon.MaxPollRate, e.SweepRate)
	}
	if e.Region == "" {
		l.add("events.region", "required: the queue URL names no region and [aws] region is not set")
	}
}
