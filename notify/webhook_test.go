package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/config"
	"github.com/jonboulle/clockwork"
)

const hookKey = "hmac-key-s3cr3t"

func TestWebhookSignedEvent(t *testing.T) {
	r := newReceiver(t, http.StatusNoContent)
	clock := clockwork.NewFakeClockAt(t0.Add(5e9))
	w := NewWebhook(WebhookConfig{Name: "hook", URL: r.srv.URL + "/hook", Secret: config.NewSecret(hookKey), Clock: clock})
	ev := trippedEvent()
	if err := w.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	body, h := r.body(0), r.hdr(0)

	// The receiver verifies the signature with nothing but the shared key.
	mac := hmac.New(sha256.New, []byte(hookKey))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := h.Get(HeaderSignature); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	if !VerifySignature(hookKey, body, h.Get(HeaderSignature)) || VerifySignature("other", body, h.Get(HeaderSignature)) {
		t.Error("VerifySignature disagrees")
	}
	tampered := []byte(strings.Replace(string(body), `"7"`, `"8"`, 1))
	if VerifySignature(hookKey, tampered, h.Get(HeaderSignature)) {
		t.Error("tampered body verifies")
	}
	if h.Get(HeaderTimestamp) != strconv.FormatInt(t0.Unix()+5, 10) {
		t.Errorf("timestamp %q", h.Get(HeaderTimestamp))
	}
	if h.Get(HeaderEvent) != "tripped" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}

	var got Event
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.IncidentID != ev.IncidentID || got.Verdict == nil || got.Verdict.Findings[1].Observed != 0.084 ||
		got.Actions[0].Duration != ev.Actions[0].Duration || !got.Time.Equal(ev.Time) || got.Overrides[0].Actor != "alice" {
		t.Errorf("round trip lost data: %+v", got)
	}
}

func TestWebhookUnsignedWithoutSecret(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	if err := NewWebhook(WebhookConfig{Name: "hook", URL: r.srv.URL}).Notify(context.Background(), trippedEvent()); err != nil {
		t.Fatal(err)
	}
	if r.hdr(0).Get(HeaderSignature) != "" {
		t.Error("signed without a secret")
	}
}

func TestWebhookStatusCodes(t *testing.T) {
	cases := []struct {
		status  int
		wantErr bool
		retry   bool
	}{
		{200, false, false}, {201, false, false}, {204, false, false},
		{400, true, false}, {401, true, false}, {403, true, false}, {404, true, false}, {422, true, false},
		{408, true, true}, {429, true, true}, {500, true, true}, {503, true, true}, {504, true, true},
	}
	r := newReceiver(t, 0)
	w := NewWebhook(WebhookConfig{Name: "hook", URL: r.srv.URL + "/in?token=qs-secret", Secret: config.NewSecret(hookKey)})
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			r.set(tc.status, "echo "+hookKey, nil)
			err := w.Notify(context.Background(), trippedEvent())
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil {
				return
			}
			if Retryable(err) != tc.retry {
				t.Errorf("Retryable = %v", Retryable(err))
			}
			if strings.Contains(err.Error(), hookKey) || strings.Contains(err.Error(), "qs-secret") {
				t.Errorf("secret in error: %v", err)
			}
		})
	}
}
