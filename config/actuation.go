package config

import (
	"fmt"
	"time"
)

// Defaults and checks for the keys that keep canaryd working under faults:
// AWS call deadlines, how long a failing rollback is retried, and a verify
// window long enough to verify anything. Kept apart from the rule defaults
// and rule validation.

// Defaults of the [aws] deadlines and of [target.actions] retry_for.
const (
	DefaultAWSReadTimeout           = 30 * time.Second
	DefaultAWSActionTimeout         = 60 * time.Second
	DefaultAWSConnectTimeout        = 5 * time.Second
	DefaultAWSResponseHeaderTimeout = 10 * time.Second
	DefaultRetryFor                 = 15 * time.Minute
	// VerifyRounds is how many probe rounds in a row a verify step needs;
	// a verify window must hold that many probe intervals.
	VerifyRounds = 3
)

// applyRobustDefaults fills in the deadline and retry keys.
func (l *loader) applyRobustDefaults(c *Config) {
	a := &c.AWS
	setDur(&a.ReadTimeout, DefaultAWSReadTimeout)
	setDur(&a.ActionTimeout, DefaultAWSActionTimeout)
	setDur(&a.ConnectTimeout, DefaultAWSConnectTimeout)
	setDur(&a.ResponseHeaderTimeout, DefaultAWSResponseHeaderTimeout)
	for i := range c.Targets {
		if !l.pos.written(fmt.Sprintf("target[%d].actions.retry_for", i)) {
			c.Targets[i].Actions.RetryFor.Duration = DefaultRetryFor
		}
	}
}

// validateRobust checks the keys applyRobustDefaults fills in, and that
// each verify window can hold VerifyRounds probe rounds.
func (l *loader) validateRobust(c *Config) {
	a := &c.AWS
	l.durWithin("aws.read_timeout", a.ReadTimeout, time.Second, 10*time.Minute)
	l.durWithin("aws.action_timeout", a.ActionTimeout, time.Second, 30*time.Minute)
	l.durWithin("aws.connect_timeout", a.ConnectTimeout, 100*time.Millisecond, time.Minute)
	l.durWithin("aws.response_header_timeout", a.ResponseHeaderTimeout, 100*time.Millisecond, 10*time.Minute)
	for i := range c.Targets {
		t := &c.Targets[i]
		path := fmt.Sprintf("target[%d].actions", i)
		l.durWithin(path+".retry_for", t.Actions.RetryFor, 0, 24*time.Hour)
		l.verifyWindow(path+".verify.window", t)
	}
}

// verifyWindow rejects a window shorter than VerifyRounds intervals of the
// target's most frequent probe (the verifier probes at that pace): such a
// window fails every verification, however healthy the target.
func (l *loader) verifyWindow(path string, t *Target) {
	w := t.Actions.Verify.Window.Duration
	if w <= 0 || len(t.Probes) == 0 {
		return
	}
	p := t.Probes[0]
	for _, q := range t.Probes[1:] {
		if q.Interval.Duration < p.Interval.Duration {
			p = q
		}
	}
	if need := VerifyRounds * p.Interval.Duration; p.Interval.Duration > 0 && w < need {
		l.add(path, "must be at least %s: %d rounds of probe %q every %s (got %s)", need, VerifyRounds, p.Name, p.Interval, w)
	}
}

func (l *loader) durWithin(path string, d Duration, lo, hi time.Duration) {
	if d.Duration < lo || d.Duration > hi {
		l.add(path, "must be between %s and %s (got %s)", lo, hi, d.Duration)
	}
}
