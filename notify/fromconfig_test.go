package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/event"

	"github.com/canaryd/canaryd/config"
	"go.uber.org/zap/zapcore"
)

func dur(d time.Duration) config.Duration { return config.Duration{Duration: d} }

// TestEveryNotifierFromConfig sends a watch's life through the dispatcher
// to all four integrations built from config: local HTTP receivers and
// awssim's SNS.
func TestEveryNotifierFromConfig(t *testing.T) {
	pdRecv, slackRecv, hookRecv := newReceiver(t, http.StatusAccepted), newReceiver(t, http.StatusOK), newReceiver(t, http.StatusNoContent)
	sim, snsFactory := startSNS(t)
	topic := sim.CreateTopic("alerts")
	cfgs := []config.Notifier{
		{Name: "pager", Type: config.NotifierPagerDuty, RoutingKey: config.NewSecret(pdKey), URL: pdRecv.srv.URL, Timeout: dur(time.Second), Retries: 2},
		{Name: "chat", Type: config.NotifierSlack, SecretURL: config.NewSecret(slackRecv.srv.URL + slackPath), Timeout: dur(time.Second), Retries: 2},
		{Name: "hook", Type: config.NotifierWebhook, URL: hookRecv.srv.URL, Secret: config.NewSecret(hookKey), Events: []string{"tripped", "rollback_done"}, Timeout: dur(time.Second)},
		{Name: "ops", Type: config.NotifierSNS, TopicARN: topic, Region: "us-east-1", Timeout: dur(time.Second)},
	}
	notifiers, err := FromConfig(cfgs, Deps{SNS: snsFactory})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := OptionsFromConfig(cfgs)
	if err != nil {
		t.Fatal(err)
	}
	routes := RoutesFromTargets([]config.Target{{Name: "checkout", Notify: []string{"pager", "chat", "hook", "ops"}}})
	h := newHarness(t, Config{Notifiers: notifiers, Options: opts, Routes: routes})

	started, tripped, done := trippedEvent(), trippedEvent(), trippedEvent()
	started.Type, started.Severity, started.Verdict, started.IncidentID = event.WatchStarted, event.Info, nil, ""
	done.Type, done.Severity = event.RollbackDone, event.Info
	for _, ev := range []Event{started, tripped, done} {
		h.d.Send(ev)
	}
	if err := h.d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	if pdRecv.count() != 2 {
		t.Fatalf("pagerduty got %d events, want trigger+resolve", pdRecv.count())
	}
	trig, res := decodePD(t, pdRecv.body(0)), decodePD(t, pdRecv.body(1))
	if trig["event_action"] != "trigger" || res["event_action"] != "resolve" || trig["dedup_key"] != res["dedup_key"] {
		t.Errorf("pagerduty %v/%v %v/%v", trig["event_action"], res["event_action"], trig["dedup_key"], res["dedup_key"])
	}
	if slackRecv.count() != 3 {
		t.Errorf("slack got %d, want 3", slackRecv.count())
	}
	mustContain(t, "slack", string(slackRecv.body(2)), "rolled back 7 -\\u003e 6, health verified")
	if hookRecv.count() != 2 || hookRecv.hdr(0).Get(HeaderEvent) != "tripped" || hookRecv.hdr(1).Get(HeaderEvent) != "rollback_done" {
		t.Errorf("webhook got %d", hookRecv.count())
	}
	for i := range hookRecv.count() {
		if !VerifySignature(hookKey, hookRecv.body(i), hookRecv.hdr(i).Get(HeaderSignature)) {
			t.Errorf("webhook delivery %d: bad signature", i)
		}
	}
	msgs := sim.SNSMessages(topic)
	if len(msgs) != 3 || msgs[1].Attributes[SNSAttrEventType] != "tripped" {
		t.Errorf("sns got %d messages", len(msgs))
	}
	for name, want := range map[string]float64{"pager": 2, "chat": 3, "hook": 2, "ops": 3} {
		if got := h.count(h.m.Deliveries, name, OutcomeSuccess); got != want {
			t.Errorf("%s deliveries %v, want %v", name, got, want)
		}
	}
}

// TestNoSecretInErrorsOrLogs: receivers that fail and echo what they got
// (URL, key) never make a secret reach a log line.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	pdRecv, slackRecv, hookRecv := newReceiver(t, 0), newReceiver(t, 0), newReceiver(t, 0)
	slackURL := slackRecv.srv.URL + slackPath
	pdRecv.set(http.StatusBadRequest, "invalid routing key "+pdKey, nil)
	slackRecv.set(http.StatusInternalServerError, "rollup_error at "+slackURL, nil)
	hookRecv.set(http.StatusServiceUnavailable, "bad signature with key "+hookKey, nil)
	down := newReceiver(t, 0)
	down.srv.Close()
	downURL := down.srv.URL + slackPath + "-down"
	cfgs := []config.Notifier{
		{Name: "pager", Type: config.NotifierPagerDuty, RoutingKey: config.NewSecret(pdKey), URL: pdRecv.srv.URL},
		{Name: "chat", Type: config.NotifierSlack, SecretURL: config.NewSecret(slackURL)},
		{Name: "chat-down", Type: config.NotifierSlack, SecretURL: config.NewSecret(downURL)},
		{Name: "hook", Type: config.NotifierWebhook, URL: hookRecv.srv.URL, Secret: config.NewSecret(hookKey)},
	}
	notifiers, err := FromConfig(cfgs, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{Notifiers: notifiers, MaxAttempts: 2})
	h.d.Send(trippedEvent())
	h.advanceUntil(t, "every delivery given up", time.Second, func() bool {
		for _, c := range cfgs {
			if h.count(h.m.Deliveries, c.Name, OutcomeFailure) != 1 {
				return false
			}
		}
		return true
	})
	errLogs := h.logs.FilterLevelExact(zapcore.ErrorLevel).All()
	if len(errLogs) != len(cfgs) {
		t.Errorf("%d error logs, want %d", len(errLogs), len(cfgs))
	}
	for _, e := range h.logs.All() {
		line := fmt.Sprintf("%s %v", e.Message, e.ContextMap())
		for _, secret := range []string{pdKey, hookKey, "SLACKSECRET", "B0002"} {
			if strings.Contains(line, secret) {
				t.Errorf("secret %q in log line: %s", secret, line)
			}
		}
	}
}

func TestFromConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfgs []config.Notifier
		deps Deps
		want string
	}{
		{"unknown type", []config.Notifier{{Name: "x", Type: "carrier-pigeon"}}, Deps{}, `notifier "x": type: unknown notifier type "carrier-pigeon"`},
		{"pagerduty without key", []config.Notifier{{Name: "pd", Type: config.NotifierPagerDuty}}, Deps{}, `notifier "pd": routing key not set`},
		{"slack without url", []config.Notifier{{Name: "s", Type: config.NotifierSlack}}, Deps{}, `notifier "s": webhook url not set`},
		{"webhook without url", []config.Notifier{{Name: "w", Type: config.NotifierWebhook}}, Deps{}, `notifier "w": url: not set`},
		{"sns without factory", []config.Notifier{{Name: "o", Type: config.NotifierSNS, TopicARN: "arn:aws:sns:us-east-1:1:t"}}, Deps{}, `notifier "o": no SNS client factory`},
		{"duplicate", []config.Notifier{
			{Name: "s", Type: config.NotifierSlack, SecretURL: config.NewSecret("https://hooks.example/T/B/SECRETPATH")},
			{Name: "s", Type: config.NotifierSlack, SecretURL: config.NewSecret("https://hooks.example/T/B/SECRETPATH")},
		}, Deps{}, `notifier "s": duplicate name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromConfig(tc.cfgs, tc.deps)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRETPATH") {
				t.Errorf("secret in error: %v", err)
			}
		})
	}
}

func TestOptionsFromConfig(t *testing.T) {
	opts, err := OptionsFromConfig([]config.Notifier{
		{Name: "a", Timeout: dur(3 * time.Second), Retries: 5, Events: []string{"tripped", "rollback_failed"}},
		{Name: "b", Retries: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := opts["a"], opts["b"]
	if a.Timeout != 3*time.Second || a.MaxAttempts != 6 || len(a.Events) != 2 || a.Events[1] != event.RollbackFailed {
		t.Errorf("a = %+v", a)
	}
	if b.MaxAttempts != 1 || b.Events != nil {
		t.Errorf("b = %+v (retries = 0 means one attempt)", b)
	}
	_, err = OptionsFromConfig([]config.Notifier{{Name: "c", Events: []string{"exploded"}}})
	if err == nil || !strings.Contains(err.Error(), `notifier "c": events: unknown event "exploded"`) {
		t.Errorf("err = %v", err)
	}
}

func TestRoutesFromTargets(t *testing.T) {
	r := RoutesFromTargets([]config.Target{
		{Name: "checkout", Notify: []string{"pager", "chat"}},
		{Name: "search", Notify: []string{"chat", "ops"}},
		{Name: "quiet"},
	})
	cases := map[string]string{"checkout": "pager,chat", "search": "chat,ops", "quiet": "", "unknown": "", "*": "pager,chat,ops"}
	for target, want := range cases {
		if got := strings.Join(r(target), ","); got != want {
			t.Errorf("routes(%q) = %q, want %q", target, got, want)
		}
	}
}

func TestParseEventTypeMatchesConfig(t *testing.T) {
	for _, typ := range event.Alerts {
		got, err := ParseEventType(string(typ))
		if err != nil || got != typ {
			t.Errorf("ParseEventType(%q) = %q, %v", typ, got, err)
		}
	}
}
