package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/config"
)

const slackPath = "/services/T0001/B0002/XXXXSLACKSECRETXXXX"

func TestSlackMessageContent(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	s := NewSlack(SlackConfig{Name: "chat", URL: config.NewSecret(r.srv.URL + slackPath)})
	if err := s.Notify(context.Background(), trippedEvent()); err != nil {
		t.Fatal(err)
	}
	if r.paths[0] != slackPath {
		t.Errorf("path %q", r.paths[0])
	}
	var msg slackMessage
	if err := json.Unmarshal(r.body(0), &msg); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "fallback text", msg.Text, "[CRITICAL] checkout: tripped, rolling back 7 -> 6")
	if msg.Blocks[0].Type != "header" || msg.Blocks[0].Text.Text != "[CRITICAL] checkout: tripped, rolling back 7 -> 6" {
		t.Errorf("header block %+v", msg.Blocks[0])
	}
	var all strings.Builder
	for _, b := range msg.Blocks {
		all.WriteString(b.Text.Text + "\n")
	}
	mustContain(t, "blocks", all.String(),
		"*Why*", "error-rate: observed 0.084 &gt; threshold 0.05 over 5m0s", // mrkdwn-escaped operator
		"*Versions*", "known-good 6 -&gt; new 7",
		"*Actions*", "lambda-alias: done in 1.25s",
		"*Overrides in force*", "pause on checkout by alice",
		"*Next steps*", "`canaryd override pause checkout --ttl 1h --reason \"&lt;why&gt;\"",
	)
}

func TestSlackErrorsNeverCarryTheURL(t *testing.T) {
	cases := []struct {
		name   string
		status int // 0: receiver is down
		retry  bool
	}{
		{"no_service", http.StatusNotFound, false},
		{"invalid_payload", http.StatusBadRequest, false},
		{"channel_is_archived", http.StatusGone, false},
		{"rate_limited", http.StatusTooManyRequests, true},
		{"rollup_error", http.StatusInternalServerError, true},
		{"down", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, tc.status)
			secretURL := r.srv.URL + slackPath
			r.set(tc.status, tc.name+" for "+secretURL, nil) // an echoing receiver
			if tc.status == 0 {
				r.srv.Close()
			}
			s := NewSlack(SlackConfig{Name: "chat", URL: config.NewSecret(secretURL)})
			err := s.Notify(context.Background(), trippedEvent())
			if err == nil {
				t.Fatal("no error")
			}
			if Retryable(err) != tc.retry {
				t.Errorf("Retryable = %v (%v)", Retryable(err), err)
			}
			if strings.Contains(err.Error(), "SLACKSECRET") || strings.Contains(err.Error(), "B0002") {
				t.Errorf("secret URL in error: %v", err)
			}
		})
	}
}
