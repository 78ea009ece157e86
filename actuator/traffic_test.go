package actuator

import (
	"context"
	"errors"
	"testing"

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
