package watch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

var (
	t0  = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	now = t0.Add(12 * time.Minute)
)

// effectString renders effects compactly for the table.
func effectString(effs []Effect) string {
	var parts []string
	for _, e := range effs {
		switch e := e.(type) {
		case Save:
			parts = append(parts, "save")
		case Claim:
			parts = append(parts, "claim:"+e.Override.ID)
		case OpenIncident:
			parts = append(parts, "open:"+e.Incident.ToVersion)
		case CloseIncident:
			parts = append(parts, "close:"+string(e.Outcome))
		case SetKnownGood:
			parts = append(parts, "known-good:"+e.Version)
		case RunPlan:
			parts = append(parts, "plan")
		case SetTraffic:
			parts = append(parts, fmt.Sprintf("SetTraffic:%d", e.Step))
		case RunHook:
			parts = append(parts, "RunHook")
		case Note:
			s := "note:" + string(e.Kind)
			if e.Alert != "" {
				s += "!" + string(e.Alert)
			}
			parts = append(parts, s)
		default:
			parts = append(parts, fmt.Sprintf("%T", e))
		}
	}
	return strings.Join(parts, " ")
}

func baking() store.Watch {
	return store.Watch{ID: "w1", Target: "api", Phase: store.PhaseBaking, KnownGood: "3", NewVersion: "4", DetectedAt: t0, Revision: 7}
}

func promoted() store.Watch {
	w := baking()
	w.Phase, w.PromotedAt, w.VerdictKind = store.PhasePromoted, t0.Add(10*time.Minute), "healthy"
	return w
}

func with(w store.Watch, f func(*store.Watch)) store.Watch { f(&w); return w }

func verdict(k policy.Kind) policy.Verdict {
	return policy.Verdict{Kind: k, At: now, Summary: string(k) + " summary"}
}

func override(id, target string, kind store.OverrideKind, created time.Time) store.Override {
	return store.Override{ID: id, Target: target, Kind: kind, Actor: "alice", Reason: "why", CreatedAt: created, ExpiresAt: created.Add(time.Hour)}
}

// TestNext is the transition table: every phase, verdict and override.
func TestNext(t *testing.T) {
	failing := verdict(policy.Failing)
	kgBad := failing
	kgBad.AlertOnly = true
	later := now.Add(time.Minute)
	cases := []struct {
		name      string
		conf      Config
		w         store.Watch
		v         policy.Verdict
		ovs       []store.Override
		at        time.Time
		wantPhase store.Phase
		want      string
	}{
		// baking
		{"baking, healthy first time: verdict recorded", Config{}, baking(), verdict(policy.Healthy), nil, now,
			store.PhaseBaking, "save note:verdict"},
		{"baking, healthy again: nothing", Config{}, with(baking(), func(w *store.Watch) { w.VerdictKind = "healthy" }),
			verdict(policy.Healthy), nil, now, store.PhaseBaking, ""},
		{"baking, inconclusive", Config{}, baking(), verdict(policy.Inconclusive), nil, now,
			store.PhaseBaking, "save note:verdict"},
		{"baking, promote with a rollback window", Config{RollbackWindow: time.Hour}, baking(), verdict(policy.Promote), nil, now,
			store.PhasePromoted, "save note:verdict known-good:4 note:promoted!promoted"},
		{"baking, promote without a window ends it", Config{}, baking(), verdict(policy.Promote), nil, now,
			store.PhaseEnded, "save note:verdict known-good:4 note:promoted!promoted"},
		{"baking, failing trips", Config{}, baking(), failing, nil, now,
			store.PhaseTripped, "open:3 save note:verdict known-good:3 note:tripped!tripped plan"},
		{"baking, failing while paused alerts only", Config{}, baking(), failing,
			[]store.Override{override("p", "api", store.OverridePause, t0)}, now,
			store.PhaseBaking, "save note:verdict note:alert_only!alert_only"},
		{"baking, failing while all targets paused alerts only", Config{}, baking(), failing,
			[]store.Override{override("p", "*", store.OverridePause, t0)}, now,
			store.PhaseBaking, "save note:verdict note:alert_only!alert_only"},
		{"baking, a pause of another target does not apply", Config{}, baking(), failing,
			[]store.Override{override("p", "web", store.OverridePause, t0)}, now,
			store.PhaseTripped, "open:3 save note:verdict known-good:3 note:tripped!tripped plan"},
		{"baking, failing without known-good alerts only", Config{}, with(baking(), func(w *store.Watch) { w.KnownGood = "" }), failing, nil, now,
			store.PhaseBaking, "save note:verdict note:alert_only!alert_only"},
		{"baking, failing like the known-good alerts only", Config{}, baking(), kgBad, nil, now,
			store.PhaseBaking, "save note:verdict note:alert_only!alert_only"},
		{"baking, failing again after alert-only: said once", Config{},
			with(baking(), func(w *store.Watch) { w.VerdictKind, w.AlertOnlyAt, w.AlertOnlyWhy = "failing", t0, "paused" }), failing,
			[]store.Override{override("p", "api", store.OverridePause, t0)}, now, store.PhaseBaking, ""},
		{"baking, pause expired, still failing: trips", Config{},
			with(baking(), func(w *store.Watch) { w.VerdictKind, w.AlertOnlyAt, w.AlertOnlyWhy = "failing", t0, "paused" }), failing, nil, now,
			store.PhaseTripped, "open:3 save known-good:3 note:tripped!tripped plan"},
		{"baking, healthy after alert-only: promotion held", Config{RollbackWindow: time.Hour},
			with(baking(), func(w *store.Watch) { w.VerdictKind, w.AlertOnlyAt, w.AlertOnlyWhy = "failing", t0, "paused" }),
			verdict(policy.Promote), nil, now, store.PhaseBaking, "save note:verdict note:promotion_held!alert_only"},
		{"baking, held promotion said once", Config{},
			with(baking(), func(w *store.Watch) { w.VerdictKind, w.AlertOnlyAt, w.HeldAt = "promote", t0, t0 }),
			verdict(policy.Promote), nil, now, store.PhaseBaking, ""},
		{"baking, force rollback", Config{}, baking(), verdict(policy.Healthy),
			[]store.Override{override("f", "api", store.OverrideForceRollback, now.Add(-time.Second))}, now,
			store.PhaseTripped, "open:3 claim:f save known-good:3 note:tripped!tripped plan note:override_used"},
		{"baking, force rollback to a version", Config{}, baking(), verdict(policy.Healthy),
			[]store.Override{with2(override("f", "api", store.OverrideForceRollback, now), func(o *store.Override) { o.Version = "2" })}, now,
			store.PhaseTripped, "open:2 claim:f save known-good:2 note:tripped!tripped plan note:override_used"},
		{"baking, force rollback wins over a pause", Config{}, baking(), failing,
			[]store.Override{override("p", "api", store.OverridePause, t0), override("f", "api", store.OverrideForceRollback, now)}, now,
			store.PhaseTripped, "open:3 claim:f save known-good:3 note:tripped!tripped plan note:override_used"},
		{"baking, force rollback of all targets is not claimed", Config{}, baking(), verdict(policy.Healthy),
			[]store.Override{override("f", "*", store.OverrideForceRollback, now)}, now,
			store.PhaseTripped, "open:3 save known-good:3 note:tripped!tripped plan note:override_used"},
		{"baking, force rollback set before this deploy does not apply", Config{}, baking(), verdict(policy.Healthy),
			[]store.Override{override("f", "api", store.OverrideForceRollback, t0.Add(-time.Second))}, now,
			store.PhaseBaking, "save note:verdict"},
		{"baking, mark good promotes", Config{RollbackWindow: time.Hour}, baking(), failing,
			[]store.Override{override("g", "api", store.OverrideMarkGood, now)}, now,
			store.PhasePromoted, "claim:g save note:override_used known-good:4 note:promoted!promoted"},
		{"baking, mark good of a held version promotes", Config{RollbackWindow: time.Hour},
			with(baking(), func(w *store.Watch) { w.AlertOnlyAt, w.HeldAt = t0, t0 }), verdict(policy.Promote),
			[]store.Override{override("g", "api", store.OverrideMarkGood, now)}, now,
			store.PhasePromoted, "claim:g save note:override_used known-good:4 note:promoted!promoted"},
		// promoted, inside and after the rollback window
		{"promoted, healthy in the window", Config{RollbackWindow: time.Hour}, promoted(), verdict(policy.Healthy), nil, now,
			store.PhasePromoted, ""},
		{"promoted, failing in the window trips", Config{RollbackWindow: time.Hour}, promoted(), failing, nil, now,
			store.PhaseTripped, "open:3 save note:verdict known-good:3 note:tripped!tripped plan"},
		{"promoted, window closed: ended", Config{RollbackWindow: time.Minute}, promoted(), failing, nil, now,
			store.PhaseEnded, "save note:ended"},
		{"promoted, mark good: claimed, stays watched", Config{RollbackWindow: time.Hour}, promoted(), verdict(policy.Healthy),
			[]store.Override{override("g", "api", store.OverrideMarkGood, now)}, now,
			store.PhasePromoted, "claim:g note:override_used"},
		{"promoted, force rollback", Config{RollbackWindow: time.Hour}, promoted(), verdict(policy.Healthy),
			[]store.Override{override("f", "api", store.OverrideForceRollback, now)}, now,
			store.PhaseTripped, "open:3 claim:f save known-good:3 note:tripped!tripped plan note:override_used"},
		{"promoted, a promote verdict does nothing", Config{RollbackWindow: time.Hour}, promoted(), verdict(policy.Promote), nil, now,
			store.PhasePromoted, "save note:verdict"},
		// rolling back and final phases
		{"tripped asks for its plan", Config{}, with(baking(), func(w *store.Watch) { w.Phase, w.IncidentID = store.PhaseTripped, "inc-w1" }),
			failing, nil, now, store.PhaseTripped, "plan"},
		{"rolling back asks for its plan", Config{}, with(baking(), func(w *store.Watch) { w.Phase, w.IncidentID = store.PhaseRollingBack, "inc-w1" }),
			failing, nil, now, store.PhaseRollingBack, "plan"},
		{"rolled back: nothing", Config{}, with(baking(), func(w *store.Watch) { w.Phase = store.PhaseRolledBack }), failing,
			[]store.Override{override("f", "api", store.OverrideForceRollback, later)}, now, store.PhaseRolledBack, ""},
		{"rollback failed: nothing", Config{}, with(baking(), func(w *store.Watch) { w.Phase = store.PhaseRollbackFailed }), failing, nil, now,
			store.PhaseRollbackFailed, ""},
		{"superseded: nothing", Config{}, with(baking(), func(w *store.Watch) { w.Phase = store.PhaseSuperseded }), failing, nil, now,
			store.PhaseSuperseded, ""},
		{"ended: nothing", Config{}, with(baking(), func(w *store.Watch) { w.Phase = store.PhaseEnded }), verdict(policy.Promote), nil, now,
			store.PhaseEnded, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, effs := Next(tc.conf, tc.w, Tick{Now: tc.at, Verdict: tc.v, Overrides: tc.ovs})
			if got.Phase != tc.wantPhase {
				t.Errorf("phase %s, want %s", got.Phase, tc.wantPhase)
			}
			if s := effectString(effs); s != tc.want {
				t.Errorf("effects\n got %q\nwant %q", s, tc.want)
			}
			for _, e := range effs {
				if s, ok := e.(Save); ok && s.Watch.Revision != tc.w.Revision {
					t.Errorf("Save carries revision %d, want the one read (%d)", s.Watch.Revision, tc.w.Revision)
				}
			}
		})
	}
}

func with2(o store.Override, f func(*store.Override)) store.Override { f(&o); return o }

func TestPlanOutcomes(t *testing.T) {
	inc := store.Incident{ID: "inc-w1", Target: "api", FromVersion: "4", ToVersion: "3"}
	rolling := with(baking(), func(w *store.Watch) { w.Phase, w.IncidentID = store.PhaseRollingBack, inc.ID })
	cases := []struct {
		outcome   store.Outcome
		w         store.Watch
		wantPhase store.Phase
		want      string
		msg       string
	}{
		{store.OutcomeRolledBack, rolling, store.PhaseRolledBack, "save close:rolled_back note:rollback_done!rollback_done", "health verified"},
		{store.OutcomeUnhealthyAfter, rolling, store.PhaseRollbackFailed,
			"save close:unhealthy_after_rollback note:rollback_unhealthy!rollback_unhealthy", "did not recover"},
		{store.OutcomeFailed, rolling, store.PhaseRollbackFailed, "save close:rollback_failed note:rollback_failed!rollback_failed", "failed"},
		{store.OutcomeAborted, rolling, store.PhaseSuperseded, "save close:aborted note:rollback_aborted!rollback_aborted", "stopped"},
		{store.OutcomeNotExecuted, rolling, store.PhaseEnded, "save close:not_executed note:rollback_not_executed!alert_only", "Dry-run"},
		{store.OutcomeRolledBack, with(rolling, func(w *store.Watch) { w.Phase = store.PhaseSuperseded }), store.PhaseSuperseded,
			"close:rolled_back note:rollback_done!rollback_done", "health verified"},
	}
	for _, tc := range cases {
		t.Run(string(tc.outcome)+"/"+string(tc.w.Phase), func(t *testing.T) {
			got, effs := PlanDone(tc.w, inc, PlanResult{Outcome: tc.outcome, Reason: "because"}, now)
			if got.Phase != tc.wantPhase {
				t.Errorf("phase %s, want %s", got.Phase, tc.wantPhase)
			}
			if s := effectString(effs); s != tc.want {
				t.Errorf("effects %q, want %q", s, tc.want)
			}
			if n := effs[len(effs)-1].(Note); !strings.Contains(n.Message, tc.msg) || n.IncidentID != inc.ID {
				t.Errorf("note %+v, want message with %q", n, tc.msg)
			}
		})
	}
}

func TestPlanStartedResumeAndEnd(t *testing.T) {
	tripped := with(baking(), func(w *store.Watch) { w.Phase, w.IncidentID = store.PhaseTripped, "inc-w1" })
	if w, effs := PlanStarted(tripped); w.Phase != store.PhaseRollingBack || effectString(effs) != "save" {
		t.Errorf("PlanStarted: %s %q", w.Phase, effectString(effs))
	}
	if w, effs := PlanStarted(baking()); w.Phase != store.PhaseBaking || len(effs) != 0 {
		t.Errorf("PlanStarted on a baking watch: %s %q", w.Phase, effectString(effs))
	}
	inc := store.Incident{ID: "inc-w1", Trigger: "operator", Actor: "bob", ToVersion: "2"}
	w, effs := Resume(Config{}, baking(), inc, now)
	if w.Phase != store.PhaseTripped || effectString(effs) != "open:2 save known-good:2 note:tripped!tripped plan" {
		t.Errorf("Resume: %s %q", w.Phase, effectString(effs))
	}
	if _, effs := Resume(Config{}, tripped, inc, now); len(effs) != 0 {
		t.Errorf("Resume of a tripped watch: %q", effectString(effs))
	}
	w, effs = End(baking(), "manual rollback by bob", now)
	if w.Phase != store.PhaseEnded || !w.EndedAt.Equal(now) || effectString(effs) != "save note:ended" {
		t.Errorf("End: %s %q", w.Phase, effectString(effs))
	}
	if _, effs := End(with(tripped, func(w *store.Watch) { w.Phase = store.PhaseRolledBack }), "x", now); len(effs) != 0 {
		t.Errorf("End of a final watch: %q", effectString(effs))
	}
	s := Supersede(baking(), "w2", "superseded by deploy of version 5", now)
	if s.Phase != store.PhaseSuperseded || s.SupersededBy != "w2" || !s.EndedAt.Equal(now) {
		t.Errorf("Supersede: %+v", s)
	}
	if effs := Started(baking(), &s); effectString(effs) != "note:superseded note:watch_started!watch_started" {
		t.Errorf("Started: %q", effectString(effs))
	}
	if effs := ManualDone(inc, PlanResult{Outcome: store.OutcomeRolledBack}); effectString(effs) != "close:rolled_back note:rollback_done!rollback_done" {
		t.Errorf("ManualDone: %q", effectString(effs))
	}
	// A watch's plan whose watch the store lost: no save (there is nothing
	// to save to), the incident closed if it is there, the page resolved.
	lost := inc
	lost.WatchID = "w1"
	effs = PlanDoneLost(lost, PlanResult{Outcome: store.OutcomeRolledBack})
	if effectString(effs) != "close:rolled_back note:rollback_done!rollback_done" {
		t.Errorf("PlanDoneLost: %q", effectString(effs))
	}
	if n, ok := effs[1].(Note); !ok || n.WatchID != "w1" || n.Target != inc.Target {
		t.Errorf("PlanDoneLost's note: %+v", effs[1])
	}
}

// TestAlertOnlyReasonFromThePolicy: the policy's reason for alerting only
// (a trip against a baseline older than baseline_horizon) is what the watch
// records and on-call reads; the known-good-was-failing text is the
// fallback for a verdict without one.
func TestAlertOnlyReasonFromThePolicy(t *testing.T) {
	w := baking()
	stale := policy.Verdict{Kind: policy.Failing, AlertOnly: true, AlertWhy: "more than 1h0m0s after the deploy (baseline_horizon)"}
	if got := alertOnlyReason(nil, w, stale); got != stale.AlertWhy {
		t.Errorf("reason %q, want the policy's %q", got, stale.AlertWhy)
	}
	if got := alertOnlyReason(nil, w, policy.Verdict{Kind: policy.Failing, AlertOnly: true}); !strings.Contains(got, "already failing") {
		t.Errorf("reason without the policy's: %q", got)
	}
	after, effs := Next(Config{RollbackWindow: 24 * time.Hour}, promoted(), Tick{Now: now, Verdict: stale})
	if after.Phase != store.PhasePromoted || after.AlertOnlyWhy != stale.AlertWhy || len(effs) == 0 {
		t.Errorf("promoted watch after a stale trip: phase %s, alert-only %q, %d effects", after.Phase, after.AlertOnlyWhy, len(effs))
	}
}
