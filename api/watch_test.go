package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/console"
	"github.com/canaryd/canaryd/evidence"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// TestGetWatchServesTheStoredEvidence: a restarted API (no live recorder)
// serves the snapshot written when the verdict turned failing, drawn as
// charts; without a token it serves nothing.
func TestGetWatchServesTheStoredEvidence(t *testing.T) {
	h := scopedHarness(t)
	ctx := context.Background()
	w := store.Watch{ID: "w-42", Target: "checkout", Phase: store.PhaseTripped, NewVersion: "7", KnownGood: "6", DetectedAt: testNow}
	if err := h.st.CreateWatch(ctx, w); err != nil {
		t.Fatal(err)
	}
	rec := evidence.New(evidence.Config{Store: h.st})
	base := 0.004
	for i, kind := range []policy.Kind{policy.Healthy, policy.Healthy, policy.Failing} {
		rec.Observe(ctx, w, time.Minute, policy.Verdict{Kind: kind, At: testNow.Add(time.Duration(i) * time.Minute), Summary: string(kind),
			Findings: []policy.Finding{{Rule: "error-rate", RuleKind: "error_rate", Observed: 0.01 * float64(i+1), Threshold: 0.05,
				Baseline: &base, EValue: float64(10 * (i + 1)), Alpha: 0.01, Breached: kind == policy.Failing}}})
	}

	rec.Wait()
	resp := h.do("GET", "/v1/watches/w-42", "", readerToken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var d WatchDetail
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.Watch.ID != "w-42" || d.Evidence == nil || !d.Evidence.Stored || len(d.Evidence.Rules) != 1 || len(d.Evidence.Rules[0].Points) != 3 {
		t.Fatalf("detail %+v", d)
	}
	if len(d.Charts) != 1 || !strings.HasPrefix(d.Charts[0].SVG, "<svg") || !strings.Contains(d.Charts[0].SVG, `class="breach"`) {
		t.Errorf("charts %+v", d.Charts)
	}
	for _, e := range d.Events {
		if e.Type == "evidence_snapshot" {
			t.Error("the snapshot is listed as an event")
		}
	}

	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"no token", "/v1/watches/w-42", "", http.StatusUnauthorized},
		{"wrong token", "/v1/watches/w-42", "nope", http.StatusUnauthorized},
		{"unknown watch", "/v1/watches/w-nope", readerToken, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do("GET", tc.path, "", tc.token)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && (strings.Contains(string(body), "checkout") || strings.Contains(string(body), "svg")) {
				t.Errorf("an unauthenticated answer leaks data: %s", body)
			}
		})
	}
}

// TestConsoleShellIsPublicStrictAndEmpty: the console's files need no
// token, carry the CSP and hold no data; nothing but GET reaches them.
func TestConsoleShellIsPublicStrictAndEmpty(t *testing.T) {
	h := scopedHarness(t)
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/console/", "text/html", `<script src="app.js" defer></script>`},
		{"/console/app.js", "javascript", "sessionStorage"},
		{"/console/app.css", "text/css", "prefers-color-scheme: dark"},
		{"/console/favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp := h.do("GET", tc.path, "", "")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), tc.contentType) {
			t.Errorf("GET %s: %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != console.CSP || !strings.Contains(got, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", tc.path, got)
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s lacks %q", tc.path, tc.contains)
		}
		if strings.Contains(string(body), "checkout") || strings.Contains(string(body), testToken) {
			t.Errorf("GET %s carries data", tc.path)
		}
	}
	{
		body, _ := io.ReadAll(h.do("GET", "/console/", "", "").Body)
		for _, inline := range []string{"<script>", "style=", "<style", "javascript:"} {
			if strings.Contains(string(body), inline) {
				t.Errorf("index.html has inline code %q", inline)
			}
		}
		if m := regexp.MustCompile(`\son[a-z]+=`).FindString(string(body)); m != "" {
			t.Errorf("index.html has an inline event handler %q", m)
		}
	}
	req := httptestRequest(t, "GET", h.http.URL+"/", "")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
		t.Errorf("GET /: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if resp := h.do(m, "/console/", "", testToken); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /console/: %d, want 405", m, resp.StatusCode)
		}
	}
	if h.ctl.TotalCalls() != 0 {
		t.Errorf("the console's files reached the controller %d times", h.ctl.TotalCalls())
	}
}

// dirTraces serves traces from files named for their watch IDs.
type dirTraces string

func (d dirTraces) OpenTrace(w store.Watch) (io.ReadCloser, string, error) {
	f, err := os.Open(filepath.Join(string(d), w.ID+".jsonl"))
	return f, w.Target + "-" + w.ID + ".jsonl", err
}

// TestGetTrace: a reader downloads the trace the daemon recorded of a
// watch; without a token nothing; a watch without a trace here, or a
// daemon that records none, is a 404 that says why.
func TestGetTrace(t *testing.T) {
	dir := t.TempDir()
	const trace = "{\"type\":\"deploy\",\"time\":\"2026-03-02T12:00:00Z\",\"known_good\":\"6\",\"new_version\":\"7\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "w-42.jsonl"), []byte(trace), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		traces TraceSource
		path   string
		token  string
		want   int
		body   string
	}{
		{"recorded", dirTraces(dir), "/v1/watches/w-42/trace", readerToken, http.StatusOK, trace},
		{"no token", dirTraces(dir), "/v1/watches/w-42/trace", "", http.StatusUnauthorized, ""},
		{"not recorded here", dirTraces(dir), "/v1/watches/w-43/trace", readerToken, http.StatusNotFound, "no trace of watch w-43 here"},
		{"no such watch", dirTraces(dir), "/v1/watches/w-99/trace", readerToken, http.StatusNotFound, ""},
		{"no trace_dir", nil, "/v1/watches/w-42/trace", readerToken, http.StatusNotFound, "set daemon.trace_dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.Tokens = []Token{{Name: "grafana", Scope: ScopeReader, Secret: config.NewSecret(readerToken)}}
				c.Traces = tc.traces
			})
			for _, id := range []string{"w-42", "w-43"} {
				if err := h.st.CreateWatch(context.Background(), store.Watch{ID: id, Target: "checkout", Phase: store.PhaseTripped, NewVersion: "7", KnownGood: "6", DetectedAt: testNow}); err != nil {
					t.Fatal(err)
				}
			}
			resp := h.do("GET", tc.path, "", tc.token)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.body) {
				t.Fatalf("status %d %q, want %d containing %q", resp.StatusCode, b, tc.want, tc.body)
			}
			if tc.want == http.StatusOK {
				if string(b) != tc.body || resp.Header.Get("Content-Type") != "application/x-ndjson" ||
					resp.Header.Get("Content-Disposition") != `attachment; filename="checkout-w-42.jsonl"` {
					t.Fatalf("body %q headers %v", b, resp.Header)
				}
			}
		})
	}
}
