package watcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/config"
)

func dur(d time.Duration) config.Duration { return config.Duration{Duration: d} }

// waitFor fails the test if ch yields nothing within a generous real-time
// deadline: the bound is on the code under test, not a synchronisation sleep.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func TestProbeOutcomes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusNotFound) })
	mux.HandleFunc("/vhost", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "api.example.com" {
			http.Error(w, "wrong host "+r.Host, http.StatusMisdirectedRequest)
		}
	})
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("X-Plain") != "p" {
			http.Error(w, "bad", http.StatusBadRequest)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	cases := []struct {
		name    string
		probe   config.Probe
		outcome sample.Outcome
		status  int
		reason  string
	}{
		{"2xx default", probeDefaults(config.Probe{URL: srv.URL + "/ok"}), sample.OutcomeOK, 200, ""},
		{"5xx fails", probeDefaults(config.Probe{URL: srv.URL + "/fail"}), sample.OutcomeFail, 500, "unexpected status 500"},
		{"expected 404", probeDefaults(config.Probe{URL: srv.URL + "/gone", ExpectStatus: []int{404}}), sample.OutcomeOK, 404, ""},
		{"200 not in expected set", probeDefaults(config.Probe{URL: srv.URL + "/ok", ExpectStatus: []int{204}}), sample.OutcomeFail, 200, "unexpected status 200"},
		{"body matches", probeDefaults(config.Probe{URL: srv.URL + "/ok", BodyMatch: `"status":\s*"ok"`}), sample.OutcomeOK, 200, ""},
		{"body mismatch", probeDefaults(config.Probe{URL: srv.URL + "/ok", BodyMatch: `degraded`}), sample.OutcomeFail, 200, "body does not match"},
		{"bad regexp", probeDefaults(config.Probe{URL: srv.URL + "/ok", BodyMatch: `(`}), sample.OutcomeFail, 200, "bad body_match"},
		{"method and headers", probeDefaults(config.Probe{URL: srv.URL + "/post", Method: "POST", Headers: map[string]string{"X-Plain": "p"}}), sample.OutcomeOK, 200, ""},
		{"host header", probeDefaults(config.Probe{URL: srv.URL + "/vhost", Headers: map[string]string{"host": "api.example.com"}}), sample.OutcomeOK, 200, ""},
		{"connection refused", probeDefaults(config.Probe{URL: deadURL + "/ok"}), sample.OutcomeFail, 0, "connect"},
	}
	pr := NewProber(ProberConfig{Clock: clockwork.NewFakeClock()})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.probe.Name = "health"
			s := pr.Probe(context.Background(), "api", tc.probe)
			if s.Outcome != tc.outcome || s.Status != tc.status || !strings.Contains(s.Reason, tc.reason) {
				t.Fatalf("got outcome=%s status=%d reason=%q; want %s %d %q", s.Outcome, s.Status, s.Reason, tc.outcome, tc.status, tc.reason)
			}
			if s.Kind != sample.KindProbe || s.Source != "health" || s.Target != "api" {
				t.Fatalf("sample identity wrong: %+v", s)
			}
		})
	}
}

// TestProbeNameLookupFailureIsNotEvidence: a probe whose host name does
// not resolve (here the resolver itself cannot be reached, through Go's
// own resolver) is a source error: no deploy of a Lambda version changes
// DNS, and a resolver's hiccup read as failures rolls a good version back.
// A refused connection stays a failure (TestProbeOutcomes).
func TestProbeNameLookupFailureIsNotEvidence(t *testing.T) {
	resolver := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("resolver unreachable")
	}}
	tr := DefaultProbeClient().Transport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: time.Second, Resolver: resolver}).DialContext
	pr := NewProber(ProberConfig{Clock: clockwork.NewFakeClock(), Client: &http.Client{Transport: tr}})
	s := pr.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "health", URL: "http://health.example.test/ok"}))
	if s.Outcome != sample.OutcomeSourceError || !strings.Contains(s.Reason, "lookup") || !strings.Contains(s.Reason, "not evidence about the version") {
		t.Fatalf("got %s %q, want a source error naming the lookup", s.Outcome, s.Reason)
	}
}

// TestProbeCertificateFailureIsNotEvidence: a certificate that does not
// verify (real TLS, an authority canaryd does not trust) is no evidence
// about a Lambda version either: rolling back cannot mend it.
func TestProbeCertificateFailureIsNotEvidence(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	t.Cleanup(srv.Close)
	pr := NewProber(ProberConfig{Clock: clockwork.NewFakeClock()}) // the default client: system roots only
	s := pr.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "health", URL: srv.URL}))
	if s.Outcome != sample.OutcomeSourceError || !strings.Contains(s.Reason, "certificate") || !strings.Contains(s.Reason, "not evidence about the version") {
		t.Fatalf("got %s %q, want a source error naming the certificate", s.Outcome, s.Reason)
	}
	trusted := NewProber(ProberConfig{Clock: clockwork.NewFakeClock(), Client: srv.Client()})
	if s := trusted.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "health", URL: srv.URL})); s.Outcome != sample.OutcomeOK {
		t.Fatalf("with the server's certificate trusted: got %s %q, want ok", s.Outcome, s.Reason)
	}
}

// hangingServer never answers until the test ends; each request arrival is
// signalled on the returned channel.
func hangingServer(t *testing.T, writeHeader bool) (*httptest.Server, <-chan struct{}) {
	arrived := make(chan struct{}, 16)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if writeHeader {
			w.WriteHeader(200)
			fmt.Fprint(w, "partial")
			w.(http.Flusher).Flush()
		}
		arrived <- struct{}{}
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return srv, arrived
}

func TestProbeNeverAnswersIsBoundedByTimeout(t *testing.T) {
	for _, tc := range []struct {
		name        string
		writeHeader bool
	}{{"no response", false}, {"headers then silence", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, arrived := hangingServer(t, tc.writeHeader)
			clk := clockwork.NewFakeClock()
			pr := NewProber(ProberConfig{Clock: clk})
			done := make(chan sample.Sample, 1)
			go func() {
				done <- pr.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "h", URL: srv.URL, Timeout: dur(2 * time.Second), BodyMatch: "ok"}))
			}()
			waitFor(t, arrived, "request at server")
			clk.Advance(2 * time.Second)
			s := waitFor(t, done, "probe to return after its timeout")
			if s.Outcome != sample.OutcomeFail || !strings.Contains(s.Reason, "timeout after 2s") {
				t.Fatalf("got %s %q, want fail with timeout", s.Outcome, s.Reason)
			}
			if s.Latency != 2*time.Second {
				t.Fatalf("latency %v, want 2s on the injected clock", s.Latency)
			}
		})
	}
}

func TestProbeSlowAnswerFailsLatencyLimit(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	clk := clockwork.NewFakeClock()
	pr := NewProber(ProberConfig{Clock: clk})
	done := make(chan sample.Sample, 1)
	go func() {
		done <- pr.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "h", URL: srv.URL, Timeout: dur(5 * time.Second), MaxLatency: dur(time.Second)}))
	}()
	waitFor(t, arrived, "request")
	clk.Advance(1500 * time.Millisecond)
	close(release)
	s := waitFor(t, done, "probe")
	if s.Outcome != sample.OutcomeFail || s.Status != 200 || !strings.Contains(s.Reason, "too slow") || s.Latency != 1500*time.Millisecond {
		t.Fatalf("got %+v, want a too-slow failure with latency 1.5s", s)
	}
}

func TestProbeEndlessBodyIsBounded(t *testing.T) {
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		copy(chunk, "status ok ")
		for {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	pr := NewProber(ProberConfig{Clock: clockwork.NewFakeClock()})
	for _, tc := range []struct {
		name, match string
		outcome     sample.Outcome
	}{{"no body match", "", sample.OutcomeOK}, {"match in bound", "^status ok", sample.OutcomeOK}, {"match beyond bound", "y", sample.OutcomeFail}} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan sample.Sample, 1)
			go func() {
				done <- pr.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "h", URL: srv.URL, BodyMatch: tc.match, MaxBodyBytes: 1 << 20}))
			}()
			s := waitFor(t, done, "probe on an endless body")
			if s.Outcome != tc.outcome {
				t.Fatalf("outcome %s (%s), want %s", s.Outcome, s.Reason, tc.outcome)
			}
			if tc.outcome == sample.OutcomeFail && !strings.Contains(s.Reason, fmt.Sprintf("first %d bytes", 1<<20)) {
				t.Fatalf("reason %q does not state the read bound", s.Reason)
			}
		})
	}
}

func TestProbeRedirectsLimited(t *testing.T) {
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/loop/", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
	})
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/b", http.StatusFound) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	pr := NewProber(ProberConfig{Clock: clockwork.NewFakeClock()})

	s := pr.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "h", URL: srv.URL + "/loop/", MaxRedirects: 2}))
	if s.Outcome != sample.OutcomeFail || !strings.Contains(s.Reason, "too many redirects (max 2)") {
		t.Fatalf("redirect loop: got %s %q", s.Outcome, s.Reason)
	}
	if got := hits.Load(); got != 3 {
		t.Fatalf("server saw %d requests, want 3 (original + 2 redirects)", got)
	}
	if s := pr.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "h", URL: srv.URL + "/a", MaxRedirects: 2})); s.Outcome != sample.OutcomeOK {
		t.Fatalf("two redirects within the limit: got %s %q", s.Outcome, s.Reason)
	}
	if s := pr.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "h", URL: srv.URL + "/a", MaxRedirects: 1})); s.Outcome != sample.OutcomeFail {
		t.Fatalf("two redirects over a limit of 1: got %s", s.Outcome)
	}
}

func TestProbeSecretHeadersSentNeverShown(t *testing.T) {
	const secret = "s3cr3t-token-value"
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/redirect", http.StatusFound)
			return
		}
		http.Error(w, "nope", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	pr := NewProber(ProberConfig{Clock: clockwork.NewFakeClock()})
	p := probeDefaults(config.Probe{Name: "h", URL: srv.URL, SecretHeaders: map[string]config.Secret{"Authorization": config.NewSecret("Bearer " + secret)}})
	for _, path := range []string{"/", "/redirect"} {
		p.URL = srv.URL + path
		s := pr.Probe(context.Background(), "api", p)
		if h := waitFor(t, got, "request"); h != "Bearer "+secret {
			t.Fatalf("secret header not sent: %q", h)
		}
		if s.Outcome != sample.OutcomeFail {
			t.Fatalf("want a failure, got %s", s.Outcome)
		}
		if dump := fmt.Sprintf("%+v %#v %s", s, s, s.Reason); strings.Contains(dump, secret) {
			t.Fatalf("secret leaked into the sample: %s", dump)
		}
		if dump := fmt.Sprintf("%+v", p); strings.Contains(dump, secret) {
			t.Fatalf("secret leaked when printing the probe: %s", dump)
		}
	}
}

func TestProberScheduleSpreadAndBounded(t *testing.T) {
	var inflight, maxInflight atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			m := maxInflight.Load()
			if n <= m || maxInflight.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		inflight.Add(-1)
	}))
	t.Cleanup(srv.Close)
	clk := clockwork.NewFakeClock()
	var mu sync.Mutex
	var samples []sample.Sample
	pr := NewProber(ProberConfig{Clock: clk, Concurrency: 2, Sink: func(s sample.Sample) {
		mu.Lock()
		samples = append(samples, s)
		mu.Unlock()
	}})
	var targets []config.Target
	for i := 0; i < 5; i++ {
		targets = append(targets, config.Target{Name: fmt.Sprintf("t%d", i), Probes: []config.Probe{{Name: "h", URL: srv.URL, Interval: dur(10 * time.Second), Timeout: dur(time.Hour)}}})
	}
	pr.SetActive(targets)
	if n := pr.Tick(context.Background()); n != 0 {
		t.Fatalf("probes fired at once on SetActive: %d; want them spread over the interval", n)
	}
	clk.Advance(10 * time.Second)
	started := make(chan int, 1)
	go func() { started <- pr.Tick(context.Background()) }()
	for i := 0; i < 5; i++ {
		release <- struct{}{}
	}
	if n := waitFor(t, started, "tick"); n != 5 {
		t.Fatalf("tick started %d probes, want 5", n)
	}
	pr.Wait()
	if m := maxInflight.Load(); m > 2 {
		t.Fatalf("%d probes in flight, concurrency is 2", m)
	}
	mu.Lock()
	got := append([]sample.Sample(nil), samples...)
	mu.Unlock()
	if len(got) != 5 {
		t.Fatalf("sink got %d samples, want 5", len(got))
	}
	seen := map[string]bool{}
	for _, s := range got {
		seen[s.Target] = true
		if s.Outcome != sample.OutcomeOK {
			t.Errorf("%s: %s %s", s.Target, s.Outcome, s.Reason)
		}
	}
	if len(seen) != 5 {
		t.Fatalf("targets probed: %v", seen)
	}
	if n := pr.Tick(context.Background()); n != 0 {
		t.Fatalf("probes ran again within their interval: %d", n)
	}
	pr.SetActive(targets[:2])
	clk.Advance(10 * time.Second)
	go func() { started <- pr.Tick(context.Background()) }()
	for i := 0; i < 2; i++ {
		release <- struct{}{}
	}
	if n := waitFor(t, started, "tick"); n != 2 {
		t.Fatalf("after SetActive(2 targets) tick started %d, want 2", n)
	}
	pr.Wait()
}

func TestProbeSecretHeadersNotForwardedToOtherHosts(t *testing.T) {
	const secret = "k3y-value"
	seen := make(chan string, 1)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("X-Api-Key") + "|" + r.Header.Get("X-Plain")
	}))
	t.Cleanup(other.Close)
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != secret {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, other.URL+"/elsewhere", http.StatusFound)
	}))
	t.Cleanup(first.Close)
	pr := NewProber(ProberConfig{Clock: clockwork.NewFakeClock()})
	s := pr.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "h", URL: first.URL, MaxRedirects: 1,
		Headers: map[string]string{"X-Plain": "p"}, SecretHeaders: map[string]config.Secret{"X-Api-Key": config.NewSecret(secret)}}))
	if s.Outcome != sample.OutcomeOK {
		t.Fatalf("probe: %s %q", s.Outcome, s.Reason)
	}
	if got := waitFor(t, seen, "redirected request"); got != "|p" {
		t.Fatalf("other host got headers %q; want the secret dropped and the plain header kept", got)
	}
}

// probeDefaults fills what config.Load fills for a probe written in code:
// the prober trusts a loaded config.
func probeDefaults(p config.Probe) config.Probe {
	if p.Method == "" {
		p.Method = http.MethodGet
	}
	if p.Timeout.Duration == 0 {
		p.Timeout.Duration = config.DefaultProbeTimeout
	}
	if p.Interval.Duration == 0 {
		p.Interval.Duration = config.DefaultProbeInterval
	}
	if p.MaxBodyBytes == 0 {
		p.MaxBodyBytes = config.DefaultMaxBodyBytes
	}
	return p
}

// TestProberExpedite: a target whose new version starts to take traffic
// is probed at the next tick, not at its next slot; a target probed since
// that instant is not probed again, nor is another target, nor one whose
// version began an interval ago; the regular schedule goes on from its
// slots.
func TestProberExpedite(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var probed []string
	pr := NewProber(ProberConfig{Clock: clk, Concurrency: 4, Sink: func(s sample.Sample) {
		mu.Lock()
		probed = append(probed, s.Target)
		mu.Unlock()
	}})
	a := config.Target{Name: "a", Probes: []config.Probe{{Name: "h", URL: srv.URL, Interval: dur(10 * time.Second), Timeout: dur(time.Second)}}}
	b := config.Target{Name: "b", Probes: []config.Probe{{Name: "h", URL: srv.URL, Interval: dur(10 * time.Second), Timeout: dur(time.Second)}}}
	pr.SetActive([]config.Target{a, b})
	tick := func() []string {
		t.Helper()
		pr.Tick(context.Background())
		pr.Wait()
		mu.Lock()
		defer mu.Unlock()
		got := probed
		probed = nil
		return got
	}
	// Run every probe once at its slot, then stop just after a's slot.
	slotA := ProbeSlot("a", "h", 10*time.Second, clk.Now())
	for !clk.Now().After(slotA.Add(10 * time.Second)) {
		clk.Advance(time.Second)
		tick()
	}
	clk.Advance(time.Second) // the deploy, a second after the last probe round
	deploy := clk.Now()
	if next := ProbeSlot("a", "h", 10*time.Second, deploy); next.Sub(deploy) < time.Second {
		t.Fatalf("test set-up: a's next slot %s is at the deploy %s", next, deploy)
	}
	// A target new to the prober (a process started, or leases taken
	// over, with watches under way) whose version began more than an
	// interval ago keeps its probes spread over their slots.
	c := config.Target{Name: "c", Probes: a.Probes}
	pr.SetActive([]config.Target{a, b, c})
	if ProbeSlot("c", "h", 10*time.Second, deploy.Add(-time.Nanosecond)).Equal(deploy) {
		t.Fatal("test set-up: c's slot is at the deploy")
	}
	pr.Expedite(c, deploy.Add(-time.Hour))
	pr.Expedite(a, deploy)
	if got := fmt.Sprint(tick()); got != "[a]" {
		t.Fatalf("probed at the tick after Expedite: %s, want [a]", got)
	}
	pr.Expedite(a, deploy) // probed since: not again
	clk.Advance(time.Second)
	if got := tick(); slices.Contains(got, "a") && ProbeSlot("a", "h", 10*time.Second, deploy).After(clk.Now()) {
		t.Fatalf("a probed again before its slot: %v", got)
	}
	// The schedule goes on from a's slots.
	for next := ProbeSlot("a", "h", 10*time.Second, deploy); clk.Now().Before(next); {
		clk.Advance(time.Second)
		if got := tick(); slices.Contains(got, "a") && clk.Now().Before(next) {
			t.Fatalf("a probed at %s, before its slot %s", clk.Now(), next)
		}
	}
}
