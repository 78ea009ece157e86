package watcher

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

func TestDecideFirstSight(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return now.Add(time.Duration(m) * time.Minute) }
	cases := []struct {
		name      string
		traffic   []served
		adopt     bool
		knownGood string
		since     time.Time
	}{
		{"only the live version served", []served{{"7", at(-180), at(-5)}, {"6", time.Time{}, time.Time{}}}, true, "", time.Time{}},
		{"nothing served", []served{{"7", time.Time{}, time.Time{}}}, true, "", time.Time{}},
		{"a recent deploy", []served{{"7", at(-20), at(-5)}, {"6", at(-180), at(-20)}, {"5", time.Time{}, time.Time{}}}, false, "6", at(-20)},
		{"deployed, no traffic yet", []served{{"7", time.Time{}, time.Time{}}, {"6", at(-180), at(-10)}}, false, "6", now},
		{"the newest of the others is the known-good", []served{{"8", at(-10), at(-5)}, {"7", at(-60), at(-30)}, {"6", at(-180), at(-60)}}, false, "7", at(-10)},
		{"back after a rollback", []served{{"7", at(-180), at(-5)}, {"8", at(-40), at(-30)}}, true, "", time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := decideFirstSight(tc.traffic[0].version, tc.traffic, now)
			if got.adopt != tc.adopt || got.knownGood != tc.knownGood || (!tc.adopt && !got.since.Equal(tc.since)) || got.why == "" {
				t.Fatalf("got %+v, want adopt %v known-good %q since %s", got, tc.adopt, tc.knownGood, tc.since)
			}
		})
	}
}

// TestFirstSightResumesRollout: the store lost its data in the middle of a
// rollout canaryd drove, and the first sighting finds the alias split at
// the weight of one of the target's rollout steps: the watch rolls out
// from that step, with no probe baseline (every probe since the split may
// be the new version's). A split at no step's weight, or a target without
// a rollout, is watched as an external canary, as before.
func TestFirstSightResumesRollout(t *testing.T) {
	rollout := &config.Rollout{Steps: []config.RolloutStep{
		{Weight: 10, Hold: config.Duration{Duration: 2 * time.Minute}},
		{Weight: 50, Hold: config.Duration{Duration: 2 * time.Minute}},
		{Weight: 100}}}
	cases := []struct {
		name    string
		rollout *config.Rollout
		weight  float64
		step    int // -1: not a rollout
	}{
		{"at the second step", rollout, 0.5, 1},
		{"at the first step", rollout, 0.1, 0},
		{"at no step's weight", rollout, 0.3, -1},
		{"a target without a rollout", nil, 0.5, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk, sim, awsCfg, st := simAndStore(t, awssim.Options{})
			sim.CreateAlias("api", "live", "5")
			sim.Deploy("api", "live", "5", map[string]float64{"6": tc.weight})
			client := lambda.NewFromConfig(awsCfg)
			det, err := NewDetector(DetectorConfig{
				Targets: []config.Target{{Name: "api", Function: "api", Alias: "live", Rollout: tc.rollout}},
				Clients: func(string) *lambda.Client { return client },
				Store:   st, Clock: clk, Metrics: NewMetrics(prometheus.NewRegistry()), PollInterval: pollEvery,
			})
			if err != nil {
				t.Fatal(err)
			}
			if s := det.Sweep(context.Background()); s.Detected != 1 {
				t.Fatalf("sweep %+v, want one deploy detected", s)
			}
			ws, err := st.ListWatches(context.Background(), store.WatchFilter{Target: "api"})
			if err != nil || len(ws) != 1 {
				t.Fatalf("watches %+v (%v), want one", ws, err)
			}
			w := ws[0]
			if w.NewVersion != "6" || w.KnownGood != "5" || w.Source != SourceRecovered {
				t.Fatalf("watch %s over %s via %s, want 6 over 5 via recovered", w.NewVersion, w.KnownGood, w.Source)
			}
			if tc.step < 0 {
				if w.Rollout != nil || w.Phase == store.PhaseRollingOut {
					t.Fatalf("phase %s, rollout %+v: want an external canary's watch", w.Phase, w.Rollout)
				}
				return
			}
			r := w.Rollout
			if w.Phase != store.PhaseRollingOut || r == nil || r.Step != tc.step || !r.StepAt.Equal(clk.Now()) || !r.TrafficAt.Equal(clk.Now()) ||
				r.PreHook != store.HookPassed || len(r.Steps) != 3 {
				t.Fatalf("phase %s, rollout %+v: want rolling out at step %d from now", w.Phase, r, tc.step)
			}
			if w.ProbeBaseline == nil || w.ProbeBaseline.Len() != 0 {
				t.Fatalf("probe baseline %+v, want an empty one stated", w.ProbeBaseline)
			}
		})
	}
}
