package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

func TestGoodDeployIsPromoted(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	w := h.deployGood()
	if w.NewVersion != "2" || w.KnownGood != "1" || w.Phase != store.PhasePromoted {
		t.Fatalf("watch = %+v; want version 2 promoted over known-good 1", w)
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 0 {
		t.Fatalf("a good deploy caused %d UpdateAlias calls", n)
	}
	h.until("promoted alert", 10, func() bool { return slices.Contains(h.alertTypes(), "promoted") })
	if !slices.Contains(h.alertTypes(), "watch_started") {
		t.Errorf("alerts %v lack watch_started", h.alertTypes())
	}
}

func TestBadDeployIsRolledBackWithCachesCleared(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	rev := h.sim.Deploy(fn, alias, "3", nil)
	h.until("the incident to close", 80, func() bool { return h.incident().Outcome != "" })

	inc := h.incident()
	if inc.Outcome != "rolled_back" || inc.FromVersion != "3" || inc.ToVersion != "2" {
		t.Fatalf("incident = %+v; want rolled_back 3 -> 2", inc)
	}
	if v, weights, _ := h.sim.Alias(fn, alias); v != "2" || len(weights) != 0 {
		t.Fatalf("alias = %s %v; want 2 with no routing", v, weights)
	}
	calls := h.sim.Calls("UpdateAlias")
	if len(calls) != 1 {
		t.Fatalf("UpdateAlias calls = %d, want exactly 1", len(calls))
	}
	if got := calls[0].Params["RevisionId"]; got != rev {
		t.Errorf("UpdateAlias RevisionId = %v, want the observed %s", got, rev)
	}
	if n := len(h.sim.Invalidations(dist)); n != 1 {
		t.Errorf("invalidations = %d, want 1", n)
	}
	if left := h.redis.Keys(h.ctx, "api:resp:*").Val(); len(left) != 0 {
		t.Errorf("%d cache keys left", len(left))
	}
	if kept := h.redis.Keys(h.ctx, "session:*").Val(); len(kept) != 50 {
		t.Errorf("other keys = %d, want 50 untouched", len(kept))
	}
	w := h.latestWatch()
	if w.Phase != store.PhaseRolledBack || !strings.Contains(string(w.LastVerdict), "health-probe") {
		t.Errorf("watch phase %s, verdict %s", w.Phase, w.LastVerdict)
	}
	h.until("rollback_done alert", 10, func() bool { return slices.Contains(h.alertTypes(), "rollback_done") })
	if !slices.Contains(h.alertTypes(), "tripped") {
		t.Errorf("alerts %v lack tripped", h.alertTypes())
	}
	if h.target().KnownGood != "2" {
		t.Errorf("known-good = %q, want 2", h.target().KnownGood)
	}
}

func TestPauseOverrideAlertsOnlyUntilItExpires(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	now := h.clk.Now()
	c := h.d.Controller()
	if _, err := c.SetOverride(h.ctx, store.Override{ID: "p1", Target: "api", Kind: store.OverridePause,
		Reason: "investigating", Actor: "alice", CreatedAt: now, ExpiresAt: now.Add(3 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("alert-only", 40, func() bool { return slices.Contains(h.alertTypes(), "alert_only") })
	st, err := c.Status(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Targets[0].Paused || len(st.Targets[0].Overrides) != 1 {
		t.Fatalf("status does not show the pause: %+v", st.Targets[0])
	}
	if g := testutil.ToFloat64(h.d.metrics.Overrides.WithLabelValues("pause")); g != 1 {
		t.Errorf("canaryd_overrides_active{kind=pause} = %v during the pause", g)
	}
	if !alertMentions(h, "alert_only", "paused by alice") {
		t.Errorf("the alert-only alert does not say who paused and why")
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 0 {
		t.Fatalf("paused target had %d UpdateAlias calls", n)
	}
	if h.incident().ID != "" {
		t.Fatalf("paused target opened incident %+v", h.incident())
	}
	// The pause expires; the deploy is still failing: now it rolls back.
	h.until("rollback after expiry", 150, func() bool { return h.incident().Outcome == "rolled_back" })
	if !slices.Contains(h.alertTypes(), "override_expired") {
		t.Errorf("alerts %v lack override_expired", h.alertTypes())
	}
	if g := testutil.ToFloat64(h.d.metrics.Overrides.WithLabelValues("pause")); g != 0 {
		t.Errorf("canaryd_overrides_active{kind=pause} = %v after expiry", g)
	}
}

func TestForceRollbackAndMarkGood(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	c := h.d.Controller()
	// Version 4 is healthy; an operator marks it good before bake ends.
	h.sim.Deploy(fn, alias, "4", nil)
	h.until("watch of 4", 5, func() bool { return h.latestWatch().NewVersion == "4" })
	now := h.clk.Now() // the API stamps overrides when they arrive
	if _, err := c.SetOverride(h.ctx, store.Override{ID: "m1", Target: "api", Kind: store.OverrideMarkGood,
		Reason: "verified by hand", Actor: "bob", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h.until("4 promoted by mark-good", 3, func() bool { return h.target().KnownGood == "4" })
	if w := h.latestWatch(); !strings.Contains(w.Reason, "marked good by bob") {
		t.Errorf("watch reason %q", w.Reason)
	}
	// Force a rollback of the promoted (still in its window) version 4.
	now = h.clk.Now()
	if _, err := c.SetOverride(h.ctx, store.Override{ID: "f1", Target: "api", Kind: store.OverrideForceRollback,
		Reason: "customer reports", Actor: "carol", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h.until("forced rollback", 80, func() bool { return h.incident().Outcome != "" })
	inc := h.incident()
	if inc.Outcome != "rolled_back" || inc.Trigger != "operator" || inc.Actor != "carol" || inc.ToVersion != "2" {
		t.Fatalf("incident = %+v", inc)
	}
	if v, _, _ := h.sim.Alias(fn, alias); v != "2" {
		t.Fatalf("alias = %s, want 2", v)
	}
	if ovs, _ := h.store.ListOverrides(h.ctx); len(ovs) != 0 {
		t.Errorf("one-shot overrides not consumed: %+v", ovs)
	}
}

func TestNoKnownGoodAlertsOnly(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	// Announce version 3 before canaryd ever saw the alias: nothing is
	// known to be good, so a failing verdict can only alert (promise 1).
	h.sim.Deploy(fn, alias, "3", nil)
	if _, err := h.d.Controller().AnnounceDeploy(h.ctx, "api", "3"); err != nil {
		t.Fatal(err)
	}
	h.until("alert-only", 40, func() bool { return slices.Contains(h.alertTypes(), "alert_only") })
	if n := len(h.sim.Calls("UpdateAlias")); n != 0 {
		t.Fatalf("%d UpdateAlias calls with no known-good version", n)
	}
}

func TestRestartMidWatchResumes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.until("version 1 adopted", 5, func() bool { return h.target().KnownGood == "1" })
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("watch of 3", 5, func() bool { return h.latestWatch().NewVersion == "3" })
	h.stop()
	h.start(false)
	h.until("rollback after restart", 80, func() bool { return h.incident().Outcome == "rolled_back" })
	if v, _, _ := h.sim.Alias(fn, alias); v != "1" {
		t.Fatalf("alias = %s, want 1", v)
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 1 {
		t.Fatalf("UpdateAlias calls = %d, want 1", n)
	}
}

func TestDryRunJournalsWithoutActing(t *testing.T) {
	h := newHarness(t, harnessOpts{dryRun: true})
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("dry-run incident", 40, func() bool { return h.incident().Outcome != "" })
	if inc := h.incident(); inc.Outcome != "not_executed" {
		t.Fatalf("incident outcome %q, want not_executed", inc.Outcome)
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 0 {
		t.Fatalf("dry-run made %d UpdateAlias calls", n)
	}
	if n := len(h.redis.Keys(h.ctx, "api:resp:*").Val()); n != 50 {
		t.Fatalf("dry-run removed cache keys: %d left", n)
	}
	j, _ := h.store.Journal(h.ctx, h.incident().ID)
	if len(j) == 0 || j[0].Status != store.StepNotExecuted {
		t.Fatalf("journal %+v", j)
	}
}

// TestFailedWhilePausedIsNotPromotedAlone: a version that failed while
// paused and then looks healthy waits for an operator instead of becoming
// known-good by itself.
func TestFailedWhilePausedIsNotPromotedAlone(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	now := h.clk.Now()
	if _, err := h.d.Controller().SetOverride(h.ctx, store.Override{ID: "p", Target: "api", Kind: store.OverridePause,
		Reason: "load test", Actor: "dan", CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("alert-only", 40, func() bool { return slices.Contains(h.alertTypes(), "alert_only") })
	h.setBad("3", false) // it recovers
	for i := 0; i < 120; i++ {
		h.step(2 * time.Second)
	}
	if kg := h.target().KnownGood; kg != "2" {
		t.Fatalf("known-good became %s; a version that failed must wait for mark-good", kg)
	}
	evs, _ := h.store.Events(h.ctx, store.EventFilter{WatchID: h.latestWatch().ID})
	held := false
	for _, e := range evs {
		held = held || e.Type == "promotion_held"
	}
	if !held {
		t.Fatal("no promotion_held event")
	}
}

// TestTripInsideRollbackWindow: protection does not end at promotion; a
// promoted version that goes bad inside its rollback window is rolled back
// to the version before it.
func TestTripInsideRollbackWindow(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	h.setBad("2", true) // the first traffic peak finds the bug
	h.until("rollback of promoted 2", 80, func() bool { return h.incident().Outcome != "" })
	inc := h.incident()
	if inc.Outcome != "rolled_back" || inc.FromVersion != "2" || inc.ToVersion != "1" {
		t.Fatalf("incident %+v; want 2 rolled back to 1", inc)
	}
	if v, _, _ := h.sim.Alias(fn, alias); v != "1" {
		t.Fatalf("alias = %s, want 1", v)
	}
}

// TestUnreachableTargetDoesNotAffectOthers: one target's alias cannot be
// read (its function is gone / its account refuses); the other target is
// still protected.
func TestUnreachableTargetDoesNotAffectOthers(t *testing.T) {
	h := newHarness(t, harnessOpts{extraTarget: `
[[target]]
name = "ghost"
function = "no-such-function"
alias = "live"
  [[target.rule]]
  name = "r"
  kind = "throttles"
  threshold = 5
`})
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("rollback of api", 80, func() bool { return h.incident().Outcome == "rolled_back" })
	if _, err := h.store.GetTarget(h.ctx, "ghost"); err == nil {
		t.Fatal("ghost target has state though its alias was never readable")
	}
}

// TestReloadKeepsWatchesInProgress: a config reload (SIGHUP) in the middle
// of a bad deploy's watch keeps its samples: the consecutive failures seen
// before the reload still count after it.
func TestReloadKeepsWatchesInProgress(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("two failing probes", 40, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return !h.firstFail.IsZero() && h.clk.Now().Sub(h.firstFail) >= 5*time.Second
	})
	w := h.latestWatch()
	_, ts, _ := h.d.snapshot()
	before := ts["api"].Memory.Samples(w.ID)
	next := *h.conf
	next.Targets = append([]config.Target(nil), h.conf.Targets...)
	next.Targets[0].BakeTime.Duration = 2 * time.Minute
	if err := h.d.Reload(&next); err != nil {
		t.Fatal(err)
	}
	_, ts, _ = h.d.snapshot()
	after := ts["api"].Memory.Samples(w.ID)
	if after != before || before == 0 {
		t.Fatalf("samples before reload %d, after %d", before, after)
	}
	h.until("rollback after reload", 40, func() bool { return h.incident().Outcome == "rolled_back" })
	if h.latestWatch().ID != w.ID {
		t.Fatal("the reload restarted the watch")
	}
}

// alertMentions reports whether an alert of type typ carried text.
func alertMentions(h *harness, typ, text string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.alerts {
		if fmt.Sprint(a["type"]) == typ && strings.Contains(fmt.Sprint(a), text) {
			return true
		}
	}
	return false
}

// TestInterruptedManualRollbackResumes: a crash in the middle of a manual
// rollback (incident opened, alias step only intended) is finished by the
// next start.
func TestInterruptedManualRollbackResumes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.deployGood()
	h.sim.Deploy(fn, alias, "4", nil)
	h.until("watch of 4", 5, func() bool { return h.latestWatch().NewVersion == "4" })
	inc := store.Incident{ID: "manual-api-20260302T100500Z", Target: "api", OpenedAt: h.clk.Now(),
		FromVersion: "4", ToVersion: "2", Trigger: "manual", Actor: "erin"}
	if err := h.store.CreateIncident(h.ctx, inc); err != nil {
		t.Fatal(err)
	}
	if err := h.store.AppendJournal(h.ctx, store.JournalEntry{PlanID: inc.ID, Target: "api", Step: 0, Name: "lambda-alias",
		Status: store.StepIntent, Time: h.clk.Now()}, store.Fence{}); err != nil {
		t.Fatal(err)
	}
	h.stop() // the crash
	h.start(false)
	h.until("manual rollback finished", 60, func() bool {
		got, err := h.store.GetIncident(h.ctx, inc.ID)
		return err == nil && got.Outcome != ""
	})
	got, _ := h.store.GetIncident(h.ctx, inc.ID)
	if got.Outcome != "rolled_back" {
		t.Fatalf("manual incident %+v", got)
	}
	if v, _, _ := h.sim.Alias(fn, alias); v != "2" {
		t.Fatalf("alias = %s, want 2", v)
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 1 {
		t.Fatalf("UpdateAlias calls = %d, want 1", n)
	}
}

// TestForceRollbackOfAllTargets: "*" rolls back every deploy under watch
// when it is set, and leaves deploys made after it alone.
func TestForceRollbackOfAllTargets(t *testing.T) {
	// known_bad = "watch": the redeploy of 4 is judged, not rolled back as
	// known-bad (TestKnownBadVersion), so the test sees the override alone.
	h := newHarness(t, harnessOpts{targetKeys: `known_bad = "watch"`})
	h.deployGood()
	h.sim.Deploy(fn, alias, "4", nil)
	h.until("watch of 4", 5, func() bool { return h.latestWatch().NewVersion == "4" })
	now := h.clk.Now()
	if _, err := h.d.Controller().SetOverride(h.ctx, store.Override{ID: "all", Target: "*", Kind: store.OverrideForceRollback,
		Reason: "region-wide incident", Actor: "frank", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h.until("forced rollback of 4", 80, func() bool { return h.incident().Outcome != "" })
	if inc := h.incident(); inc.Outcome != "rolled_back" || inc.FromVersion != "4" || inc.Actor != "frank" {
		t.Fatalf("incident %+v", inc)
	}
	first := h.incident().ID
	h.sim.Deploy(fn, alias, "4", nil) // redeployed after the override was set
	h.until("new watch of 4", 10, func() bool { w := h.latestWatch(); return w.NewVersion == "4" && w.Phase == store.PhaseBaking })
	for i := 0; i < 20; i++ {
		h.step(2 * time.Second)
	}
	if inc := h.incident(); inc.ID != first {
		t.Fatalf("the all-targets override rolled back a deploy made after it: %+v", inc)
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 1 {
		t.Fatalf("UpdateAlias calls = %d, want 1", n)
	}
}

// TestOneShotOverrideNeedsAWatchedDeploy: force rollback and mark good are
// decisions about the deploy under watch: refused when there is none, and
// never carried over to a later deploy.
func TestOneShotOverrideNeedsAWatchedDeploy(t *testing.T) {
	h := newHarness(t, harnessOpts{extraTarget: "", daemonTOML: ""})
	h.until("version 1 adopted", 5, func() bool { return h.target().KnownGood == "1" })
	now := h.clk.Now()
	_, err := h.d.Controller().SetOverride(h.ctx, store.Override{ID: "f", Target: "api", Kind: store.OverrideForceRollback,
		Reason: "x", Actor: "gina", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "no deploy of api is under watch") {
		t.Fatalf("force rollback with nothing watched: %v", err)
	}
	// One stored anyway (another replica, an old client) does not land on
	// the next deploy.
	if err := h.store.PutOverride(h.ctx, store.Override{ID: "stale", Target: "api", Kind: store.OverrideForceRollback,
		Reason: "x", Actor: "gina", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h.step(time.Second)
	h.sim.Deploy(fn, alias, "2", nil)
	h.until("2 promoted", 150, func() bool { return h.target().KnownGood == "2" })
	if n := len(h.sim.Calls("UpdateAlias")); n != 0 {
		t.Fatalf("an override set before the deploy rolled it back: %d UpdateAlias", n)
	}
}

// TestWarningsLogged: the keys a config loads without effect are logged
// with their file and line when the daemon starts and on each reload, as
// `canaryd check` prints them (the harness's probe rule still writes
// consecutive_failures, which the sequential probe test does not use).
func TestWarningsLogged(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	if len(h.conf.Warnings) == 0 {
		t.Fatal("the harness config has no warning to log")
	}
	w := h.conf.Warnings[0]
	core, logs := observer.New(zap.WarnLevel)
	h.d.log = zap.New(core)
	if err := h.d.Reload(h.conf); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("config: test.toml:%d: %s: ", w.Line, w.Path)
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Message)
		if strings.HasPrefix(e.Message, want) && strings.Contains(e.Message, "consecutive_failures") {
			return
		}
	}
	t.Fatalf("logged %q, want a line starting %q", got, want)
}
