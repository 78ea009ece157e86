package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/event"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

var t0 = time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)

// trippedEvent is a realistic trip: error rate breached, latency fine,
// alias reverted, a pause override in force.
func trippedEvent() Event {
	base := 0.002
	return Event{
		Type:       event.Tripped,
		Severity:   event.Critical,
		Time:       t0,
		Target:     "checkout",
		Function:   "checkout-fn",
		Alias:      "live",
		WatchID:    "w-42",
		IncidentID: "inc-checkout-w-42",
		KnownGood:  "6",
		NewVersion: "7",
		Verdict: &policy.Verdict{
			Kind: policy.Failing,
			At:   t0,
			Findings: []policy.Finding{
				{Rule: "p99-latency", RuleKind: "latency", Enough: true, Observed: 180, Threshold: 800, Op: ">", Window: 5 * time.Minute, Samples: 5},
				{Rule: "error-rate", RuleKind: "error_rate", Breached: true, Enough: true, Observed: 0.084, Threshold: 0.05, Op: ">",
					Baseline: &base, Window: 5 * time.Minute, Samples: 5, Evidence: 1200, MinEvidence: 50, Version: "7"},
			},
			Summary: "error-rate breached",
		},
		Actions: []ActionResult{
			{Name: "lambda-alias", Status: string(store.StepDone), Duration: 1250 * time.Millisecond, Detail: "live 7 -> 6"},
			{Name: "cloudfront:E123", Status: string(store.StepFailed), Duration: 300 * time.Millisecond, Error: "AccessDenied"},
		},
		Overrides: []store.Override{{ID: "o1", Target: "checkout", Kind: store.OverridePause, Reason: "load test", Actor: "alice",
			CreatedAt: t0.Add(-time.Minute), ExpiresAt: t0.Add(30 * time.Minute)}},
		Message: "checkout-fn:live version 7 failed error-rate; rolling back to 6.",
		Links:   []Link{{Href: "https://canaryd.example/incidents/inc-checkout-w-42", Text: "incident"}},
	}
}

// receiver is an httptest server that records request bodies and headers
// and answers with the status the test sets.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	paths    []string
	status   int
	respBody string
	header   http.Header
}

func newReceiver(t *testing.T, status int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.headers = append(r.headers, req.Header.Clone())
		r.paths = append(r.paths, req.URL.Path)
		status, body := r.status, r.respBody
		for k, vs := range r.header {
			w.Header()[k] = vs
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) set(status int, body string, h http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.respBody, r.header = status, body, h
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func (r *receiver) body(i int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[i]
}

func (r *receiver) hdr(i int) http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headers[i]
}

// waitFor polls cond until it holds or a deadline passes. It is a
// condition wait, not a sleep: it returns as soon as cond is true.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not mention %q:\n%s", what, sub, s)
		}
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
