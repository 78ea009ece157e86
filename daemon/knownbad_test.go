package daemon

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/store"
)

// TestKnownBadVersion: version 3 is rolled back; deployed again while its
// health is green (a pipeline retry), it is rolled back at once with the
// incident named, and a rollout of it is refused; once an operator marks
// it good by version, it is judged like any other and promoted.
func TestKnownBadVersion(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: rolloutSteps})
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("first rollback of 3", 150, func() bool { return h.incident().Outcome == store.OutcomeRolledBack })
	first := h.incident()

	h.setBad("3", false) // healthy now: only its history condemns it
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("second rollback of 3", 20, func() bool { inc := h.incident(); return inc.ID != first.ID && inc.Outcome != "" })
	second := h.incident()
	if second.Outcome != store.OutcomeRolledBack || second.FromVersion != "3" || second.ToVersion != "2" {
		t.Fatalf("redeploy of 3: incident %+v", second)
	}
	if !strings.Contains(string(second.Verdict), "known-bad") || !strings.Contains(string(second.Verdict), first.ID) {
		t.Fatalf("the second rollback does not name the first incident: %s", second.Verdict)
	}
	if d := second.OpenedAt.Sub(h.latestWatch().DetectedAt); d > 2e9 {
		t.Fatalf("known-bad redeploy tripped %s after it was seen; want at once", d)
	}

	_, err := h.d.Controller().StartRollout(h.ctx, "api", "3")
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), first.ID) && !strings.Contains(err.Error(), second.ID) {
		t.Fatalf("rollout of known-bad 3: %v; want a conflict naming its incident", err)
	}

	now := h.clk.Now()
	if _, err := h.d.Controller().SetOverride(h.ctx, store.Override{ID: "ov-mark-3", Target: "api", Kind: store.OverrideMarkGood,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), Reason: "fixed config, not code", Actor: "alice", Version: "3"}); err != nil {
		t.Fatal(err)
	}
	h.until("incidents of 3 cleared", 5, func() bool {
		incs, _ := h.store.ListIncidents(h.ctx, "api", 0)
		for _, in := range incs {
			if in.FromVersion == "3" && in.ClearedAt.IsZero() {
				return false
			}
		}
		return true
	})
	if ovs, _ := h.store.ListOverrides(h.ctx); len(ovs) != 0 {
		t.Fatalf("mark-good by version not used up: %+v", ovs)
	}
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("3 promoted once cleared", 150, func() bool { return h.target().KnownGood == "3" })
}

// TestKnownBadWatchPolicy: with known_bad = "watch" a redeploy of a
// rolled-back version is judged on its evidence.
func TestKnownBadWatchPolicy(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, targetKeys: `known_bad = "watch"`})
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("rollback of 3", 150, func() bool { return h.incident().Outcome == store.OutcomeRolledBack })
	h.setBad("3", false)
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("3 promoted", 150, func() bool { return h.target().KnownGood == "3" })
}
