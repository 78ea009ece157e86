package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

const rolloutSteps = `
  [target.rollout]
  steps = [{ weight = 10, hold = "2m" }, { weight = 50, hold = "2m" }, { weight = 100 }]
`

// weightsSeen lists the traffic steps canaryd made, from the simulator's
// UpdateAlias log: "10", "50", then "100" for the alias on the new version.
func weightsSeen(h *harness, version string) []string {
	var out []string
	for _, c := range h.sim.Calls("UpdateAlias") {
		if c.Err != "" {
			continue
		}
		if c.Params["FunctionVersion"] == version {
			out = append(out, "100")
			continue
		}
		if w, ok := c.Params["AdditionalVersionWeights"].(map[string]float64); ok && w[version] > 0 {
			out = append(out, fmt.Sprint(w[version]*100))
		}
	}
	return out
}

// TestGoodRolloutStepsTo100: 10 % → 50 % → 100 %, each step judged for its
// hold, then promoted; every shift conditional on the alias as canaryd left
// it.
func TestGoodRolloutStepsTo100(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: compareErrorsRule + rolloutSteps})
	h.withTraffic(trafficByVersion)
	h.deployGood()
	res, err := h.d.Controller().StartRollout(h.ctx, "api", "4")
	if err != nil || res.WatchID == "" {
		t.Fatalf("start rollout: %+v %v", res, err)
	}
	h.until("4 promoted by its rollout", 300, func() bool { return h.target().KnownGood == "4" })
	if got := fmt.Sprint(weightsSeen(h, "4")); got != "[10 50 100]" {
		t.Fatalf("traffic steps %s, want [10 50 100]", got)
	}
	if v, weights, _ := h.sim.Alias(fn, alias); v != "4" || len(weights) != 0 {
		t.Fatalf("alias %s %v", v, weights)
	}
	w, err := h.store.GetWatch(h.ctx, res.WatchID)
	if err != nil || w.Phase != store.PhasePromoted || w.Source != "rollout" {
		t.Fatalf("watch %+v %v", w, err)
	}
}

// TestBadRolloutStopsAt10: version 3 errors at 20 % of its invocations; the
// first step judges it against known-good per version and trips: the weight
// goes back to 0 and the alias never served 3 to more than 10 %.
func TestBadRolloutStopsAt10(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: compareErrorsRule + rolloutSteps})
	h.withTraffic(trafficByVersion)
	h.deployGood()
	h.setBad("3", false) // health stays green: only the canary's metrics show it
	if _, err := h.d.Controller().StartRollout(h.ctx, "api", "3"); err != nil {
		t.Fatal(err)
	}
	h.until("rollout of 3 rolled back", 300, func() bool { return h.incident().Outcome != "" })
	if inc := h.incident(); inc.Outcome != store.OutcomeRolledBack || inc.FromVersion != "3" || inc.ToVersion != "2" {
		t.Fatalf("incident %+v", inc)
	}
	if got := fmt.Sprint(weightsSeen(h, "3")); got != "[10]" {
		t.Fatalf("traffic steps %s, want [10] only", got)
	}
	if v, weights, _ := h.sim.Alias(fn, alias); v != "2" || len(weights) != 0 {
		t.Fatalf("alias %s %v, want 2 with no split", v, weights)
	}
}

// TestRolloutRefusedUnlessSettled: a rollout starts only from an alias on
// its known-good version alone, of a version that exists.
func TestRolloutRefusedUnlessSettled(t *testing.T) {
	h := newHarness(t, harnessOpts{extraTarget: rolloutSteps})
	h.deployGood()
	if _, err := h.d.Controller().StartRollout(h.ctx, "api", "2"); err == nil {
		t.Error("a rollout of the known-good version was accepted")
	}
	if _, err := h.d.Controller().StartRollout(h.ctx, "api", "99"); err == nil {
		t.Error("a rollout of a version that does not exist was accepted")
	}
	h.sim.Deploy(fn, alias, "2", map[string]float64{"3": 0.3})
	if _, err := h.d.Controller().StartRollout(h.ctx, "api", "4"); err == nil {
		t.Error("a rollout over a split alias was accepted")
	}
}

// TestRolloutSurvivesRestartAtEachStep: canaryd is killed (its work
// abandoned, its store closed) right after each traffic step is in place
// and started again over the same store: the rollout goes on from that
// step, never repeats or skips a shift, never leaves a stale weight, and
// ends promoted at 100 %.
func TestRolloutSurvivesRestartAtEachStep(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: compareErrorsRule + rolloutSteps})
	h.withTraffic(trafficByVersion)
	h.deployGood()
	if _, err := h.d.Controller().StartRollout(h.ctx, "api", "4"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2} {
		h.until(fmt.Sprintf("step %d in place", n), 300, func() bool { return len(weightsSeen(h, "4")) == n })
		h.stop()
		h.start(false)
	}
	h.until("4 promoted after two restarts", 300, func() bool { return h.target().KnownGood == "4" })
	if got := fmt.Sprint(weightsSeen(h, "4")); got != "[10 50 100]" {
		t.Fatalf("traffic steps %s across restarts, want [10 50 100]", got)
	}
	if v, weights, _ := h.sim.Alias(fn, alias); v != "4" || len(weights) != 0 {
		t.Fatalf("alias %s %v", v, weights)
	}
}

// TestBadRolloutKilledAtItsFirstStep: killed while version 3 takes 10 %,
// the restarted daemon judges the step, trips and sends the weight back
// to 0: the alias never served 3 to more than 10 %.
func TestBadRolloutKilledAtItsFirstStep(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: compareErrorsRule + rolloutSteps})
	h.withTraffic(trafficByVersion)
	h.deployGood()
	h.setBad("3", false)
	if _, err := h.d.Controller().StartRollout(h.ctx, "api", "3"); err != nil {
		t.Fatal(err)
	}
	h.until("10 % in place", 100, func() bool { return len(weightsSeen(h, "3")) == 1 })
	h.stop()
	h.start(false)
	h.until("rollout of 3 rolled back after the restart", 300, func() bool { return h.incident().Outcome != "" })
	if inc := h.incident(); inc.Outcome != store.OutcomeRolledBack || inc.FromVersion != "3" || inc.ToVersion != "2" {
		t.Fatalf("incident %+v", inc)
	}
	if got := fmt.Sprint(weightsSeen(h, "3")); got != "[10]" {
		t.Fatalf("traffic steps %s, want [10] only", got)
	}
	if v, weights, _ := h.sim.Alias(fn, alias); v != "2" || len(weights) != 0 {
		t.Fatalf("alias %s %v, want 2 with no split", v, weights)
	}
}

// TestGatedStepWaitsForPromote: a gate step holds after its hold until an
// operator's promote; then the rollout moves on.
func TestGatedStepWaitsForPromote(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: compareErrorsRule + `
  [target.rollout]
  steps = [{ weight = 10, hold = "1m", gate = true }, { weight = 100 }]
`})
	h.withTraffic(trafficByVersion)
	h.deployGood()
	if _, err := h.d.Controller().StartRollout(h.ctx, "api", "4"); err != nil {
		t.Fatal(err)
	}
	h.until("10 % in place", 100, func() bool { return len(weightsSeen(h, "4")) == 1 })
	for i := 0; i < 150; i++ { // 5 minutes: well past the hold
		h.step(2 * time.Second)
	}
	if got := fmt.Sprint(weightsSeen(h, "4")); got != "[10]" {
		t.Fatalf("a gated step moved on by itself: %s", got)
	}
	now := h.clk.Now()
	if _, err := h.d.Controller().SetOverride(h.ctx, store.Override{ID: "go", Target: "api", Kind: store.OverridePromote,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), Reason: "looks fine", Actor: "dana"}); err != nil {
		t.Fatal(err)
	}
	h.until("4 promoted after the gate", 100, func() bool { return h.target().KnownGood == "4" })
	if got := fmt.Sprint(weightsSeen(h, "4")); got != "[10 100]" {
		t.Fatalf("traffic steps %s, want [10 100]", got)
	}
}

// TestLambdaPostTrafficHookFailureRollsBack: at 100 % the post-traffic
// hook invokes a Lambda function (CodeDeploy's AfterAllowTraffic); it
// answers status Failed, so the rollout rolls back.
func TestLambdaPostTrafficHookFailureRollsBack(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: compareErrorsRule + `
  [target.rollout]
  steps = [{ weight = 10, hold = "1m" }, { weight = 100 }]
    [target.rollout.post_traffic.lambda]
    function = "smoke-tests"
`})
	var payloads []string
	h.sim.SetInvokeHandler("smoke-tests", func(payload []byte) ([]byte, string) {
		h.mu.Lock()
		payloads = append(payloads, string(payload))
		h.mu.Unlock()
		return []byte(`{"status":"Failed","reason":"checkout smoke test: 502"}`), ""
	})
	h.withTraffic(trafficByVersion)
	h.deployGood()
	if _, err := h.d.Controller().StartRollout(h.ctx, "api", "4"); err != nil {
		t.Fatal(err)
	}
	h.until("rollback after the post-traffic hook failed", 300, func() bool { return h.incident().Outcome != "" })
	if inc := h.incident(); inc.Outcome != store.OutcomeRolledBack || inc.FromVersion != "4" || inc.ToVersion != "2" {
		t.Fatalf("incident %+v", inc)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(payloads) != 1 || !strings.Contains(payloads[0], `"post_traffic"`) || !strings.Contains(payloads[0], `"new_version":"4"`) {
		t.Fatalf("hook invoked with %v", payloads)
	}
	if v, weights, _ := h.sim.Alias(fn, alias); v != "2" || len(weights) != 0 {
		t.Fatalf("alias %s %v, want 2", v, weights)
	}
}

// TestPipelineMovesTheAliasDuringARollout: a pipeline deploys version 5
// itself while canaryd rolls 4 out at 10 %: the rollout stops without
// touching the alias again (never clobber), and 5 is watched as a deploy.
func TestPipelineMovesTheAliasDuringARollout(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: compareErrorsRule + rolloutSteps})
	h.withTraffic(trafficByVersion)
	h.deployGood()
	res, err := h.d.Controller().StartRollout(h.ctx, "api", "4")
	if err != nil {
		t.Fatal(err)
	}
	h.until("10 % in place", 100, func() bool { return len(weightsSeen(h, "4")) == 1 })
	before := len(h.sim.Calls("UpdateAlias"))
	h.sim.Deploy(fn, alias, "5", nil)
	h.until("5 promoted", 300, func() bool { return h.target().KnownGood == "5" })
	if n := len(h.sim.Calls("UpdateAlias")) - before; n != 0 {
		t.Fatalf("canaryd changed the alias %d times after the pipeline moved it", n)
	}
	if w, err := h.store.GetWatch(h.ctx, res.WatchID); err != nil || w.Phase != store.PhaseSuperseded {
		t.Fatalf("rollout watch %+v %v, want superseded", w, err)
	}
	if v, weights, _ := h.sim.Alias(fn, alias); v != "5" || len(weights) != 0 {
		t.Fatalf("alias %s %v, want 5 as the pipeline left it", v, weights)
	}
}

// TestRolloutProbeBaselineSurvivesRestart: a rollout during an incident
// (the known-good already failing its health probe, the new version as
// well) only alerts, and still only alerts after canaryd restarts at its
// first step: the probe results from before the first weight are stored
// with the watch, and the restarted process, which never saw the
// known-good alone, judges with them instead of rolling back to an equally
// broken version.
func TestRolloutProbeBaselineSurvivesRestart(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: rolloutSteps})
	w2 := h.deployGood()
	h.until("version 2's rollback window over", 400, func() bool {
		w, err := h.store.GetWatch(h.ctx, w2.ID)
		return err == nil && w.Phase.Final()
	})
	h.setBad("2", true) // the incident: the known-good fails its probe
	h.setBad("4", true)
	for range 30 { // a minute of it before the rollout
		h.step(2 * time.Second)
	}
	res, err := h.d.Controller().StartRollout(h.ctx, "api", "4")
	if err != nil {
		t.Fatal(err)
	}
	h.until("10 % in place", 100, func() bool { return len(weightsSeen(h, "4")) == 1 })
	h.until("the first weight recorded", 50, func() bool {
		w, err := h.store.GetWatch(h.ctx, res.WatchID)
		return err == nil && w.Rollout != nil && !w.Rollout.TrafficAt.IsZero()
	})
	w, err := h.store.GetWatch(h.ctx, res.WatchID)
	if err != nil || w.ProbeBaseline == nil || len(w.ProbeBaseline.Failed) < 5 {
		t.Fatalf("the watch's record keeps probe baseline %+v (%v), want the known-good's failing results", w.ProbeBaseline, err)
	}
	h.stop()
	h.start(false)
	h.until("the alert", 100, func() bool {
		w, err := h.store.GetWatch(h.ctx, res.WatchID)
		return err == nil && !w.AlertOnlyAt.IsZero()
	})
	for range 30 {
		h.step(2 * time.Second)
	}
	if w, _ := h.store.GetWatch(h.ctx, res.WatchID); !strings.Contains(w.AlertOnlyWhy, "already failing") {
		t.Fatalf("alert-only because %q, want the known-good already failing", w.AlertOnlyWhy)
	}
	if inc := h.incident(); inc.ID != "" || len(weightsSeen(h, "4")) != 1 {
		t.Fatalf("rolled back (incident %+v) or moved on (steps %v) though the known-good was failing too", inc, weightsSeen(h, "4"))
	}
}
