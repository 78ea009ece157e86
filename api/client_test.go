package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// seedIncident stores a tripped watch with its incident, journal and
// events, the way the daemon would.
func seedIncident(t *testing.T, h *harness) store.Incident {
	t.Helper()
	ctx := context.Background()
	deployed := testNow.Add(-10 * time.Minute)
	tripped := deployed.Add(4 * time.Minute)
	v := policy.Verdict{Kind: policy.Failing, At: tripped, Summary: "error-rate breached",
		Findings: []policy.Finding{{Rule: "error-rate", RuleKind: "error_rate", Breached: true, Enough: true,
			Observed: 0.084, Threshold: 0.05, Op: ">", Window: 5 * time.Minute, Samples: 5, Evidence: 1200, MinEvidence: 50}}}
	raw, _ := json.Marshal(v)
	w := store.Watch{ID: "w-checkout-7", Target: "checkout", Phase: store.PhaseRolledBack, KnownGood: "6", NewVersion: "7",
		Source: "poll", DetectedAt: deployed, IncidentID: "inc-w-checkout-7", LastVerdict: raw}
	in := store.Incident{ID: "inc-w-checkout-7", Target: "checkout", WatchID: w.ID, OpenedAt: tripped, ClosedAt: tripped.Add(time.Minute),
		FromVersion: "7", ToVersion: "6", Trigger: "policy", Verdict: raw, Outcome: "rolled_back"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.st.CreateWatch(ctx, w))
	must(h.st.CreateIncident(ctx, in))
	for _, e := range []store.JournalEntry{
		{PlanID: in.ID, Target: "checkout", Step: 0, Name: "lambda-alias", Status: store.StepIntent, Time: tripped.Add(time.Second)},
		{PlanID: in.ID, Target: "checkout", Step: 0, Name: "lambda-alias", Status: store.StepDone, Time: tripped.Add(3 * time.Second), Duration: 2 * time.Second},
	} {
		must(h.st.AppendJournal(ctx, e, store.Fence{}))
	}
	for _, e := range []store.Event{
		{Time: deployed, Target: "checkout", WatchID: w.ID, Type: "watch_started", Message: "watching version 7"},
		{Time: tripped, Target: "checkout", WatchID: w.ID, IncidentID: in.ID, Type: "tripped", Message: "error-rate breached"},
		{Time: tripped.Add(2 * time.Second), Target: "checkout", IncidentID: in.ID, Type: "alert_sent", Message: "pagerduty: trigger delivered"},
	} {
		must(h.st.AppendEvent(ctx, e))
	}
	return in
}

// TestClientRoundTrip calls every endpoint through the client.
func TestClientRoundTrip(t *testing.T) {
	h := newHarness(t)
	in := seedIncident(t, h)
	c := h.client(testToken)
	ctx := t.Context()

	if err := c.Health(ctx); err != nil {
		t.Fatalf("health: %v", err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	st, err := c.Status(ctx)
	if err != nil || len(st.Targets) != 2 || st.Targets[0].Name != "checkout" || st.Targets[0].Version != "6" || !st.Time.Equal(testNow) {
		t.Fatalf("status: %v %+v", err, st)
	}

	o, err := c.SetOverride(ctx, OverrideRequest{Target: "*", Kind: store.OverridePause, TTL: "2h", Reason: "freeze", Actor: "ana"})
	if err != nil || o.ID == "" || !o.Active || o.Actor != "admin" || !o.ExpiresAt.Equal(testNow.Add(2*time.Hour)) {
		t.Fatalf("set override: %v %+v", err, o)
	}
	if st, _ := c.Status(ctx); !st.Paused || len(st.Overrides) != 1 {
		t.Fatalf("status after pause: %+v", st)
	}
	os, err := c.Overrides(ctx, false)
	if err != nil || len(os) != 1 || os[0].ID != o.ID || os[0].Reason != "freeze" {
		t.Fatalf("overrides: %v %+v", err, os)
	}
	if err := c.DeleteOverride(ctx, o.ID, "ana"); err != nil {
		t.Fatalf("delete override: %v", err)
	}
	if err := c.DeleteOverride(ctx, o.ID, "ana"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}

	res, err := c.AnnounceDeploy(ctx, DeployRequest{Target: "search", Version: "4", Actor: "ci"})
	if err != nil || !res.Changed || res.WatchID != "search-4" {
		t.Fatalf("announce: %v %+v", err, res)
	}
	res, err = c.AnnounceDeploy(ctx, DeployRequest{Target: "search", Version: "4"})
	if err != nil || res.Changed {
		t.Fatalf("announce duplicate: %v %+v", err, res)
	}
	_, err = c.AnnounceDeploy(ctx, DeployRequest{Target: "search", Version: "2"})
	var ae *Error
	if !errors.Is(err, ErrStale) || !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Message, "alias is at 4") {
		t.Fatalf("announce stale: %v", err)
	}

	rb, err := c.Rollback(ctx, RollbackRequest{Target: "checkout", PlanOnly: true})
	if err != nil || rb.Outcome != "planned" || len(rb.Plan) != 1 || rb.IncidentID != "" {
		t.Fatalf("plan-only rollback: %v %+v", err, rb)
	}
	rb, err = c.Rollback(ctx, RollbackRequest{Target: "checkout", ToVersion: "5", Reason: "users report errors", Actor: "ana"})
	if err != nil || rb.Outcome != "started" || rb.ToVersion != "5" || rb.IncidentID == "" {
		t.Fatalf("rollback: %v %+v", err, rb)
	}

	ws, err := c.Watches(ctx, store.WatchFilter{Target: "search", ActiveOnly: true, Limit: 10})
	if err != nil || len(ws) != 1 || ws[0].ID != "search-4" {
		t.Fatalf("watches: %v %+v", err, ws)
	}
	if ws, err := c.Watches(ctx, store.WatchFilter{}); err != nil || len(ws) != 2 {
		t.Fatalf("all watches: %v %+v", err, ws)
	}
	ins, err := c.Incidents(ctx, "checkout", 5)
	if err != nil || len(ins) != 1 || ins[0].ID != in.ID {
		t.Fatalf("incidents: %v %+v", err, ins)
	}
	if ins, err := c.Incidents(ctx, "search", 0); err != nil || len(ins) != 0 {
		t.Fatalf("incidents of search: %v %+v", err, ins)
	}
	d, err := c.Incident(ctx, in.ID)
	if err != nil || d.Incident.ID != in.ID || d.Watch == nil || d.Watch.ID != in.WatchID || len(d.Journal) != 2 || len(d.Events) != 3 {
		t.Fatalf("incident: %v %+v", err, d)
	}
	if d.Events[0].Type != "watch_started" || d.Events[2].Type != "alert_sent" {
		t.Fatalf("incident events out of order: %+v", d.Events)
	}
	if _, err := c.Incident(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing incident: %v", err)
	}
	pm, err := c.Postmortem(ctx, in.ID)
	if err != nil || pm.IncidentID != in.ID || len(pm.Triggering) != 1 || pm.Triggering[0].Observed != 0.084 || len(pm.Alerts) != 1 {
		t.Fatalf("postmortem json: %v %+v", err, pm)
	}
	md, err := c.PostmortemMarkdown(ctx, in.ID)
	if err != nil || !bytes.Contains(md, []byte("# Postmortem draft: checkout")) || !bytes.Contains(md, []byte("pagerduty: trigger delivered")) {
		t.Fatalf("postmortem markdown: %v\n%s", err, md)
	}
}

// TestTokenNeverLeaks: neither the server's logs nor the client's errors
// ever contain the token, whatever happens.
func TestTokenNeverLeaks(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	good := h.client(testToken)
	// A wrong token that is the real one with a typo: must not be logged either.
	wrong := h.client(testToken + "-typo")

	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	_, err := wrong.Status(ctx)
	collect(err)
	_, err = wrong.SetOverride(ctx, OverrideRequest{Target: "checkout", Kind: store.OverridePause, Reason: "x"})
	collect(err)
	_, err = good.SetOverride(ctx, OverrideRequest{Target: "checkout", Kind: store.OverridePause, Reason: "freeze", Actor: "ana"})
	collect(err) // succeeds
	_, err = good.SetOverride(ctx, OverrideRequest{Target: "nope", Kind: store.OverridePause, Reason: "x"})
	collect(err)
	_, err = good.Rollback(ctx, RollbackRequest{Target: "checkout", Reason: "r"})
	collect(err)
	_, err = good.AnnounceDeploy(ctx, DeployRequest{Target: "checkout", Version: "1"})
	collect(err)
	if len(errs) != 4 {
		t.Fatalf("expected 4 failing calls, got %d: %v", len(errs), errs)
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), testToken) {
			t.Errorf("client error contains the token: %v", err)
		}
	}
	// A hostile or broken server that echoes the Authorization header.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("proxy error for request with " + r.Header.Get("Authorization")))
	}))
	t.Cleanup(echo.Close)
	_, err = NewClient(echo.URL, testToken, echo.Client()).Status(ctx)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || strings.Contains(err.Error(), testToken) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("echoed token not scrubbed: %v", err)
	}
	// Unreachable server: transport error.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, err = NewClient(dead.URL, testToken, nil).Status(ctx)
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Errorf("transport error: %v", err)
	}

	logs := h.logs.All()
	if len(logs) == 0 {
		t.Fatal("no logs observed: the test proves nothing")
	}
	var sawActor, sawRefusal bool
	for _, e := range logs {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		if strings.Contains(line, testToken) {
			t.Errorf("log line contains the token: %s", line)
		}
		if strings.Contains(line, "override set") && strings.Contains(line, `actor="ana"`) {
			sawActor = true
		}
		if strings.Contains(line, "unauthenticated request refused") {
			sawRefusal = true
		}
	}
	if !sawActor || !sawRefusal {
		t.Errorf("expected an audit line with the actor (%v) and a refusal line (%v)", sawActor, sawRefusal)
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestClientBadBaseURL(t *testing.T) {
	for _, u := range []string{"ftp://host", "://nope", "127.0.0.1:8080"} {
		if _, err := NewClient(u, testToken, nil).Status(t.Context()); err == nil || strings.Contains(err.Error(), testToken) {
			t.Errorf("%q: %v", u, err)
		}
	}
}

func TestClientResume(t *testing.T) {
	h := newHarness(t)
	c := h.client(testToken)
	ctx := t.Context()
	mk := func(target string, kind store.OverrideKind, ttl string) string {
		t.Helper()
		o, err := c.SetOverride(ctx, OverrideRequest{Target: target, Kind: kind, TTL: ttl, Reason: "r", Actor: "ana"})
		if err != nil {
			t.Fatal(err)
		}
		return o.ID
	}
	p1 := mk("checkout", store.OverridePause, "1h")
	p2 := mk("checkout", store.OverridePause, "2h")
	all := mk("*", store.OverridePause, "1h")
	other := mk("search", store.OverridePause, "1h")
	fr := mk("checkout", store.OverrideForceRollback, "1h")

	removed, err := c.Resume(ctx, "checkout", "ana")
	if err != nil || len(removed) != 2 || !(removed[0] == p1 && removed[1] == p2 || removed[0] == p2 && removed[1] == p1) {
		t.Fatalf("resume checkout removed %v: %v", removed, err)
	}
	left := map[string]bool{}
	for _, o := range h.overrides() {
		left[o.ID] = true
	}
	if len(left) != 3 || !left[all] || !left[other] || !left[fr] {
		t.Fatalf("left: %v", left)
	}
}
