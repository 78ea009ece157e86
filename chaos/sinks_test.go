package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/notify"
)

// health is the protected functions' health endpoint, /FUNCTION: it
// answers for the versions the function's alias routes to (its version and
// a canary taking any share of the traffic), 502 when one is marked bad,
// and 401 without the probe's secret header.
type health struct {
	srv   *httptest.Server
	sim   *awssim.Sim
	token string

	mu        sync.Mutex
	bad       map[string]bool
	failures  map[string]int       // fn -> bad answers served
	firstFail map[string]time.Time // fn -> when the first bad answer was served
}

func newHealth(t testing.TB, sim *awssim.Sim, token string) *health {
	h := &health{sim: sim, token: token, bad: map[string]bool{}, failures: map[string]int{}, firstFail: map[string]time.Time{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Probe-Token") != token {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		fn := strings.TrimPrefix(r.URL.Path, "/")
		v, weights, _ := sim.Alias(fn, aliasName)
		bad := h.isBad(fn + "@" + v)
		for canary, share := range weights { // a canary taking any traffic answers too
			bad = bad || share > 0 && h.isBad(fn+"@"+canary)
		}
		if bad {
			h.mu.Lock()
			h.failures[fn]++
			if h.firstFail[fn].IsZero() {
				h.firstFail[fn] = time.Now()
			}
			h.mu.Unlock()
			http.Error(w, "boom", http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *health) setBad(fn, v string, bad bool) {
	h.mu.Lock()
	h.bad[fn+"@"+v] = bad
	h.mu.Unlock()
}

// failed is how many failing answers fn's probes got.
func (h *health) failed(fn string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failures[fn]
}

// firstFailure is when fn's probes got their first failing answer (zero
// before).
func (h *health) firstFailure(fn string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.firstFail[fn]
}

func (h *health) isBad(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bad[key]
}

// alert is one webhook delivery as the receiver saw it.
type alert struct {
	notify.Event
	Raw   string
	SigOK bool
	At    time.Time
}

// alertSink is the notifier's webhook receiver (on-call's pager). While
// hung (hang) it accepts requests and answers none until it recovers
// (resume): a request whose sender gave up meanwhile was never received;
// one still waiting when it recovers is.
type alertSink struct {
	srv    *httptest.Server
	secret string

	mu        sync.Mutex
	list      []alert
	hung      chan struct{} // closed when the receiver recovers; nil when not hung
	abandoned int           // requests whose sender gave up while hung
}

// hang makes the receiver stop answering until resume.
func (s *alertSink) hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hung == nil {
		s.hung = make(chan struct{})
	}
}

// resume answers the requests waiting and every later one again.
func (s *alertSink) resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hung != nil {
		close(s.hung)
		s.hung = nil
	}
}

// abandonedRequests is how many requests the sender gave up on while the
// receiver hung.
func (s *alertSink) abandonedRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.abandoned
}

func newAlertSink(t testing.TB, secret string) *alertSink {
	s := &alertSink{secret: secret}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		hung := s.hung
		s.mu.Unlock()
		if hung != nil {
			select { // a receiver that answers nothing until it recovers
			case <-hung:
			case <-r.Context().Done():
				s.mu.Lock()
				s.abandoned++
				s.mu.Unlock()
				return
			}
		}
		a := alert{Raw: string(b), At: time.Now(), SigOK: r.Header.Get(notify.HeaderSignature) == notify.Sign(secret, b)}
		if err := json.Unmarshal(b, &a.Event); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.list = append(s.list, a)
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *alertSink) all() []alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]alert(nil), s.list...)
}

// has reports whether an alert of kind typ about incident (any when "")
// arrived.
func (s *alertSink) has(typ, incident string) bool {
	for _, a := range s.all() {
		if string(a.Type) == typ && (incident == "" || a.IncidentID == incident) {
			return true
		}
	}
	return false
}

// delivered is how many alerts of kind typ about incident arrived.
func (s *alertSink) delivered(typ event.Kind, incident string) int {
	n := 0
	for _, a := range s.all() {
		if a.Type == typ && a.IncidentID == incident {
			n++
		}
	}
	return n
}

// resolvedBeforeTrip says when incident's resolve arrived before its
// tripped page ("" when not).
func (s *alertSink) resolvedBeforeTrip(incident string) string {
	for _, a := range s.all() {
		switch {
		case a.IncidentID != incident:
		case a.Type == event.Tripped:
			return ""
		case strings.HasPrefix(string(a.Type), "rollback_") && a.Type != event.RollbackRetrying:
			return fmt.Sprintf("incident %s: %s page arrived before its tripped page", incident, a.Type)
		}
	}
	return ""
}

func (s *alertSink) dump() string {
	var b strings.Builder
	for _, a := range s.all() {
		b.WriteString(a.At.Format(time.RFC3339Nano) + " " + a.Raw + "\n")
	}
	return b.String()
}

// hookSink is the rollback's webhook action: an incident tool that takes
// a moment to answer, so kills land inside the step too.
type hookSink struct {
	srv   *httptest.Server
	delay time.Duration

	mu     sync.Mutex
	bodies []string
}

func newHookSink(t testing.TB, delay time.Duration) *hookSink {
	s := &hookSink{delay: delay}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		select { // the hook's latency (simulated work, not synchronisation)
		case <-time.After(s.delay):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *hookSink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}
