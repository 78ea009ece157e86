package chaos

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
)

// Experiments 4 and 6: calls that hang — a black-holed connection, a
// service that accepts and never answers — during a bake or a rollback.
// None of them may strand a target: the trip, the rollback and its pages
// go on as they would without the hang.

// rollbackBound is how long an automatic rollback of the world's plan may
// take from its trip to its incident's close when nothing it calls hangs:
// the alias, the invalidation, the cache, the hooks, and the verify
// window (3 s), with room for a loaded machine.
const rollbackBound = 15 * time.Second

// TestHungMetricReadDuringBake hangs every CloudWatch GetMetricData call
// for minutes (canaryd's read_timeout, 5 s, cuts each off) from before a
// deploy on. The world's only rule is the probe rule: the probes are the
// evidence canaryd reads, so a failing version trips on them as fast as
// without the hang, and a good version is promoted on them after its bake
// — evidence it did read (policy: a zero-traffic target promotes on its
// probes alone; the CloudWatch reads — the watch's baseline, and a metric
// cycle when a minute ends during the bake — feed no rule here). A metric rule that CloudWatch left blind
// (no period delivered, or its newest a source error) holds promotion
// instead (policy/stat.go, blocked), which a trial cannot show in seconds:
// metric periods are a minute at least.
func TestHungMetricReadDuringBake(t *testing.T) {
	t.Parallel()
	for _, bad := range []bool{true, false} {
		name := map[bool]string{false: "good version", true: "bad version"}[bad]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exp := "4 aws/hung GetMetricData during bake, " + name
			runTrials(t, exp, *flagM, func(tr *trial) {
				w := newWorld(tr, worldOpts{})
				before := w.sim.CallCount("GetMetricData") // the first sighting's, answered
				w.sim.InjectFault(awssim.Fault{API: "GetMetricData", Kind: awssim.FaultLatency, Rate: 1, Latency: 3 * time.Minute})
				w.health.setBad(fnShop, "2", bad)
				deployed := time.Now()
				w.deploy(fnShop, "2")
				if bad {
					hungBadBake(tr, w, exp)
				} else {
					hungGoodBake(tr, w, exp, deployed)
				}
				if n := w.sim.CallCount("GetMetricData") - before; n == 0 {
					tr.Errorf("no GetMetricData call was made: the hang hurt nothing")
				} else {
					count(exp, "GetMetricData calls hung", n)
				}
			})
		})
	}
}

// hungBadBake: the failing version trips within tripBound of its first
// failing probe, /readyz passes, and the rollback ends in its usual time.
func hungBadBake(tr *trial, w *world, exp string) {
	id := w.waitIncident(fnShop, "")
	inc := w.incident(fnShop, id)
	first := w.health.firstFailure(fnShop)
	took := inc.OpenedAt.Sub(first)
	measure(exp, "first failed probe to trip", took)
	if first.IsZero() || took > tripBound {
		tr.Errorf("invariant: the trip came %s after the first failed probe (at %s) with GetMetricData hung (bound %s)",
			took, first.Format(time.RFC3339Nano), tripBound)
	}
	if !w.replicas[0].ready(context.Background()) {
		tr.Errorf("invariant: /readyz fails while GetMetricData hangs")
	}
	closed := w.waitClosed(fnShop, id, 30*time.Second)
	measure(exp, "trip to close", closed.ClosedAt.Sub(closed.OpenedAt))
	if d := closed.ClosedAt.Sub(closed.OpenedAt); d > rollbackBound {
		tr.Errorf("invariant: the rollback took %s with GetMetricData hung (bound %s)", d, rollbackBound)
	}
	w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
}

// hungGoodBake: the good version is promoted after its bake on the probe
// rule's evidence, as without the hang, while the watch's CloudWatch
// baseline read hangs and fails.
func hungGoodBake(tr *trial, w *world, exp string, deployed time.Time) {
	w.eventually("good 2 promoted", 30*time.Second, func() bool { return w.knownGood(fnShop) == "2" })
	took := time.Since(deployed)
	measure(exp, "deploy to promotion", took)
	if took > tripBound {
		tr.Errorf("invariant: promotion took %s with GetMetricData hung (bound %s)", took, tripBound)
	}
	var msg string
	w.eventually("the promoted page", 20*time.Second, func() bool {
		for _, a := range w.alerts.all() {
			if a.Type == event.Promoted && a.NewVersion == "2" {
				msg = a.Message
				return true
			}
		}
		return false
	})
	// The world's one rule, the probe rule, vouched: on probe results.
	if !strings.Contains(msg, "1 of 1 rules vouch") {
		tr.Errorf("invariant: promoted on other evidence than its probe rule's: %q", msg)
	}
	w.waitFor("the watch's CloudWatch baseline read to fail", 20*time.Second, func() bool {
		return strings.Contains(w.replicas[0].logs.String(), "baseline read failed")
	})
	if !w.replicas[0].ready(context.Background()) {
		tr.Errorf("invariant: /readyz fails while GetMetricData hangs")
	}
	w.finish(expect{fn: fnShop, good: "2", reverts: 0, incidents: 0})
}

// TestHungInvalidationDuringRollback hangs the rollback's CloudFront
// CreateInvalidation past action_timeout. Each hung call is applied when
// canaryd gives up on it, as AWS may apply a call whose answer was lost;
// the step's CallerReference makes every later one return that same
// invalidation. Either the hang ends within the step's retries (1–3 calls
// hang: the step is done, retried) or it lasts (every call hangs; retry_for
// 1 s, so the step's rounds give up within seconds, not NonCriticalRetryFor's
// 2 minutes): the step fails, and a failed non-critical step does not fail
// the rollback (README, "It is not critical"): the rest of the plan runs
// and the incident closes rolled_back, its page resolved, the failed step
// named in the page's actions.
func TestHungInvalidationDuringRollback(t *testing.T) {
	t.Parallel()
	for _, lasts := range []bool{false, true} {
		name := map[bool]string{false: "hang ends", true: "hangs throughout"}[lasts]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exp := "4 aws/hung CreateInvalidation during rollback, " + name
			runTrials(t, exp, *flagM, func(tr *trial) {
				o := worldOpts{actionTO: "2s"}
				f := awssim.Fault{API: "CreateInvalidation", Kind: awssim.FaultLatency, Latency: 2 * time.Minute,
					Match: map[string]string{"DistributionId": "E" + strings.ToUpper(fnShop)}}
				if lasts {
					o = worldOpts{actionTO: "1s", retryFor: "1s"}
					f.Rate = 1
				} else {
					f.Count = 1 + tr.rng.Intn(3)
					tr.note(fmt.Sprintf("%d calls hung", f.Count))
				}
				w := newWorld(tr, o)
				w.sim.InjectFault(f)
				w.health.setBad(fnShop, "2", true)
				w.deploy(fnShop, "2")
				id := w.waitIncident(fnShop, "")
				inc := w.waitClosed(fnShop, id, 60*time.Second)
				measure(exp, "trip to close", inc.ClosedAt.Sub(inc.OpenedAt))
				w.checkCloudFrontStep(id, lasts)
				if n := w.sim.CallCount("CreateInvalidation"); n < 2 {
					tr.Errorf("%d CreateInvalidation calls: the hung one was never retried", n)
				} else {
					count(exp, "CreateInvalidation calls", n)
				}
				w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
			})
		})
	}
}

// checkCloudFrontStep: the incident's journal ends its cloudfront step
// done (the hang ended) or failed with its error (it lasted); every other
// step is done; the rollback_done page lists the step as it ended.
func (w *world) checkCloudFrontStep(id string, failed bool) {
	w.t.Helper()
	js, err := w.view.Journal(context.Background(), id)
	if err != nil {
		w.t.Errorf("journal of %s: %v", id, err)
		return
	}
	last := map[string]store.JournalEntry{}
	for _, j := range js {
		last[j.Name] = j
	}
	want := store.StepDone
	if failed {
		want = store.StepFailed
	}
	cf := false
	for name, j := range last {
		switch {
		case strings.HasPrefix(name, "cloudfront:"):
			cf = true
			if j.Status != want || failed && j.Error == "" {
				w.t.Errorf("invariant: step %s ended %s (%q), want %s", name, j.Status, j.Error, want)
			}
		case j.Status != store.StepDone:
			w.t.Errorf("invariant: step %s ended %s (%q) after a hung invalidation, want done", name, j.Status, j.Error)
		}
	}
	if !cf {
		w.t.Errorf("invariant: no cloudfront step in the journal of %s", id)
	}
	w.eventually("the rollback_done page", 30*time.Second, func() bool { return w.alerts.has(string(event.RollbackDone), id) })
	for _, a := range w.alerts.all() {
		if a.Type != event.RollbackDone || a.IncidentID != id {
			continue
		}
		for _, act := range a.Actions {
			if strings.HasPrefix(act.Name, "cloudfront:") && act.Status != string(want) {
				w.t.Errorf("invariant: the page says step %s %s, want %s", act.Name, act.Status, want)
			}
		}
	}
}

// TestHungPagerDuringRollback makes the pager's receiver accept every
// request and answer none from before a deploy until 0–4 s after its
// rollback ends. Pages must never block the plan: the rollback ends in its
// usual time; once the receiver answers again every page arrives, each
// kind of page of the incident once, under its dedup id, the trigger
// before its resolve (PagerDuty drops a resolve it has no trigger for).
func TestHungPagerDuringRollback(t *testing.T) {
	t.Parallel()
	exp := "6 pager/hung during rollback"
	runTrials(t, exp, *flagM, func(tr *trial) {
		w := newWorld(tr, worldOpts{})
		w.alerts.hang()
		hungAt := time.Now()
		w.health.setBad(fnShop, "2", true)
		w.deploy(fnShop, "2")
		id := w.waitIncident(fnShop, "")
		inc := w.waitClosed(fnShop, id, 30*time.Second)
		took := inc.ClosedAt.Sub(inc.OpenedAt)
		measure(exp, "trip to close", took)
		if took > rollbackBound {
			tr.Errorf("invariant: the rollback took %s while the pager hung (bound %s)", took, rollbackBound)
		}
		if got := len(w.alerts.all()); got > 0 {
			tr.Errorf("the hung receiver took %d pages", got)
		}
		w.pause(time.Duration(tr.rng.Int63n(int64(4 * time.Second)))) // the rest of the outage, chosen at random
		w.alerts.resume()
		measure(exp, "pager hung", time.Since(hungAt))
		count(exp, "requests abandoned while hung", w.alerts.abandonedRequests())
		resumed := time.Now()
		w.waitFor("every page of the incident after the pager recovered", 30*time.Second, func() bool {
			return w.alerts.has(string(event.Tripped), id) && w.alerts.has(string(event.RollbackDone), id)
		})
		measure(exp, "recovery to last page", time.Since(resumed))
		w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
		for _, kind := range []event.Kind{event.Tripped, event.RollbackDone} {
			if n := w.alerts.delivered(kind, id); n != 1 {
				tr.Errorf("invariant: %s page of %s delivered %d times, want once", kind, id, n)
			}
		}
		if v := w.alerts.resolvedBeforeTrip(id); v != "" {
			tr.Errorf("invariant: %s", v)
		}
	})
}
