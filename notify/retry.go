package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DeliveryError is what a Notifier returns when a delivery attempt failed.
// Retry says whether another attempt may succeed; the dispatcher reads it
// through Retryable, never by parsing messages. Its text never carries a
// secret (see redactErr).
type DeliveryError struct {
	Notifier   string
	Status     int           // HTTP status, 0 when none was received
	Retry      bool          // another attempt may succeed
	RetryAfter time.Duration // receiver's hint (Retry-After), 0 when none
	Err        error
}

func (e *DeliveryError) Error() string {
	kind := "permanent"
	if e.Retry {
		kind = "retryable"
	}
	if e.Status != 0 {
		return fmt.Sprintf("notify %s: %s: status %d: %v", e.Notifier, kind, e.Status, e.Err)
	}
	return fmt.Sprintf("notify %s: %s: %v", e.Notifier, kind, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Retryable reports whether a failed delivery may succeed on another
// attempt. Errors that are not a *DeliveryError (a bug, a transport error
// somebody forgot to classify) are retried: losing a page is worse than
// sending one twice, and the receivers deduplicate.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Retry
	}
	return true
}

// retryAfter returns the receiver's Retry-After hint carried by err, if any.
func retryAfter(err error) time.Duration {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.RetryAfter
	}
	return 0
}

// Retrier decides, from an HTTP status, whether a delivery failed and
// whether to retry it: 2xx succeed, 5xx and RetryCodes retry, every other
// status is permanent. Like Alertmanager's notify.Retrier, each integration
// states its own RetryCodes (PagerDuty adds 429).
type Retrier struct {
	RetryCodes []int
}

// Check returns nil for a 2xx status, else a *DeliveryError whose Retry
// field is the decision. detail is a short excerpt of the response body.
func (r Retrier) Check(notifier string, status int, detail string) error {
	if status/100 == 2 {
		return nil
	}
	retry := status/100 == 5
	for _, c := range r.RetryCodes {
		if c == status {
			retry = true
		}
	}
	msg := http.StatusText(status)
	if detail != "" {
		msg += ": " + detail
	}
	return &DeliveryError{Notifier: notifier, Status: status, Retry: retry, Err: errors.New(msg)}
}

// parseRetryAfter reads a Retry-After header given in seconds (the form
// PagerDuty and Slack use); dates and garbage yield 0.
func parseRetryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// redactedError is an error whose text has had secrets removed. It does not
// unwrap to the original (whose *url.Error still holds the URL); it unwraps
// only to the context error, so errors.Is(err, context.DeadlineExceeded)
// keeps working.
type redactedError struct {
	msg string
	err error // context.Canceled, context.DeadlineExceeded or nil
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr removes URLs and the given secret values from err's text.
// net/http's *url.Error carries the full request URL, and a Slack
// incoming-webhook URL is itself the credential, so it is replaced by its
// scheme and host.
func redactErr(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = strings.ReplaceAll(msg, ue.URL, redactURL(ue.URL))
		// url.Error quotes the URL; cover the quoted form too.
		msg = strings.ReplaceAll(msg, strconv.Quote(ue.URL), strconv.Quote(redactURL(ue.URL)))
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	var cause error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		cause = context.Canceled
	}
	return &redactedError{msg: msg, err: cause}
}

// redactURL keeps scheme and host of raw and hides path, query and user
// info, which is where webhook tokens live.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[redacted-url]"
	}
	out := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		out += "/[redacted]"
	}
	return out
}
