package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

func httptestRequest(t testing.TB, method, url, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func decodeError(t *testing.T, resp *http.Response) ErrorBody {
	t.Helper()
	var eb ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
		t.Fatalf("decode error body: %v", err)
	}
	return eb
}

// seedOverride stores an override directly, for DELETE to find.
func seedOverride(t *testing.T, h *harness, id string) {
	t.Helper()
	o := store.Override{ID: id, Target: "checkout", Kind: store.OverridePause, Reason: "seed", Actor: "test",
		CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	if err := h.st.PutOverride(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

type route struct {
	method, path, body string
	want               int // with the right token
}

var stateChanging = []route{
	{"POST", "/v1/overrides", `{"target":"checkout","kind":"pause","ttl":"30m","reason":"load test","actor":"ana"}`, http.StatusCreated},
	{"DELETE", "/v1/overrides/seeded", "", http.StatusOK},
	{"POST", "/v1/rollback", `{"target":"checkout","reason":"bad deploy","actor":"ana"}`, http.StatusOK},
	{"POST", "/v1/deploys", `{"target":"checkout","version":"7"}`, http.StatusOK},
}

var readOnly = []route{
	{"GET", "/v1/status", "", http.StatusOK},
	{"GET", "/v1/overrides", "", http.StatusOK},
	{"GET", "/v1/watches?target=checkout&active=true", "", http.StatusOK},
	{"GET", "/v1/incidents", "", http.StatusOK},
	{"GET", "/v1/incidents/nope", "", http.StatusNotFound},
	{"GET", "/v1/incidents/nope/postmortem", "", http.StatusNotFound},
	{"GET", "/v1/no-such-route", "", http.StatusNotFound},
}

// TestAuthRefusesAndChangesNothing is promise 10: every /v1 route without
// the right bearer token answers 401 and reaches neither the controller nor
// the store; with it, the same request works.
func TestAuthRefusesAndChangesNothing(t *testing.T) {
	badAuth := []struct {
		name, header string
	}{
		{"no header", ""},
		{"wrong token", "Bearer not-the-token"},
		{"token prefix", "Bearer " + testToken[:len(testToken)-1]},
		{"token with suffix", "Bearer " + testToken + "x"},
		{"basic scheme", "Basic " + testToken},
		{"bare token", testToken},
		{"empty bearer", "Bearer "},
	}
	for _, rt := range append(append([]route{}, stateChanging...), readOnly...) {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			h := newHarness(t)
			seedOverride(t, h, "seeded")
			beforeOverrides, beforeWatches := h.overrides(), h.watches()
			for _, ba := range badAuth {
				req := httptestRequest(t, rt.method, h.http.URL+rt.path, rt.body)
				if ba.header != "" {
					req.Header.Set("Authorization", ba.header)
				}
				resp, err := h.http.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				eb := decodeError(t, resp)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: status %d, want 401", ba.name, resp.StatusCode)
				}
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q", ba.name, got)
				}
				if eb.Error == "" {
					t.Errorf("%s: no error message", ba.name)
				}
			}
			if n := h.ctl.TotalCalls(); n != 0 {
				t.Fatalf("controller reached %d times by unauthenticated requests", n)
			}
			if got := h.overrides(); !reflect.DeepEqual(got, beforeOverrides) {
				t.Fatalf("overrides changed by unauthenticated requests: %+v", got)
			}
			if got := h.watches(); !reflect.DeepEqual(got, beforeWatches) {
				t.Fatalf("watches changed by unauthenticated requests: %+v", got)
			}
			if got := testutil.ToFloat64(h.srv.metrics.authFailures.WithLabelValues("missing")) +
				testutil.ToFloat64(h.srv.metrics.authFailures.WithLabelValues("invalid")); got != float64(len(badAuth)) {
				t.Errorf("auth failures counted %v, want %d", got, len(badAuth))
			}

			resp := h.do(rt.method, rt.path, rt.body, testToken)
			if resp.StatusCode != rt.want {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("with token: status %d, want %d: %s", resp.StatusCode, rt.want, b)
			}
		})
	}
}

// TestAuthorizedRequestsChangeState shows the token-carrying twin of each
// refused request really has its effect, so the test above is not vacuous.
func TestAuthorizedRequestsChangeState(t *testing.T) {
	h := newHarness(t)
	seedOverride(t, h, "seeded")

	h.do("POST", "/v1/overrides", stateChanging[0].body, testToken)
	var found bool
	for _, o := range h.overrides() {
		if o.Actor == "admin" && o.Reason == "load test" && o.ExpiresAt.Equal(testNow.Add(30*time.Minute)) {
			found = true
		}
	}
	if !found {
		t.Errorf("POST /v1/overrides did not store the override: %+v", h.overrides())
	}
	h.do("DELETE", "/v1/overrides/seeded", "", testToken)
	for _, o := range h.overrides() {
		if o.ID == "seeded" {
			t.Errorf("DELETE did not remove the override")
		}
	}
	h.do("POST", "/v1/deploys", stateChanging[3].body, testToken)
	if ws := h.watches(); len(ws) != 1 || ws[0].NewVersion != "7" {
		t.Errorf("POST /v1/deploys did not start a watch: %+v", ws)
	}
	h.do("POST", "/v1/rollback", stateChanging[2].body, testToken)
	if len(h.ctl.rollbacks) != 1 || h.ctl.rollbacks[0].Actor != "admin" || h.ctl.rollbacks[0].Reason != "bad deploy" {
		t.Errorf("rollback not passed on: %+v", h.ctl.rollbacks)
	}
}

func TestNoTokenConfiguredRefusesEverything(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Token = config.Secret{} })
	seedOverride(t, h, "seeded")
	before := h.overrides()
	for _, rt := range append(append([]route{}, stateChanging...), readOnly...) {
		for _, tok := range []string{"", "anything", testToken} {
			resp := h.do(rt.method, rt.path, rt.body, tok)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s token %q: status %d, want 403", rt.method, rt.path, tok, resp.StatusCode)
			}
			if eb := decodeError(t, resp); eb.Error != "admin token not configured" {
				t.Errorf("%s %s: error %q", rt.method, rt.path, eb.Error)
			}
		}
	}
	if h.ctl.TotalCalls() != 0 || !reflect.DeepEqual(h.overrides(), before) {
		t.Fatal("state reached without a configured token")
	}
	// The unauthenticated probes still work.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp := h.do("GET", p, "", ""); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

func TestReadyzReflectsReady(t *testing.T) {
	h := newHarness(t)
	resp := h.do("GET", "/readyz", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ready: %d", resp.StatusCode)
	}
	h.setReady(errNotReady)
	resp = h.do("GET", "/readyz", "", "")
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || body["reason"] != errNotReady.Error() {
		t.Fatalf("not ready: %d %v", resp.StatusCode, body)
	}
	err := h.client("").Ready(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Message != errNotReady.Error() {
		t.Fatalf("client Ready: %v", err)
	}
	h.setReady(nil)
	if err := h.client("").Ready(context.Background()); err != nil {
		t.Fatalf("ready again: %v", err)
	}
	if resp := h.do("GET", "/healthz", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}

func TestMetricsServesRegistry(t *testing.T) {
	h := newHarness(t)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "canaryd_test_marker_total", Help: "marker"})
	h.reg.MustRegister(c)
	c.Add(42)
	h.do("GET", "/v1/status", "", "wrong")
	h.do("GET", "/v1/status", "", testToken)

	resp := h.do("GET", "/metrics", "", "")
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		"canaryd_test_marker_total 42",
		`canaryd_api_requests_total{code="401",route="GET /v1/status"} 1`,
		`canaryd_api_requests_total{code="200",route="GET /v1/status"} 1`,
		`canaryd_api_auth_failures_total{reason="invalid"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	problems, err := testutil.GatherAndLint(h.reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %+v", err, problems)
	}
}

func TestTwoServersShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	h1 := newHarness(t, func(c *Config) { c.Registry = reg })
	h2 := newHarness(t, func(c *Config) { c.Registry = reg })
	h1.do("GET", "/v1/status", "", testToken)
	h2.do("GET", "/v1/status", "", testToken)
	if got := testutil.ToFloat64(h1.srv.metrics.requests.WithLabelValues("GET /v1/status", "200")); got != 2 {
		t.Fatalf("shared counter = %v, want 2", got)
	}
}
