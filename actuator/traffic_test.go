package actuator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// TestShiftTrafficStepByStep: 10 %, 50 %, 100 % through the real SDK, each
// conditional on the revision the step before left; a repeated step (a
// crash before it was recorded) is found in place; an alias someone else
// moved is refused and left alone.
func TestShiftTrafficStepByStep(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	rev := e.sim.Deploy(fnName, aliasNm, "1", nil) // the rollout starts on known-good 1
	shift := func(w float64, rev string) (ShiftResult, error) {
		return e.act.ShiftTraffic(ctx, TrafficShift{Target: e.target(), NewVersion: "2", KnownGood: "1", Weight: w, Revision: rev}, store.Fence{})
	}
	for _, w := range []float64{0.1, 0.5} {
		res, err := shift(w, rev)
		if err != nil || res.Already {
			t.Fatalf("shift to %g: %+v %v", w, res, err)
		}
		v, weights, _ := e.sim.Alias(fnName, aliasNm)
		if v != "1" || weights["2"] != w || len(weights) != 1 || res.Weights["2"] != w {
			t.Fatalf("after %g: alias %s %v", w, v, weights)
		}
		rev = res.Revision
	}
	again, err := shift(0.5, "stale-revision")
	if err != nil || !again.Already || again.Revision != rev {
		t.Fatalf("the same step again: %+v %v", again, err)
	}
	res, err := shift(1, rev)
	if v, weights, _ := e.sim.Alias(fnName, aliasNm); err != nil || v != "2" || len(weights) != 0 || res.Weights != nil {
		t.Fatalf("100%%: alias %s %v (%+v %v)", v, weights, res, err)
	}
	// A pipeline deploys 3 meanwhile: the next shift must not touch it.
	e.sim.Deploy(fnName, aliasNm, "3", nil)
	calls := len(e.sim.Calls("UpdateAlias"))
	if _, err := shift(0.5, res.Revision); !errors.Is(err, ErrAliasMoved) {
		t.Fatalf("shift after another deploy: %v, want ErrAliasMoved", err)
	}
	if v, _, _ := e.sim.Alias(fnName, aliasNm); v != "3" || len(e.sim.Calls("UpdateAlias")) != calls {
		t.Fatalf("the alias was touched: %s", v)
	}
}

// TestTrafficHooks: a rollout's hook passes when it succeeds; the webhook
// is told which gate it is.
func TestTrafficHooks(t *testing.T) {
	e := newEnv(t, nil, nil)
	var got HookPayload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	t.Cleanup(srv.Close)
	in := TrafficHookInput{Target: e.target(), WatchID: "w1", NewVersion: "2", KnownGood: "1", Pre: true}
	ctx := context.Background()
	if ok, detail := e.act.RunTrafficHook(ctx, in, config.TrafficHook{Webhook: &config.WebhookHook{Name: "gate", URL: srv.URL, Timeout: config.Duration{Duration: time.Second}}}); !ok ||
		got.Event != TriggerPreTraffic || got.ToVersion != "2" || got.FromVersion != "1" {
		t.Fatalf("webhook: %v %s; payload %+v", ok, detail, got)
	}
	in.Pre = false
	if ok, _ := e.act.RunTrafficHook(ctx, in, config.TrafficHook{Exec: &config.ExecHook{Name: "smoke", Argv: []string{"/bin/true"}, Timeout: config.Duration{Duration: 5 * time.Second}}}); !ok {
		t.Fatal("/bin/true did not pass")
	}
	if ok, detail := e.act.RunTrafficHook(ctx, in, config.TrafficHook{Exec: &config.ExecHook{Name: "smoke", Argv: []string{"/bin/false"}, Timeout: config.Duration{Duration: 5 * time.Second}}}); ok || detail == "" {
		t.Fatalf("/bin/false passed (%s)", detail)
	}
}
