package watch

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

var tenFifty = []store.RolloutStep{{Weight: 0.1, Hold: 5 * time.Minute}, {Weight: 0.5, Hold: 5 * time.Minute}, {Weight: 1}}

func rolling(f func(r *store.Rollout)) store.Watch {
	w := StartRollout(baking(), tenFifty)
	f(w.Rollout)
	return w
}

// TestRollout is the transition table of a rollout.
func TestRollout(t *testing.T) {
	hooks := Config{PreHook: true, PostHook: true, RollbackWindow: time.Hour}
	failing := verdict(policy.Failing)
	stepAt := now.Add(-6 * time.Minute)
	thin := verdict(policy.Healthy) // a rule has not judged its minimum evidence
	thin.Findings = []policy.Finding{{Rule: "errors", Enough: false}}
	cases := []struct {
		name      string
		conf      Config
		w         store.Watch
		v         policy.Verdict
		ovs       []store.Override
		wantPhase store.Phase
		want      string
		check     func(t *testing.T, w store.Watch)
	}{
		{"start: the pre-traffic hook runs first", hooks, rolling(func(*store.Rollout) {}), verdict(policy.Inconclusive), nil,
			store.PhaseRollingOut, "save RunHook", func(t *testing.T, w store.Watch) {
				if w.Rollout.PreHook != store.HookPending {
					t.Errorf("pre hook %q", w.Rollout.PreHook)
				}
			}},
		{"the hook is running: wait", hooks, rolling(func(r *store.Rollout) { r.PreHook = store.HookPending }), verdict(policy.Inconclusive), nil,
			store.PhaseRollingOut, "", nil},
		{"the pre-traffic hook failed: ended, no traffic moved", hooks, rolling(func(r *store.Rollout) { r.PreHook = store.HookFailed }),
			verdict(policy.Inconclusive), nil, store.PhaseEnded, "save note:ended note:rollout_aborted!rollout_aborted", nil},
		{"hook passed: the first step's weight is set", hooks, rolling(func(r *store.Rollout) { r.PreHook = store.HookPassed }),
			verdict(policy.Inconclusive), nil, store.PhaseRollingOut, "SetTraffic:0", nil},
		{"no hooks: the first step's weight at once", Config{}, rolling(func(*store.Rollout) {}), verdict(policy.Inconclusive), nil,
			store.PhaseRollingOut, "SetTraffic:0", nil},
		{"a step is judged for its hold", Config{}, rolling(func(r *store.Rollout) { r.StepAt = now.Add(-time.Minute) }),
			verdict(policy.Healthy), nil, store.PhaseRollingOut, "save note:verdict", nil},
		{"a failing step trips: the weight goes back to 0", Config{}, rolling(func(r *store.Rollout) { r.StepAt = now.Add(-time.Minute) }),
			failing, nil, store.PhaseTripped, "open:3 save note:verdict known-good:3 note:tripped!tripped plan", nil},
		{"a failing step while paused alerts and holds", Config{}, rolling(func(r *store.Rollout) { r.StepAt = stepAt }),
			failing, []store.Override{override("p", "api", store.OverridePause, t0)}, store.PhaseRollingOut,
			"save note:verdict note:alert_only!alert_only", nil},
		{"paused: a passed hold does not move on", Config{}, rolling(func(r *store.Rollout) { r.StepAt = stepAt }),
			verdict(policy.Healthy), []store.Override{override("p", "api", store.OverridePause, t0)}, store.PhaseRollingOut,
			"save note:verdict", nil},
		{"the hold passed: next step", Config{}, rolling(func(r *store.Rollout) { r.StepAt = stepAt }),
			verdict(policy.Healthy), nil, store.PhaseRollingOut, "save note:verdict note:rollout_step!rollout_step",
			func(t *testing.T, w store.Watch) {
				if w.Rollout.Step != 1 || !w.Rollout.StepAt.IsZero() {
					t.Errorf("rollout %+v: want step 1 to be set", w.Rollout)
				}
			}},
		{"no evidence yet: the step holds past its hold", Config{RolloutStall: 30 * time.Minute}, rolling(func(r *store.Rollout) { r.StepAt = stepAt }),
			thin, nil, store.PhaseRollingOut, "save note:verdict", nil},
		{"held 30m past its hold: on-call is told once", Config{RolloutStall: 30 * time.Minute},
			rolling(func(r *store.Rollout) { r.StepAt = now.Add(-36 * time.Minute) }), thin, nil, store.PhaseRollingOut,
			"save note:verdict note:rollout_step!rollout_step", func(t *testing.T, w store.Watch) {
				if !w.Rollout.StalledAt.Equal(now) || w.Rollout.Step != 0 {
					t.Errorf("rollout %+v: want step 0 held, stalled at now", w.Rollout)
				}
			}},
		{"told already: quiet", Config{RolloutStall: 30 * time.Minute},
			rolling(func(r *store.Rollout) { r.StepAt, r.StalledAt = now.Add(-50*time.Minute), now.Add(-10*time.Minute) }), thin, nil,
			store.PhaseRollingOut, "save note:verdict", nil},
		{"a gate waits after its hold", Config{}, gated(stepAt, false), verdict(policy.Healthy), nil,
			store.PhaseRollingOut, "save note:verdict", nil},
		{"promote passes a gate", Config{}, gated(stepAt, false), verdict(policy.Healthy),
			[]store.Override{override("go", "api", store.OverridePromote, now)}, store.PhaseRollingOut,
			"claim:go save note:override_used note:verdict note:rollout_step!rollout_step", nil},
		{"promote skips a hold", Config{}, rolling(func(r *store.Rollout) { r.StepAt = now.Add(-time.Minute) }), verdict(policy.Healthy),
			[]store.Override{override("go", "api", store.OverridePromote, now)}, store.PhaseRollingOut,
			"claim:go save note:override_used note:verdict note:rollout_step!rollout_step", nil},
		{"the last step passes: the post-traffic hook", hooks,
			rolling(func(r *store.Rollout) { r.PreHook, r.Step, r.StepAt = store.HookPassed, 2, stepAt }), verdict(policy.Healthy), nil,
			store.PhaseRollingOut, "save note:verdict RunHook", nil},
		{"post-traffic hook passed: promoted at 100%", hooks,
			rolling(func(r *store.Rollout) {
				r.PreHook, r.PostHook, r.Step, r.StepAt = store.HookPassed, store.HookPassed, 2, stepAt
			}),
			verdict(policy.Healthy), nil, store.PhasePromoted, "save note:verdict known-good:4 note:promoted!promoted", nil},
		{"post-traffic hook failed: rolled back", hooks,
			rolling(func(r *store.Rollout) {
				r.PreHook, r.PostHook, r.Step, r.StepAt = store.HookPassed, store.HookFailed, 2, stepAt
			}),
			verdict(policy.Healthy), nil, store.PhaseTripped, "open:3 save note:verdict known-good:3 note:tripped!tripped plan", nil},
		{"abort before any traffic: ended", Config{}, rolling(func(*store.Rollout) {}), verdict(policy.Inconclusive),
			[]store.Override{override("f", "api", store.OverrideForceRollback, now)}, store.PhaseEnded,
			"claim:f save note:override_used note:ended", nil},
		{"abort during a step: rolled back", Config{}, rolling(func(r *store.Rollout) { r.Step, r.StepAt = 1, stepAt }), verdict(policy.Healthy),
			[]store.Override{override("f", "api", store.OverrideForceRollback, now)}, store.PhaseTripped,
			"open:3 claim:f save known-good:3 note:tripped!tripped plan note:override_used", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, effs := Next(tc.conf, tc.w, Tick{Now: now, Verdict: tc.v, Overrides: tc.ovs})
			if got.Phase != tc.wantPhase {
				t.Errorf("phase %s, want %s", got.Phase, tc.wantPhase)
			}
			if s := effectString(effs); s != tc.want {
				t.Errorf("effects\n got %q\nwant %q", s, tc.want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
			if tc.w.Rollout != nil && got.Rollout == tc.w.Rollout && rolloutChanged(tc.w.Rollout, got.Rollout) {
				t.Error("the transition changed the rollout it was given")
			}
		})
	}
}

func gated(at time.Time, passed bool) store.Watch {
	w := StartRollout(baking(), []store.RolloutStep{{Weight: 0.1, Hold: time.Minute, Gate: true}, {Weight: 1}})
	w.Rollout.StepAt, w.Rollout.Gated = at, passed
	return w
}

func TestRolloutReports(t *testing.T) {
	w := rolling(func(*store.Rollout) {})
	got, effs := TrafficSet(w, 0, map[string]float64{"4": 0.1}, "rev-2", now, nil)
	if got.Rollout.StepAt != now || got.Weights["4"] != 0.1 || got.RevisionID != "rev-2" || effectString(effs) != "save note:rollout_step" {
		t.Fatalf("TrafficSet: %+v %q", got.Rollout, effectString(effs))
	}
	if w.Rollout.StepAt.IsZero() == false {
		t.Fatal("TrafficSet changed the rollout it was given")
	}
	if _, effs := TrafficSet(got, 0, nil, "rev-3", now.Add(time.Second), nil); len(effs) != 0 {
		t.Fatalf("a second report of the same step: %q", effectString(effs))
	}
	// The first weight stores the probe baseline the evidence starts
	// with; a later step keeps it.
	pb := store.NewProbeBaseline([]store.ProbeResult{{At: now.Add(-time.Minute), Probe: "health", Failed: true}})
	first, _ := TrafficSet(w, 0, map[string]float64{"4": 0.1}, "rev-2", now, pb)
	if first.ProbeBaseline != pb {
		t.Fatalf("the first weight stored probe baseline %+v, want %+v", first.ProbeBaseline, pb)
	}
	first.Rollout.Step, first.Rollout.StepAt = 1, time.Time{}
	if next, _ := TrafficSet(first, 1, nil, "rev-3", now.Add(2*time.Minute), store.NewProbeBaseline(nil)); next.ProbeBaseline != pb {
		t.Fatalf("a later step replaced the probe baseline: %+v", next.ProbeBaseline)
	}
	got, effs = TrafficRefused(w, "the alias serves version 9", now)
	if got.Phase != store.PhaseSuperseded || effectString(effs) != "save note:rollout_aborted!rollout_aborted" {
		t.Fatalf("TrafficRefused: %s %q", got.Phase, effectString(effs))
	}
	pending := rolling(func(r *store.Rollout) { r.PreHook = store.HookPending })
	got, effs = HookDone(pending, true, false, "exit status 1", now)
	if got.Rollout.PreHook != store.HookFailed || effectString(effs) != "save note:rollout_step" {
		t.Fatalf("HookDone: %+v %q", got.Rollout, effectString(effs))
	}
	if _, effs := HookDone(got, true, true, "late", now); len(effs) != 0 {
		t.Fatalf("a hook reported twice: %q", effectString(effs))
	}
}
