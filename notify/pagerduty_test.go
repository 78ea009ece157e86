package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/event"

	"github.com/canaryd/canaryd/config"
)

const pdKey = "R0UT1NGKEY0123456789abcdef"

func newTestPagerDuty(r *receiver) *PagerDuty {
	return NewPagerDuty(PagerDutyConfig{Name: "pd", RoutingKey: config.NewSecret(pdKey), URL: r.srv.URL + "/"})
}

func decodePD(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

func TestPagerDutyTriggerThenResolve(t *testing.T) {
	r := newReceiver(t, http.StatusAccepted)
	pd := newTestPagerDuty(r)
	ev := trippedEvent()
	if err := pd.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	done := ev
	done.Type, done.Severity, done.Verdict, done.Message = event.RollbackDone, event.Info, nil, "health verified on 6"
	if err := pd.Notify(context.Background(), done); err != nil {
		t.Fatal(err)
	}
	if r.count() != 2 || r.paths[0] != "/v2/enqueue" {
		t.Fatalf("requests %d paths %v", r.count(), r.paths)
	}
	trig, res := decodePD(t, r.body(0)), decodePD(t, r.body(1))
	if trig["event_action"] != "trigger" || res["event_action"] != "resolve" {
		t.Errorf("actions %v / %v", trig["event_action"], res["event_action"])
	}
	if trig["dedup_key"] != "inc-checkout-w-42" || res["dedup_key"] != trig["dedup_key"] {
		t.Errorf("dedup keys %v / %v", trig["dedup_key"], res["dedup_key"])
	}
	if trig["routing_key"] != pdKey {
		t.Errorf("routing_key %v", trig["routing_key"])
	}
	p := trig["payload"].(map[string]any)
	summary := p["summary"].(string)
	mustContain(t, "summary", summary, "checkout", "rolling back 7 -> 6", "error-rate", "observed 0.084", "threshold 0.05")
	if p["severity"] != "critical" || p["component"] != "checkout" || p["source"] != "checkout-fn:live" || p["class"] != "tripped" {
		t.Errorf("payload fields %v", p)
	}
	if p["timestamp"] != "2026-11-26T01:00:00Z" {
		t.Errorf("timestamp %v", p["timestamp"])
	}
	d := p["custom_details"].(map[string]any)
	findings := d["findings"].([]any)
	if len(findings) != 2 || findings[1].(map[string]any)["rule"] != "error-rate" || findings[1].(map[string]any)["observed"] != 0.084 {
		t.Errorf("findings %v", findings)
	}
	if d["known_good"] != "6" || d["new_version"] != "7" {
		t.Errorf("versions %v %v", d["known_good"], d["new_version"])
	}
	details, _ := json.Marshal(d)
	mustContain(t, "custom_details", string(details), "lambda-alias: done in 1.25s", "pause on checkout by alice", "canaryd override pause checkout")
	links := trig["links"].([]any)
	if len(links) != 1 || links[0].(map[string]any)["href"] != "https://canaryd.example/incidents/inc-checkout-w-42" {
		t.Errorf("links %v", links)
	}
}

func TestPagerDutyDedupKeyWithoutIncident(t *testing.T) {
	ev := trippedEvent()
	ev.Type, ev.IncidentID = event.AlertOnly, ""
	if got := DedupKey(ev); got != "checkout/w-42" {
		t.Errorf("DedupKey = %q", got)
	}
	ev.WatchID = ""
	if got := DedupKey(ev); got != "checkout" {
		t.Errorf("DedupKey = %q", got)
	}
	a, b := ev, ev
	a.IncidentID, b.IncidentID = strings.Repeat("i", 300)+"a", strings.Repeat("i", 300)+"b"
	ka, kb := DedupKey(a), DedupKey(b)
	if len(ka) != 255 || len(kb) != 255 || ka == kb {
		t.Errorf("long keys: %d %d equal=%v", len(ka), len(kb), ka == kb)
	}
}

func TestPagerDutyIgnoresNonIncidentEvents(t *testing.T) {
	r := newReceiver(t, http.StatusAccepted)
	pd := newTestPagerDuty(r)
	for _, typ := range []event.Kind{event.WatchStarted, event.Promoted, event.OverrideSet, event.OverrideExpired} {
		ev := trippedEvent()
		ev.Type = typ
		if pd.Handles(typ) {
			t.Errorf("Handles(%s) = true", typ)
		}
		if err := pd.Notify(context.Background(), ev); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	for _, typ := range []event.Kind{event.Tripped, event.RollbackDone, event.RollbackFailed, event.RollbackUnhealthy, event.AlertOnly} {
		if !pd.Handles(typ) {
			t.Errorf("Handles(%s) = false", typ)
		}
	}
	if r.count() != 0 {
		t.Errorf("%d requests sent for non-incident events", r.count())
	}
}

func TestPagerDutySummaryBounded(t *testing.T) {
	r := newReceiver(t, http.StatusAccepted)
	ev := trippedEvent()
	ev.Verdict.Findings[1].Note = strings.Repeat("x", 3000)
	if err := newTestPagerDuty(r).Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	s := decodePD(t, r.body(0))["payload"].(map[string]any)["summary"].(string)
	if len(s) > 1024 || !strings.HasSuffix(s, "...") {
		t.Errorf("summary has %d bytes", len(s))
	}
}

// TestPagerDutyStatusCodes is the table of what retries.
func TestPagerDutyStatusCodes(t *testing.T) {
	cases := []struct {
		status     int
		wantErr    bool
		retry      bool
		retryAfter time.Duration
	}{
		{http.StatusAccepted, false, false, 0},
		{http.StatusOK, false, false, 0},
		{http.StatusBadRequest, true, false, 0},
		{http.StatusUnauthorized, true, false, 0},
		{http.StatusForbidden, true, false, 0},
		{http.StatusNotFound, true, false, 0},
		{http.StatusRequestEntityTooLarge, true, false, 0},
		{http.StatusTooManyRequests, true, true, 30 * time.Second},
		{http.StatusInternalServerError, true, true, 0},
		{http.StatusBadGateway, true, true, 0},
		{http.StatusServiceUnavailable, true, true, 0},
	}
	r := newReceiver(t, 0)
	pd := newTestPagerDuty(r)
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			h := http.Header{}
			if tc.retryAfter > 0 {
				h.Set("Retry-After", "30")
			}
			// The receiver echoes the routing key, as a careless proxy might.
			r.set(tc.status, `{"status":"invalid event","message":"bad key `+pdKey+`"}`, h)
			err := pd.Notify(context.Background(), trippedEvent())
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil {
				return
			}
			if Retryable(err) != tc.retry {
				t.Errorf("Retryable = %v, want %v (%v)", Retryable(err), tc.retry, err)
			}
			if got := retryAfter(err); got != tc.retryAfter {
				t.Errorf("retryAfter = %v", got)
			}
			if strings.Contains(err.Error(), pdKey) {
				t.Errorf("routing key in error: %v", err)
			}
		})
	}
}

func TestPagerDutyUnreachableIsRetryable(t *testing.T) {
	r := newReceiver(t, http.StatusAccepted)
	pd := newTestPagerDuty(r)
	r.srv.Close()
	err := pd.Notify(context.Background(), trippedEvent())
	if err == nil || !Retryable(err) {
		t.Fatalf("err = %v, retryable %v", err, Retryable(err))
	}
	if strings.Contains(err.Error(), pdKey) || strings.Contains(err.Error(), "/v2/enqueue") {
		t.Errorf("error leaks: %v", err)
	}
}
