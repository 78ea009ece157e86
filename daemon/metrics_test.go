package daemon

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/replay"
	"github.com/canaryd/canaryd/watch"
)

// errorRateRule judges one 1-minute period at a time, so the first
// breaching period is the deciding one.
const errorRateRule = `
  [[target.rule]]
  name = "error-rate"
  kind = "error_rate"
  threshold = 0.05
  window = "1m"
  min_samples = 1
  min_invocations = 100
`

// compareErrorsRule compares the new version's error count with
// known-good's (exact binomial test).
const compareErrorsRule = `
  [[target.rule]]
  name = "errors-vs-known-good"
  kind = "compare_errors"
  window = "2m"
  min_samples = 1
  min_invocations = 100
  confidence = 0.99
  min_effect = 0.5
`

// strictCompareErrors is compare_errors with its defaults at a 0.999
// confidence.
const strictCompareErrors = `
  [[target.rule]]
  name = "errors-vs-known-good"
  kind = "compare_errors"
  confidence = 0.999
`

// errorRates: 2,000 invocations a minute, each version failing its share
// of rates.
func errorRates(rates map[string]float64) func(string) awssim.Profile {
	return func(v string) awssim.Profile {
		p := awssim.HealthyProfile(int64(len(v)))
		p.InvocationsPerMin, p.ErrorRate = 2000, rates[v]
		return p
	}
}

// trafficByVersion: 1,000 invocations a minute; version 3 errors 50% (ten
// times the 5% threshold: enough for one period whatever bursts the
// baseline allows at it).
func trafficByVersion(v string) awssim.Profile {
	p := awssim.HealthyProfile(int64(len(v)))
	p.InvocationsPerMin, p.ErrorRate = 1000, 0.005
	if v == "3" {
		p.ErrorRate = 0.5
	}
	return p
}

// TestErrorRateTripsWithinOneMetricCycle: the health endpoint stays green,
// only CloudWatch shows version 3 failing; the alias must be reverted
// within one metric cycle of the first breaching period becoming readable.
func TestErrorRateTripsWithinOneMetricCycle(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: errorRateRule})
	h.setBad("3", false)
	h.withTraffic(trafficByVersion)
	h.deployGood()

	d3 := h.clk.Now().Truncate(time.Minute).Add(time.Minute)
	for h.clk.Now().Before(d3) {
		h.step(time.Second)
	}
	h.sim.Deploy(fn, alias, "3", nil)
	for n := 0; n < 400 && len(h.sim.Calls("UpdateAlias")) == 0; n++ {
		h.step(time.Second)
		h.waitPlansIdle(time.Now().Add(time.Second))
	}
	calls := h.sim.Calls("UpdateAlias")
	if len(calls) != 1 {
		t.Fatalf("UpdateAlias calls = %d, want 1", len(calls))
	}
	// The period in progress at the deploy counts too (under the null
	// hypothesis the mix of old and new traffic is no worse than
	// known-good): its 20% of failures among the new version's share is the
	// first breaching period.
	detected := h.latestWatch().DetectedAt
	readable := detected.Truncate(time.Minute).Add(time.Minute)
	lag := calls[0].Time.Sub(readable)
	if lag < 0 || lag > time.Minute+watch.MetricDelay {
		t.Fatalf("alias reverted %s after the first breaching period became readable; want within one metric cycle (%s)", lag, time.Minute+watch.MetricDelay)
	}
	h.until("incident closed", 100, func() bool { return h.incident().Outcome != "" })
	inc := h.incident()
	if !strings.Contains(string(inc.Verdict), "error-rate") || inc.ToVersion != "2" || inc.Outcome != "rolled_back" {
		t.Fatalf("incident %+v verdict %s", inc, inc.Verdict)
	}
	t.Logf("breaching period readable at %s, alias reverted %s later", readable.Format(time.TimeOnly), lag)
}

// TestCloudWatchThrottlingIsNotEvidence: CloudWatch throttles every call
// while version 2 bakes; the watchdog's blindness must not trip anything.
func TestCloudWatchThrottlingIsNotEvidence(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: strings.Replace(errorRateRule, `min_samples = 1`, `min_samples = 1
  missing_data = "breaching"`, 1)})
	h.traffic = trafficByVersion
	h.until("version 1 adopted", 5, func() bool { return h.target().KnownGood == "1" })
	h.sim.InjectFault(awssim.Fault{API: "GetMetricData", Kind: awssim.FaultThrottle, Rate: 1})
	h.sim.Deploy(fn, alias, "2", nil)
	for i := 0; i < 300; i++ {
		h.step(time.Second)
	}
	if n := len(h.sim.Calls("UpdateAlias")); n != 0 {
		t.Fatalf("throttled CloudWatch caused %d UpdateAlias calls", n)
	}
	if inc := h.incident(); inc.ID != "" {
		t.Fatalf("incident opened on throttling: %+v", inc)
	}
	st, _ := h.d.Controller().Status(h.ctx)
	if !strings.Contains(st.Targets[0].Error, "cloudwatch") {
		t.Errorf("status does not show the observation error: %+v", st.Targets[0])
	}
}

// TestRestartReadsBaselineAndBackfills: a relative latency rule needs the
// known-good baseline; after a restart in the middle of the watch the
// daemon reads it again (and the periods since the deploy) and trips.
func TestRestartReadsBaselineAndBackfills(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: `
  [[target.rule]]
  name = "p99-vs-baseline"
  kind = "latency"
  stat = "p99"
  baseline = "ratio"
  threshold = 2
  window = "1m"
  min_samples = 1
  breaches = 4
  of_windows = 4
`})
	h.setBad("3", false)
	slow := func(v string) awssim.Profile {
		p := trafficByVersion("1")
		if v == "3" {
			p.DurationMs = 900
		}
		return p
	}
	h.withTraffic(slow)
	h.deployGood()
	h.sim.Deploy(fn, alias, "3", nil)
	for i := 0; i < 150; i++ { // 5 minutes: four slow periods are readable
		h.step(2 * time.Second)
		if h.incident().ID != "" {
			t.Fatal("tripped before the restart; the test needs the restart in the middle")
		}
		if i == 100 {
			break
		}
	}
	h.stop()
	h.start(false)
	h.until("rollback after restart", 150, func() bool { return h.incident().Outcome == "rolled_back" })
	inc := h.incident()
	if !strings.Contains(string(inc.Verdict), "p99-vs-baseline") || !strings.Contains(string(inc.Verdict), `"baseline":`) {
		t.Fatalf("verdict %s", inc.Verdict)
	}
}

// TestCanaryComparedWithKnownGoodAndRoutingCleared: the alias sends 20% of
// the traffic to version 3 and 80% to known-good 2. Health (served by 2)
// stays green; the per-version error counts (ExecutedVersion) show 3 worse
// than 2 at the same time, the compare_errors rule trips, and the rollback
// clears the routing.
func TestCanaryComparedWithKnownGoodAndRoutingCleared(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: compareErrorsRule})
	h.withTraffic(trafficByVersion)
	h.deployGood()
	rev := h.sim.Deploy(fn, alias, "2", map[string]float64{"3": 0.2})
	h.until("canary rolled back", 200, func() bool { return h.incident().Outcome != "" })
	inc := h.incident()
	if inc.Outcome != "rolled_back" || inc.FromVersion != "3" || inc.ToVersion != "2" {
		t.Fatalf("incident %+v", inc)
	}
	if !strings.Contains(string(inc.Verdict), "errors-vs-known-good") || !strings.Contains(string(inc.Verdict), `"p_value"`) {
		t.Fatalf("verdict %s", inc.Verdict)
	}
	v, weights, _ := h.sim.Alias(fn, alias)
	if v != "2" || len(weights) != 0 {
		t.Fatalf("alias = %s %v, want 2 with routing cleared", v, weights)
	}
	calls := h.sim.Calls("UpdateAlias")
	if len(calls) != 1 || calls[0].Params["RevisionId"] != rev {
		t.Fatalf("UpdateAlias calls %+v, want one with RevisionId %s", calls, rev)
	}
}

// TestGoodCanaryIsNotRolledBack: the same split with a healthy version 4
// bakes and is promoted; noise in per-version counts trips nothing.
func TestGoodCanaryIsNotRolledBack(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: compareErrorsRule})
	h.withTraffic(trafficByVersion)
	h.deployGood()
	h.sim.Deploy(fn, alias, "2", map[string]float64{"4": 0.2})
	h.until("canary 4 promoted", 200, func() bool { return h.target().KnownGood == "4" })
	if n := len(h.sim.Calls("UpdateAlias")); n != 0 || h.incident().ID != "" {
		t.Fatalf("a healthy canary caused %d UpdateAlias calls / incident %+v", n, h.incident())
	}
}

// TestDeployDuringIncidentAlertsInstead: the known-good version was already
// failing before the deploy; rolling back to it would not help, so the
// daemon alerts and leaves the alias alone.
func TestDeployDuringIncidentAlertsInstead(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, extraTarget: errorRateRule})
	bad := func(string) awssim.Profile { p := trafficByVersion("1"); p.ErrorRate = 0.2; return p }
	h.withTraffic(bad)
	h.setBad("3", false)
	h.until("version 1 adopted", 5, func() bool { return h.target().KnownGood == "1" })
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("alert-only", 200, func() bool { return slices.Contains(h.alertTypes(), "alert_only") })
	if n := len(h.sim.Calls("UpdateAlias")); n != 0 || h.incident().ID != "" {
		t.Fatalf("rolled back to a version that was already failing: %d UpdateAlias, incident %+v", n, h.incident())
	}
	if !alertMentions(h, "alert_only", "already failing") {
		t.Errorf("the alert does not say the known-good version was already failing")
	}
}

// TestBaselineLeavesOutTheVersionBeforeTheKnownGood: version 1 failed 5%
// of its invocations for the hour before 2 was deployed, 2 fails 0.5% and
// is promoted, and 3, deployed eight minutes after 2, fails 1.5%: three
// times the known-good, but less than the 30-minute window's average had
// it taken in 1's minutes. The baseline starts when 2 was first seen
// serving alone, so 3 is rolled back.
func TestBaselineLeavesOutTheVersionBeforeTheKnownGood(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, targetKeys: `baseline_window = "30m"`, daemonTOML: fmt.Sprintf("trace_dir = %q", t.TempDir()), extraTarget: strictCompareErrors})
	h.setBad("3", false)
	h.withTraffic(errorRates(map[string]float64{"1": 0.05, "2": 0.005, "3": 0.015}))
	w2 := h.deployGood()
	h.stepUntil(w2.DetectedAt.Add(8 * time.Minute))
	h.sim.Deploy(fn, alias, "3", nil)
	// One-second ticks from here, as the daemon's run loop: the trace's
	// replay runs on that grid.
	for i := 0; h.incident().Outcome == ""; i++ {
		if i == 800 {
			t.Fatal("3 not rolled back in 800 s")
		}
		h.step(time.Second)
	}
	w3 := h.latestWatch()
	if w3.NewVersion != "3" || w3.BaselineSince.IsZero() || w3.BaselineSince.Before(w2.DetectedAt) {
		t.Fatalf("watch(3): new %s, baseline from %v; want 3, from 2's first sight alone (deployed %v)", w3.NewVersion, w3.BaselineSince, w2.DetectedAt)
	}
	inc := h.incident()
	if inc.Outcome != "rolled_back" || inc.FromVersion != "3" || inc.ToVersion != "2" || !strings.Contains(string(inc.Verdict), "errors-vs-known-good") {
		t.Fatalf("incident %+v, verdict %s", inc, inc.Verdict)
	}
	// The trace says since when 2 served alone, and replays to the trip;
	// without the time it would not have rolled 3 back.
	data := h.recordedTrace(w3)
	tr, err := replay.Parse(bytes.NewReader(data), time.Minute)
	if err != nil || !tr.Deploy.BaselineSince.Equal(w3.BaselineSince) {
		t.Fatalf("trace deploy %+v (%v), want baseline_since %v", tr.Deploy, err, w3.BaselineSince)
	}
	res, err := replay.Run(h.ctx, bytes.NewReader(data), h.conf.Targets[0], replay.Options{})
	if err != nil || res.Outcome != replay.RolledBack || !res.DecidedAt.Equal(inc.OpenedAt) {
		t.Fatalf("the recorded trace replays to %s at %v (%v), the daemon tripped at %v", res.Outcome, res.DecidedAt, err, inc.OpenedAt)
	}
	plain := regexp.MustCompile(`,"baseline_since":"[^"]*"`).ReplaceAll(data, nil)
	if res, err := replay.Run(h.ctx, bytes.NewReader(plain), h.conf.Targets[0], replay.Options{}); err != nil || res.Outcome == replay.RolledBack {
		t.Fatalf("without baseline_since the trace replays to %s (%v): the test no longer shows what the time does", res.Outcome, err)
	}
}

// TestHealthFixThenBadDeployRollsBack: version 1 fails its health check,
// 2 fixes it and is promoted, and 3, deployed three minutes later, fails
// it again. Judged with 1's failures as the known-good's, 3 would look
// like a deploy during an incident (alert only, policy's
// TestBaselineSinceProbes). They are not: the probe memory keeps no result
// from before 2 settled, and the policy drops those from before 2 served
// alone (baseline_since). 3 is rolled back.
func TestHealthFixThenBadDeployRollsBack(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true})
	h.setBad("1", true)
	h.setBad("3", true)
	w2 := h.deployGood()
	h.stepUntil(w2.DetectedAt.Add(3 * time.Minute))
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("3 rolled back", 200, func() bool { return h.incident().Outcome != "" })
	if inc := h.incident(); inc.Outcome != "rolled_back" || inc.FromVersion != "3" || inc.ToVersion != "2" {
		t.Fatalf("incident %+v; alerts %v", inc, h.alertTypes())
	}
}

// TestFixThatDidNotFixRollsBack: 2 is the known-good at 0.5 % errors; 3,
// at 10 %, is rolled back; 4, the fix, deployed ten minutes later, still
// fails 1.5 %: three times the known-good. The baseline window holds 3's
// minutes of 10 %, which would lift the known-good's rate past 4's; the
// watch of 4 knows since when 2 served alone again (canaryd's own
// rollback), so its rates are 2's own and 4 is rolled back too.
func TestFixThatDidNotFixRollsBack(t *testing.T) {
	h := newHarness(t, harnessOpts{hideFuture: true, targetKeys: `baseline_window = "20m"`, extraTarget: strictCompareErrors})
	h.setBad("3", false)
	h.setBad("4", false)
	h.withTraffic(errorRates(map[string]float64{"1": 0.005, "2": 0.005, "3": 0.1, "4": 0.015}))
	h.deployGood()
	h.stepUntil(h.clk.Now().Add(15 * time.Minute))
	h.sim.Deploy(fn, alias, "3", nil)
	h.until("3 rolled back", 400, func() bool { return h.incident().Outcome == "rolled_back" })
	back := h.incident()
	h.stepUntil(h.clk.Now().Add(10 * time.Minute))
	h.sim.Deploy(fn, alias, "4", nil)
	h.until("4 rolled back", 400, func() bool { inc := h.incident(); return inc.FromVersion == "4" && inc.Outcome != "" })
	w4 := h.latestWatch()
	if w4.NewVersion != "4" || w4.KnownGood != "2" || w4.BaselineSince.Before(back.OpenedAt) {
		t.Fatalf("watch(4): new %s, known-good %s, baseline since %v; want 4 against 2, since 2 served alone after 3's rollback (tripped %v)",
			w4.NewVersion, w4.KnownGood, w4.BaselineSince, back.OpenedAt)
	}
	if inc := h.incident(); inc.Outcome != "rolled_back" || inc.ToVersion != "2" {
		t.Fatalf("incident %+v, verdict %s", inc, inc.Verdict)
	}
}
