package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
)

// maxSNSSubject: SNS requires a subject shorter than 100 characters.
const maxSNSSubject = 99

// SNS message attribute names (subscribers can filter on them).
const (
	SNSAttrEventType = "canaryd.event_type"
	SNSAttrTarget    = "canaryd.target"
	SNSAttrIncident  = "canaryd.incident_id"
	SNSAttrSeverity  = "canaryd.severity"
)

// SNSAPI is the part of *sns.Client the notifier uses; the real client is
// what satisfies it (pointed at awssim in tests).
type SNSAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNSConfig configures an Amazon SNS notifier.
type SNSConfig struct {
	Name     string
	TopicARN string
	Client   SNSAPI
}

// SNS publishes events to an SNS topic: the subject is the title, the
// message the full text, and attributes carry type, target and incident.
type SNS struct {
	c SNSConfig
}

// NewSNS returns an SNS notifier.
func NewSNS(c SNSConfig) *SNS { return &SNS{c: c} }

// Name is the configured notifier name.
func (s *SNS) Name() string { return s.c.Name }

// Notify publishes one event.
func (s *SNS) Notify(ctx context.Context, ev Event) error {
	// Retries are the dispatcher's job (with backoff on the injected
	// clock): the SDK's own retryer is switched off for this call.
	_, err := s.c.Client.Publish(ctx, snsInput(s.c.TopicARN, ev), func(o *sns.Options) { o.Retryer = aws.NopRetryer{} })
	if err != nil {
		return &DeliveryError{Notifier: s.c.Name, Retry: snsRetryable(err), Err: redactErr(err)}
	}
	return nil
}

func snsInput(topic string, ev Event) *sns.PublishInput {
	m := Render(ev)
	attrs := map[string]snstypes.MessageAttributeValue{}
	put := func(k, v string) {
		if v != "" { // SNS rejects empty attribute values
			attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	put(SNSAttrEventType, string(ev.Type))
	put(SNSAttrTarget, ev.Target)
	put(SNSAttrIncident, ev.IncidentID)
	put(SNSAttrSeverity, string(ev.Severity))
	in := &sns.PublishInput{
		TopicArn:          aws.String(topic),
		Subject:           aws.String(snsSubject(m.Title)),
		Message:           aws.String(m.Text()),
		MessageAttributes: attrs,
	}
	if strings.HasSuffix(topic, ".fifo") {
		// FIFO topics need a group (ordered per target) and a
		// deduplication id: the same event retried is one message.
		in.MessageGroupId = aws.String(ev.Target)
		sum := sha256.Sum256([]byte(strings.Join([]string{string(ev.Type), ev.Target, ev.WatchID, ev.IncidentID, ev.Time.UTC().Format(time.RFC3339Nano)}, "|")))
		in.MessageDeduplicationId = aws.String(hex.EncodeToString(sum[:]))
	}
	return in
}

// snsSubject makes s a valid SNS subject: printable ASCII, no line breaks,
// starting with a letter, number or punctuation, fewer than 100 characters.
func snsSubject(s string) string {
	b := []byte(strings.TrimSpace(s))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = ' '
		}
	}
	out := strings.TrimSpace(string(b))
	if out == "" {
		out = "canaryd"
	}
	return truncate(out, maxSNSSubject)
}

// snsRetryable: client faults (bad topic, no permission, invalid
// parameter) are permanent except throttling; server faults and transport
// errors retry.
func snsRetryable(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return true
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "KMSThrottling":
		return true
	}
	return ae.ErrorFault() != smithy.FaultClient
}
