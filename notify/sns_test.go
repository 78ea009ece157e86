package notify

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/event"

	"github.com/aws/smithy-go"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/jonboulle/clockwork"
)

func startSNS(t *testing.T) (*awssim.Sim, func(region string) (SNSAPI, error)) {
	t.Helper()
	sim, cfg := awssim.Start(t, awssim.Options{Clock: clockwork.NewFakeClockAt(t0)})
	return sim, SNSFromAWSConfig(cfg)
}

func newTestSNS(t *testing.T, deps Deps, topic string) Notifier {
	t.Helper()
	ns, err := FromConfig([]config.Notifier{{Name: "ops", Type: config.NotifierSNS, TopicARN: topic, Region: "us-east-1"}}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return ns["ops"]
}

func TestSNSPublishesThroughTheSDK(t *testing.T) {
	sim, factory := startSNS(t)
	topic := sim.CreateTopic("canaryd-alerts")
	n := newTestSNS(t, Deps{SNS: factory}, topic)
	ev := trippedEvent()
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	msgs := sim.SNSMessages(topic)
	if len(msgs) != 1 {
		t.Fatalf("%d messages published", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "[CRITICAL] checkout: tripped, rolling back 7 -> 6" {
		t.Errorf("subject %q", m.Subject)
	}
	mustContain(t, "message", m.Message, ev.Message, "error-rate: observed 0.084 > threshold 0.05 over 5m0s",
		"known-good 6 -> new 7", "lambda-alias: done in 1.25s", "canaryd override pause checkout --ttl 1h")
	want := map[string]string{SNSAttrEventType: "tripped", SNSAttrTarget: "checkout", SNSAttrIncident: "inc-checkout-w-42", SNSAttrSeverity: "critical"}
	for k, v := range want {
		if m.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, m.Attributes[k], v)
		}
	}

	// No incident: the attribute is left out rather than sent empty.
	ev.Type, ev.IncidentID = event.AlertOnly, ""
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if _, ok := sim.SNSMessages(topic)[1].Attributes[SNSAttrIncident]; ok {
		t.Error("empty incident attribute sent")
	}
}

func TestSNSErrorsClassified(t *testing.T) {
	cases := []struct {
		name  string
		fault *awssim.Fault
		topic string
		retry bool
	}{
		{"unknown topic", nil, "arn:aws:sns:us-east-1:123456789012:nope", false},
		{"server error", &awssim.Fault{API: "Publish", Kind: awssim.Fault5xx, Count: 100}, "", true},
		{"throttled", &awssim.Fault{API: "Publish", Kind: awssim.FaultThrottle, Count: 100}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim, factory := startSNS(t)
			topic := sim.CreateTopic("alerts")
			if tc.topic != "" {
				topic = tc.topic
			}
			if tc.fault != nil {
				sim.InjectFault(*tc.fault)
			}
			err := newTestSNS(t, Deps{SNS: factory}, topic).Notify(context.Background(), trippedEvent())
			if err == nil {
				t.Fatal("no error")
			}
			if Retryable(err) != tc.retry {
				t.Errorf("Retryable = %v: %v", Retryable(err), err)
			}
			if got := len(sim.Calls("Publish")); got != 1 {
				t.Errorf("%d Publish calls: retries are the dispatcher's job, not the SDK's", got)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "AKID") {
				t.Errorf("credentials in error: %v", err)
			}
		})
	}
}

func TestSNSRetryableByFault(t *testing.T) {
	cases := []struct {
		err   error
		retry bool
	}{
		{&smithy.GenericAPIError{Code: "NotFound", Fault: smithy.FaultClient}, false},
		{&smithy.GenericAPIError{Code: "AuthorizationError", Fault: smithy.FaultClient}, false},
		{&smithy.GenericAPIError{Code: "InvalidParameter", Fault: smithy.FaultClient}, false},
		{&smithy.GenericAPIError{Code: "Throttling", Fault: smithy.FaultClient}, true},
		{&smithy.GenericAPIError{Code: "InternalError", Fault: smithy.FaultServer}, true},
		{&smithy.GenericAPIError{Code: "Weird", Fault: smithy.FaultUnknown}, true},
		{errors.New("connection reset"), true},
	}
	for _, tc := range cases {
		if got := snsRetryable(tc.err); got != tc.retry {
			t.Errorf("snsRetryable(%v) = %v", tc.err, got)
		}
	}
}

func TestSNSSubject(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []struct{ in, want string }{
		{"[CRITICAL] a: b", "[CRITICAL] a: b"},
		{"line\nbreak", "line break"},
		{"caf\u00e9", "caf"},
		{"   ", "canaryd"},
		{long, long[:96] + "..."},
	}
	for _, tc := range cases {
		got := snsSubject(tc.in)
		if got != tc.want || len(got) >= 100 {
			t.Errorf("snsSubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSNSFIFOInput(t *testing.T) {
	ev := trippedEvent()
	std := snsInput("arn:aws:sns:us-east-1:1:alerts", ev)
	if std.MessageGroupId != nil || std.MessageDeduplicationId != nil {
		t.Error("standard topic got FIFO fields")
	}
	fifo := snsInput("arn:aws:sns:us-east-1:1:alerts.fifo", ev)
	again := snsInput("arn:aws:sns:us-east-1:1:alerts.fifo", ev)
	ev.Type = event.RollbackDone
	next := snsInput("arn:aws:sns:us-east-1:1:alerts.fifo", ev)
	if fifo.MessageGroupId == nil || *fifo.MessageGroupId != "checkout" {
		t.Fatalf("group id %v", fifo.MessageGroupId)
	}
	if *fifo.MessageDeduplicationId != *again.MessageDeduplicationId || *fifo.MessageDeduplicationId == *next.MessageDeduplicationId {
		t.Error("dedup id must be stable per event and differ between events")
	}
}
