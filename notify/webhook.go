package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/canaryd/canaryd/config"
	"github.com/jonboulle/clockwork"
)

// Webhook headers.
const (
	HeaderSignature = "X-Canaryd-Signature" // "sha256=" + hex HMAC-SHA256 of the body
	HeaderTimestamp = "X-Canaryd-Timestamp" // Unix seconds when the attempt was sent
	HeaderEvent     = "X-Canaryd-Event"     // the event.Kind
)

// webhookRetrier retries timeouts and rate limits besides 5xx.
var webhookRetrier = Retrier{RetryCodes: []int{http.StatusRequestTimeout, http.StatusTooManyRequests}}

// WebhookConfig configures a generic signed webhook.
type WebhookConfig struct {
	Name   string
	URL    string
	Secret config.Secret // HMAC key; unsigned when not set
	Client *http.Client
	Clock  clockwork.Clock // for the timestamp header
}

// Webhook POSTs the Event as JSON, signed with HMAC-SHA256 so the receiver
// can tell it came from canaryd.
type Webhook struct {
	c WebhookConfig
}

// NewWebhook returns a webhook notifier.
func NewWebhook(c WebhookConfig) *Webhook {
	if c.Client == nil {
		c.Client = defaultHTTPClient()
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	return &Webhook{c: c}
}

// Name is the configured notifier name.
func (w *Webhook) Name() string { return w.c.Name }

// Notify posts one event.
func (w *Webhook) Notify(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return &DeliveryError{Notifier: w.c.Name, Err: fmt.Errorf("encode event: %w", err)}
	}
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(w.c.Clock.Now().Unix(), 10))
	h.Set(HeaderEvent, string(ev.Type))
	if w.c.Secret.IsSet() {
		h.Set(HeaderSignature, Sign(w.c.Secret.Value(), body))
	}
	return httpPost{
		notifier: w.c.Name,
		client:   w.c.Client,
		url:      w.c.URL,
		body:     body,
		header:   h,
		retrier:  webhookRetrier,
		secrets:  []string{w.c.Secret.Value()},
	}.do(ctx)
}

// Sign returns the X-Canaryd-Signature value for body: "sha256=" and the
// hex HMAC-SHA256 of body under key.
func Sign(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether sig is a valid signature of body under
// key, in constant time. Receivers written in Go can use it.
func VerifySignature(key string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(key, body)), []byte(sig))
}
