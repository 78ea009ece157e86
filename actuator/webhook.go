package actuator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Webhook headers.
const (
	SignatureHeader = "X-Canaryd-Signature" // "sha256=" + hex HMAC-SHA256 of the body
	IncidentHeader  = "X-Canaryd-Incident"
	DeliveryHeader  = "X-Canaryd-Delivery" // stable per incident and step: receivers may dedupe
)

// DefaultHookTimeout bounds one webhook attempt when none is configured.
const DefaultHookTimeout = 10 * time.Second

// HookPayload is the JSON body of a webhook hook.
type HookPayload struct {
	Event       string    `json:"event"` // "rollback"
	Hook        string    `json:"hook"`
	Incident    string    `json:"incident"`
	Target      string    `json:"target"`
	Function    string    `json:"function"`
	Alias       string    `json:"alias"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	Trigger     string    `json:"trigger,omitempty"`
	Actor       string    `json:"actor,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Time        time.Time `json:"time"`
}

// Sign returns the X-Canaryd-Signature value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// webhookDetail is the journal detail of a webhook step.
type webhookDetail struct {
	Host     string `json:"host"` // never the full URL: it may carry a token
	Status   int    `json:"status,omitempty"`
	Attempts int    `json:"attempts"`
}

// runWebhook POSTs the signed incident payload, retrying 5xx, 429 and
// network errors with backoff; each attempt is bounded by the timeout.
func (a *Actuator) runWebhook(ctx context.Context, p Plan, s Step) stepOutcome {
	h := s.Webhook
	u, err := url.Parse(h.URL)
	if err != nil {
		return failed(&webhookDetail{}, permanent(fmt.Errorf("webhook %s: invalid url", h.Name)))
	}
	d := &webhookDetail{Host: u.Host}
	event := "rollback"
	if p.Input.Trigger == TriggerPreTraffic || p.Input.Trigger == TriggerPostTraffic {
		event = p.Input.Trigger // a rollout's traffic hook
	}
	body, _ := json.Marshal(HookPayload{
		Event: event, Hook: h.Name, Incident: p.ID, Target: p.Target.Name,
		Function: p.Target.Function, Alias: p.Target.Alias,
		FromVersion: p.Input.FromVersion, ToVersion: p.Input.ToVersion,
		Trigger: p.Input.Trigger, Actor: p.Input.Actor, Reason: p.Input.Reason, Time: a.clk.Now().UTC(),
	})
	timeout := h.Timeout.Duration
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	pol := a.cfg.Retry
	pol.Attempts = max(h.Retries, 0) + 1
	d.Attempts, err = a.retry(ctx, pol, func(int) error {
		var err error
		d.Status, err = a.post(ctx, h.URL, body, h.Secret.Value(), p.ID, s, timeout)
		return err
	})
	if err != nil {
		return failed(d, fmt.Errorf("webhook %s to %s: %w", h.Name, u.Host, err))
	}
	return done(d)
}

// post makes one attempt and classifies its failure.
func (a *Actuator) post(ctx context.Context, rawURL string, body []byte, secret, incident string, s Step, timeout time.Duration) (int, error) {
	actx, cancel := a.withTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return 0, permanent(errors.New("build request"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "canaryd")
	req.Header.Set(IncidentHeader, incident)
	req.Header.Set(DeliveryHeader, fmt.Sprintf("%s/%d", incident, s.Index))
	if secret != "" {
		req.Header.Set(SignatureHeader, Sign([]byte(secret), body))
	}
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		// url.Error carries the URL, which may hold a token: keep the cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() != nil {
			return 0, err
		}
		if actx.Err() != nil {
			return 0, transient(fmt.Errorf("attempt timed out after %s", timeout))
		}
		return 0, transient(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, nil
	case retryableStatus(resp.StatusCode):
		return resp.StatusCode, transient(fmt.Errorf("status %d", resp.StatusCode))
	}
	return resp.StatusCode, permanent(fmt.Errorf("status %d", resp.StatusCode))
}

// retryableStatus: 5xx, 429 and 408 are worth another attempt.
func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// withTimeout is context.WithTimeout on the injected clock; its cancel
// also stops the timer, so a fake clock keeps no stale waiters.
func (a *Actuator) withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithCancel(ctx)
	t := a.clk.NewTimer(d)
	go func() {
		select {
		case <-t.Chan():
			cancel()
		case <-cctx.Done():
			t.Stop()
		}
	}()
	return cctx, cancel
}
