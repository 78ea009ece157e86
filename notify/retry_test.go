package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRetrierCheck(t *testing.T) {
	r := Retrier{RetryCodes: []int{429}}
	cases := []struct {
		status  int
		wantErr bool
		retry   bool
	}{
		{200, false, false}, {202, false, false}, {299, false, false},
		{301, true, false}, {400, true, false}, {404, true, false},
		{429, true, true}, {500, true, true}, {599, true, true},
	}
	for _, tc := range cases {
		err := r.Check("n", tc.status, "body")
		if (err != nil) != tc.wantErr || Retryable(err) != tc.retry {
			t.Errorf("Check(%d) = %v, retryable %v", tc.status, err, Retryable(err))
		}
	}
}

func TestRetryable(t *testing.T) {
	if Retryable(nil) {
		t.Error("nil retryable")
	}
	if !Retryable(errors.New("unclassified")) {
		t.Error("unclassified errors must retry")
	}
	wrapped := fmt.Errorf("context: %w", &DeliveryError{Retry: false, Err: errors.New("x")})
	if Retryable(wrapped) {
		t.Error("wrapped permanent error retried")
	}
}

func TestParseRetryAfter(t *testing.T) {
	cases := map[string]time.Duration{"": 0, "7": 7 * time.Second, " 2 ": 2 * time.Second, "-1": 0, "Wed, 21 Oct 2026 07:28:00 GMT": 0}
	for v, want := range cases {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := parseRetryAfter(h); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"https://hooks.slack.com/services/T/B/XYZ": "https://hooks.slack.com/[redacted]",
		"https://example.com/hook?token=abc":       "https://example.com/[redacted]",
		"https://user:pass@example.com/":           "https://example.com",
		"https://example.com":                      "https://example.com",
		"::not a url":                              "[redacted-url]",
	}
	for in, want := range cases {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactErr(t *testing.T) {
	secretURL := "https://hooks.slack.com/services/T/B/XYZSECRET"
	ue := &url.Error{Op: "Post", URL: secretURL, Err: context.DeadlineExceeded}
	err := redactErr(fmt.Errorf("send: %w", ue), "key-123")
	if strings.Contains(err.Error(), "XYZSECRET") || !strings.Contains(err.Error(), "hooks.slack.com") {
		t.Errorf("redacted: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("context error lost")
	}
	var got *url.Error
	if errors.As(err, &got) {
		t.Error("redacted error still unwraps to the *url.Error holding the URL")
	}
	if e := redactErr(errors.New("bad key key-123 here"), "key-123"); e.Error() != "bad key [redacted] here" {
		t.Errorf("secret value: %v", e)
	}
	if redactErr(nil) != nil {
		t.Error("nil")
	}
}
