package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// fakeController is a small hand-written Controller over a real store: it
// keeps the logic a daemon would have for the API's purposes (known
// targets, deploy dedup and staleness, overrides persisted in the store)
// and counts every call, so tests can prove a refused request reached
// nothing.
type fakeController struct {
	st    store.Store
	clock clockwork.Clock

	mu        sync.Mutex
	targets   map[string]string // target -> alias version
	calls     map[string]int
	rollbacks []RollbackRequest
}

func newFakeController(st store.Store, clock clockwork.Clock) *fakeController {
	return &fakeController{st: st, clock: clock, targets: map[string]string{"checkout": "6", "search": "3"}, calls: map[string]int{}}
}

func (f *fakeController) count(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[name]++
}

func (f *fakeController) Calls(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fakeController) TotalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func (f *fakeController) known(target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.targets[target]; !ok && target != "*" {
		return fmt.Errorf("target %q: %w", target, ErrUnknownTarget)
	}
	return nil
}

func (f *fakeController) Status(ctx context.Context) (Status, error) {
	f.count("Status")
	os, err := f.st.ListOverrides(ctx)
	if err != nil {
		return Status{}, err
	}
	st := Status{Time: f.clock.Now(), Replica: "replica-a", Overrides: []store.Override{}}
	for _, o := range os {
		if o.Active(f.clock.Now()) {
			st.Overrides = append(st.Overrides, o)
			st.Paused = st.Paused || (o.Target == "*" && o.Kind == store.OverridePause)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range []string{"checkout", "search"} {
		st.Targets = append(st.Targets, TargetStatus{Name: name, Function: name + "-fn", Alias: "live", Version: f.targets[name], LeaseOwner: "replica-a"})
	}
	return st, nil
}

func (f *fakeController) AnnounceDeploy(ctx context.Context, target, version string) (AnnounceResult, error) {
	f.count("AnnounceDeploy")
	if err := f.known(target); err != nil {
		return AnnounceResult{}, err
	}
	f.mu.Lock()
	cur := f.targets[target]
	f.mu.Unlock()
	curN, _ := strconv.Atoi(cur)
	newN, _ := strconv.Atoi(version)
	switch {
	case newN < curN:
		return AnnounceResult{}, fmt.Errorf("announce %s version %s: alias is at %s: %w", target, version, cur, ErrStale)
	case newN == curN:
		return AnnounceResult{Target: target, Version: version, Changed: false, WatchID: target + "-" + version, Message: "already watching"}, nil
	}
	w := store.Watch{ID: target + "-" + version, Target: target, Phase: store.PhaseBaking, KnownGood: cur, NewVersion: version,
		Source: "announce", DetectedAt: f.clock.Now()}
	if err := f.st.CreateWatch(ctx, w); err != nil {
		return AnnounceResult{}, err
	}
	f.mu.Lock()
	f.targets[target] = version
	f.mu.Unlock()
	return AnnounceResult{Target: target, Version: version, Changed: true, WatchID: w.ID}, nil
}

func (f *fakeController) StartRollout(ctx context.Context, target, version string) (AnnounceResult, error) {
	f.count("StartRollout")
	if err := f.known(target); err != nil {
		return AnnounceResult{}, err
	}
	return AnnounceResult{Target: target, Version: version, Changed: true, WatchID: target + "-rollout-" + version}, nil
}

func (f *fakeController) Rollback(ctx context.Context, req RollbackRequest) (RollbackResponse, error) {
	f.count("Rollback")
	if err := f.known(req.Target); err != nil {
		return RollbackResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollbacks = append(f.rollbacks, req)
	to := req.ToVersion
	if to == "" {
		to = "5"
	}
	resp := RollbackResponse{Target: req.Target, FromVersion: f.targets[req.Target], ToVersion: to,
		Plan: []PlanStep{{Name: "lambda-alias", Description: "point alias live at " + to, Critical: true}}, Outcome: "planned"}
	if !req.PlanOnly {
		resp.IncidentID = "inc-" + req.Target
		resp.Outcome = "started"
	}
	return resp, nil
}

func (f *fakeController) SetOverride(ctx context.Context, o store.Override) (store.Override, error) {
	f.count("SetOverride")
	if err := f.known(o.Target); err != nil {
		return store.Override{}, err
	}
	if err := f.st.PutOverride(ctx, o); err != nil {
		return store.Override{}, err
	}
	return o, nil
}

func (f *fakeController) DeleteOverride(ctx context.Context, id string) error {
	f.count("DeleteOverride")
	return f.st.DeleteOverride(ctx, id)
}

// harness is a Server over a real bolt store, a fake clock, a fresh
// registry and an observed logger.
type harness struct {
	t     testing.TB
	srv   *Server
	http  *httptest.Server
	st    store.Store
	ctl   *fakeController
	clock *clockwork.FakeClock
	logs  *observer.ObservedLogs
	reg   *prometheus.Registry
	ready error
	mu    sync.Mutex
}

const testToken = "s3cr3t-t0ken-9f8e7d6c"

var testNow = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func newHarness(t testing.TB, mod ...func(*Config)) *harness {
	t.Helper()
	clock := clockwork.NewFakeClockAt(testNow)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{Clock: clock})
	if err != nil {
		t.Fatalf("open bolt store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{t: t, st: st, clock: clock, logs: logs, reg: prometheus.NewRegistry()}
	h.ctl = newFakeController(st, clock)
	ids := 0
	cfg := Config{
		Controller: h.ctl, Store: st, Token: config.NewSecret(testToken), Registry: h.reg,
		Ready: func() error {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.ready
		},
		Clock: clock, Logger: zap.New(core),
		NewID: func() string { ids++; return "ov-" + strconv.Itoa(ids) },
	}
	for _, m := range mod {
		m(&cfg)
	}
	h.srv = New(cfg)
	h.http = httptest.NewServer(h.srv.Handler())
	t.Cleanup(h.http.Close)
	return h
}

func (h *harness) setReady(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = err
}

func (h *harness) client(token string) *Client {
	return NewClient(h.http.URL, token, h.http.Client())
}

// overrides reads the overrides straight from the store.
func (h *harness) overrides() []store.Override {
	h.t.Helper()
	os, err := h.st.ListOverrides(context.Background())
	if err != nil {
		h.t.Fatalf("list overrides: %v", err)
	}
	return os
}

func (h *harness) watches() []store.Watch {
	h.t.Helper()
	ws, err := h.st.ListWatches(context.Background(), store.WatchFilter{})
	if err != nil {
		h.t.Fatalf("list watches: %v", err)
	}
	return ws
}

var errNotReady = errors.New("store unreachable: dial tcp 127.0.0.1:6379: connection refused")

// do sends a raw request with an optional bearer token.
func (h *harness) do(method, path, body, token string) *http.Response {
	h.t.Helper()
	req := httptestRequest(h.t, method, h.http.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}
