package actuator

import (
	"crypto/hmac"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// hookPlan returns the standard incident's plan with only the given hooks.
func hookPlan(e *env, wh []config.WebhookHook, ex []config.ExecHook) Plan {
	tg := e.target()
	tg.Actions = config.Actions{Webhooks: wh, Exec: ex}
	return BuildPlan(tg, e.input())
}

// noWait makes step retries immediate (the webhook's attempts come from
// its own Retries).
func noWait(c *Config) { c.Retry = RetryPolicy{Attempts: 1} }

func TestWebhookSignedPayload(t *testing.T) {
	const secret = "hook-secret-123"
	type got struct {
		body []byte
		hdr  http.Header
	}
	ch := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- got{b, r.Header.Clone()}
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, nil, noWait)

	res := e.execute(hookPlan(e, []config.WebhookHook{{Name: "bot", URL: srv.URL, Secret: config.NewSecret(secret), Retries: 1}}, nil))

	if res.Steps[1].Status != store.StepDone {
		t.Fatalf("webhook %s: %s", res.Steps[1].Status, res.Steps[1].Error)
	}
	g := <-ch
	// The receiver's check: recompute the HMAC over the raw body.
	if want := Sign([]byte(secret), g.body); !hmac.Equal([]byte(g.hdr.Get(SignatureHeader)), []byte(want)) {
		t.Errorf("signature %q does not verify (want %q)", g.hdr.Get(SignatureHeader), want)
	}
	if !strings.HasPrefix(g.hdr.Get(SignatureHeader), "sha256=") || len(g.hdr.Get(SignatureHeader)) != 7+64 {
		t.Errorf("signature header %q, want sha256=<64 hex>", g.hdr.Get(SignatureHeader))
	}
	if Sign([]byte("other"), g.body) == g.hdr.Get(SignatureHeader) {
		t.Error("signature does not depend on the secret")
	}
	var p HookPayload
	if err := json.Unmarshal(g.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Incident != incident || p.Target != "checkout" || p.FromVersion != "2" || p.ToVersion != "1" ||
		p.Function != fnName || p.Alias != aliasNm || p.Hook != "bot" || !p.Time.Equal(epoch) {
		t.Errorf("payload %+v", p)
	}
	if g.hdr.Get(IncidentHeader) != incident || g.hdr.Get(DeliveryHeader) != incident+"/1" {
		t.Errorf("headers %v", g.hdr)
	}
	if strings.Contains(string(g.body), secret) {
		t.Error("secret in the body")
	}
}

func TestWebhookRetries(t *testing.T) {
	cases := []struct {
		name         string
		statuses     []int // answers in order; the last repeats
		retries      int
		wantStatus   store.StepStatus
		wantAttempts int
	}{
		{"ok", []int{204}, 3, store.StepDone, 1},
		{"503 then ok", []int{503, 503, 200}, 3, store.StepDone, 3},
		{"429 retries", []int{429, 200}, 3, store.StepDone, 2},
		{"408 retries", []int{408, 200}, 3, store.StepDone, 2},
		{"500 until out of retries", []int{500}, 3, store.StepFailed, 4},
		{"400 is permanent", []int{400}, 3, store.StepFailed, 1},
		{"401 is permanent", []int{401}, 3, store.StepFailed, 1},
		{"404 is permanent", []int{404}, 3, store.StepFailed, 1},
		{"no retries configured", []int{503, 200}, 0, store.StepFailed, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				st := tc.statuses[min(calls, len(tc.statuses)-1)]
				calls++
				mu.Unlock()
				w.WriteHeader(st)
			}))
			t.Cleanup(srv.Close)
			e := newEnv(t, nil, noWait)
			res := e.execute(hookPlan(e, []config.WebhookHook{{Name: "w", URL: srv.URL, Retries: tc.retries}}, nil))
			sr := res.Steps[1]
			var d webhookDetail
			_ = json.Unmarshal(sr.Detail, &d)
			if sr.Status != tc.wantStatus || d.Attempts != tc.wantAttempts || calls != tc.wantAttempts {
				t.Errorf("status %s after %d attempts (%d calls), want %s after %d; error %q",
					sr.Status, d.Attempts, calls, tc.wantStatus, tc.wantAttempts, sr.Error)
			}
		})
	}
}

func TestWebhookTimeoutAndNoSecretInErrors(t *testing.T) {
	hit := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // else the server never notices the client leaving
		hit <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, nil, noWait)
	const token = "tok-SECRET-987"
	done := make(chan Result, 1)
	go func() {
		done <- e.execute(hookPlan(e, []config.WebhookHook{{Name: "slow", URL: srv.URL + "/hook?token=" + token,
			Timeout: config.Duration{Duration: 5 * time.Second}}}, nil))
	}()
	<-hit
	e.clk.Advance(5 * time.Second)
	res := <-done
	sr := res.Steps[1]
	if sr.Status != store.StepFailed || !strings.Contains(sr.Error, "timed out after 5s") {
		t.Errorf("status %s error %q, want failed with a timeout", sr.Status, sr.Error)
	}
	if strings.Contains(sr.Error+string(sr.Detail), token) {
		t.Errorf("URL token leaked: %s %s", sr.Error, sr.Detail)
	}

	// A refused connection: retried, then failed, and the error names the
	// host only.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	e2 := newEnv(t, nil, noWait)
	res = e2.execute(hookPlan(e2, []config.WebhookHook{{Name: "down", URL: "http://" + addr + "/x?token=" + token, Retries: 2}}, nil))
	sr = res.Steps[1]
	var d webhookDetail
	_ = json.Unmarshal(sr.Detail, &d)
	if sr.Status != store.StepFailed || d.Attempts != 3 {
		t.Errorf("status %s after %d attempts, want failed after 3", sr.Status, d.Attempts)
	}
	if strings.Contains(sr.Error+string(sr.Detail), token) || !strings.Contains(sr.Error, addr) {
		t.Errorf("error %q: want the host, never the token", sr.Error)
	}
}

func TestCriticalHookStopsPlan(t *testing.T) {
	for _, critical := range []bool{true, false} {
		t.Run(map[bool]string{true: "critical", false: "not critical"}[critical], func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) }))
			t.Cleanup(srv.Close)
			e := newEnv(t, nil, noWait)
			out := t.TempDir() + "/ran"
			p := hookPlan(e,
				[]config.WebhookHook{{Name: "gate", URL: srv.URL, Critical: critical}},
				[]config.ExecHook{{Name: "later", Argv: helperArgv(), Env: map[string]string{helperEnv: "append", "ACT_OUT": out}}})

			res := e.execute(p)

			wantOutcome, wantExec := OutcomeRolledBack, store.StepDone
			if critical {
				wantOutcome, wantExec = OutcomeFailed, store.StepSkipped
			}
			if res.Outcome != wantOutcome || res.Steps[2].Status != wantExec {
				t.Fatalf("outcome %s, exec %s; want %s, %s", res.Outcome, res.Steps[2].Status, wantOutcome, wantExec)
			}
			if ran := fileExists(out); ran != !critical {
				t.Errorf("later hook ran = %v, want %v", ran, !critical)
			}
			if critical && !strings.Contains(res.Reason, "webhook:gate") {
				t.Errorf("reason %q does not name the step", res.Reason)
			}
			if !critical && !strings.Contains(res.Reason, "non-critical steps failed: webhook:gate") {
				t.Errorf("reason %q does not mention the failed hook", res.Reason)
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
