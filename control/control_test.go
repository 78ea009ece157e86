package control

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/effects"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/runner"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/targets"
)

// fake is every part the controller drives, recording what it was asked.
type fake struct {
	conf      *config.Config
	ts        map[string]*targets.Target
	owned     map[string]bool
	announced []event.Kind
	openErr   error // OpenManual's answer
	runErr    error // RunManual's answer
	opened    int
}

func (f *fake) Targets() (*config.Config, map[string]*targets.Target, []string) {
	return f.conf, f.ts, []string{"api"}
}
func (f *fake) Detector() Detector { return nil }
func (f *fake) Planner() Planner   { return f }
func (f *fake) PlanManual(_ context.Context, t config.Target, to string) (actuator.Plan, error) {
	if to == "" {
		to = "2"
	}
	return actuator.Plan{ID: "manual-1", Target: t, Input: actuator.PlanInput{FromVersion: "3", ToVersion: to}}, nil
}
func (f *fake) Names() map[string]bool                                    { return f.owned }
func (f *fake) Fence(target string) (store.Fence, bool)                   { return store.Fence{}, f.owned[target] }
func (f *fake) InForce(context.Context, string) ([]store.Override, error) { return nil, nil }
func (f *fake) Announce(_ context.Context, _ store.Override, kind event.Kind, _ string) {
	f.announced = append(f.announced, kind)
}
func (f *fake) OpenManual(_ context.Context, _ *targets.Target, p actuator.Plan) (store.Incident, error) {
	f.opened++
	return store.Incident{ID: p.ID}, f.openErr
}
func (f *fake) RunManual(context.Context, *targets.Target, store.Incident, actuator.Plan, store.Fence) (actuator.Result, error) {
	return actuator.Result{Outcome: actuator.Outcome(store.OutcomeRolledBack), Reason: "done"}, f.runErr
}

func newController(t *testing.T) (*Controller, *fake, store.Store) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	tc := config.Target{Name: "api", Function: "fn", Alias: "live", BakeTime: config.Duration{Duration: 10 * time.Minute}}
	f := &fake{conf: &config.Config{}, ts: map[string]*targets.Target{"api": targets.New(tc, nil, false)}, owned: map[string]bool{"api": true}}
	f.conf.Daemon.ReplicaID = "r1"
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	return New(Config{Store: st, Clock: clk, Daemon: f, Leases: f, Rollbacks: f, Overrides: f}), f, st
}

// TestSetOverrideNeedsAWatch: a force-rollback or a mark-good applies to
// the deploy under watch; a mark-good naming a rolled-back version may
// clear it with none; a pause needs nothing. Refused overrides are neither
// stored nor announced.
func TestSetOverrideNeedsAWatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       store.Override
		watched bool // a deploy of api is baking
		bad3    bool // version 3 of api was rolled back
		want    error
	}{
		{"pause, nothing watched", store.Override{Target: "api", Kind: store.OverridePause}, false, false, nil},
		{"force rollback, nothing watched", store.Override{Target: "api", Kind: store.OverrideForceRollback}, false, false, api.ErrConflict},
		{"force rollback of a baking deploy", store.Override{Target: "api", Kind: store.OverrideForceRollback}, true, false, nil},
		{"mark good, nothing watched", store.Override{Target: "api", Kind: store.OverrideMarkGood}, false, false, api.ErrConflict},
		{"mark good of a rolled-back version", store.Override{Target: "api", Kind: store.OverrideMarkGood, Version: "3"}, false, true, nil},
		{"mark good of a version never rolled back", store.Override{Target: "api", Kind: store.OverrideMarkGood, Version: "3"}, false, false, api.ErrConflict},
		{"unknown target", store.Override{Target: "web", Kind: store.OverridePause}, false, false, api.ErrUnknownTarget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, f, st := newController(t)
			ctx := context.Background()
			if tc.watched {
				if err := st.CreateWatch(ctx, store.Watch{ID: "w1", Target: "api", NewVersion: "4", Phase: store.PhaseBaking}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.bad3 {
				if err := st.CreateIncident(ctx, store.Incident{ID: "inc-1", Target: "api", FromVersion: "3", Outcome: store.OutcomeRolledBack}); err != nil {
					t.Fatal(err)
				}
			}
			tc.o.ID = "o1"
			_, err := c.SetOverride(ctx, tc.o)
			ovs, _ := st.ListOverrides(ctx)
			switch {
			case tc.want == nil && (err != nil || len(ovs) != 1 || len(f.announced) != 1):
				t.Fatalf("err %v, %d stored, %d announced; want it stored and announced", err, len(ovs), len(f.announced))
			case tc.want != nil && (!errors.Is(err, tc.want) || len(ovs) != 0 || len(f.announced) != 0):
				t.Fatalf("err %v, %d stored, %d announced; want %v and nothing stored", err, len(ovs), len(f.announced), tc.want)
			}
		})
	}
}

// TestRollbackAnswers: what an operator's rollback request answers, from
// a plan only to a rollback that finished.
func TestRollbackAnswers(t *testing.T) {
	for _, tc := range []struct {
		name            string
		planOnly, owned bool
		openErr, runErr error
		want            error
		outcome         string
		message         string
	}{
		{"plan only", true, false, nil, nil, nil, "planned", ""},
		{"not the owner", false, false, nil, nil, api.ErrUnavailable, "", ""},
		{"another rollback open", false, true, effects.IncidentOpenError{ID: "inc-0", Trigger: "policy"}, nil, api.ErrConflict, "", ""},
		{"still running", false, true, nil, runner.ErrStillRunning, nil, "started", "still running after 45s"},
		{"interrupted", false, true, nil, errors.New("fenced"), nil, "started", "interrupted (fenced)"},
		{"done", false, true, nil, nil, nil, "rolled_back", "done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, f, _ := newController(t)
			f.owned["api"], f.openErr, f.runErr = tc.owned, tc.openErr, tc.runErr
			resp, err := c.Rollback(context.Background(), api.RollbackRequest{Target: "api", Actor: "op", Reason: "bad", PlanOnly: tc.planOnly})
			if !errors.Is(err, tc.want) || resp.Outcome != tc.outcome || !strings.HasPrefix(resp.Message, tc.message) {
				t.Fatalf("got %q %q, %v; want %q %q..., %v", resp.Outcome, resp.Message, err, tc.outcome, tc.message, tc.want)
			}
			if opened := f.opened > 0; opened != (tc.owned && !tc.planOnly) {
				t.Fatalf("incident opened: %v", opened)
			}
		})
	}
}

// TestStatusOfAWatch: the status names the lease owner and when the
// baking deploy's bake ends.
func TestStatusOfAWatch(t *testing.T) {
	c, _, st := newController(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 11, 55, 0, 0, time.UTC)
	if err := st.CreateWatch(ctx, store.Watch{ID: "w1", Target: "api", NewVersion: "4", Phase: store.PhaseBaking, DetectedAt: at}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Status(ctx)
	if err != nil || len(s.Targets) != 1 {
		t.Fatalf("status %+v %v", s, err)
	}
	ts := s.Targets[0]
	if ts.LeaseOwner != "r1" || ts.Watch == nil || ts.Watch.ID != "w1" || !ts.Watch.BakeUntil.Equal(at.Add(10*time.Minute)) {
		t.Fatalf("target status %+v, watch %+v", ts, ts.Watch)
	}
}
