package overrides

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

type fixture struct {
	k     *Keeper
	st    store.Store
	clk   *clockwork.FakeClock
	gauge *prometheus.GaugeVec
	notes []watch.Note
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{st: st, clk: clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)),
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "overrides"}, []string{"kind"})}
	ts := map[string]*targets.Target{"api": {}, "web": {}}
	f.k = New(Config{Store: st, Clock: f.clk, Logger: zap.NewNop(), Active: f.gauge,
		Targets: func() (map[string]*targets.Target, []string) { return ts, []string{"api", "web"} },
		Note:    func(_ context.Context, _ *targets.Target, n watch.Note) { f.notes = append(f.notes, n) }})
	return f
}

func (f *fixture) put(t *testing.T, o store.Override) {
	t.Helper()
	o.CreatedAt = f.clk.Now()
	if err := f.st.PutOverride(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshExpires: an expired override is deleted and its expiry
// announced to every target it applied to, once; the gauge counts those
// in force.
func TestRefreshExpires(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.put(t, store.Override{ID: "all", Target: "*", Kind: store.OverridePause, ExpiresAt: f.clk.Now().Add(time.Hour)})
	f.put(t, store.Override{ID: "api", Target: "api", Kind: store.OverridePause, ExpiresAt: f.clk.Now().Add(2 * time.Hour)})
	if got := f.k.Refresh(ctx); len(got) != 2 || testutil.ToFloat64(f.gauge.WithLabelValues("pause")) != 2 || len(f.notes) != 0 {
		t.Fatalf("in force %d, notes %d", len(got), len(f.notes))
	}
	f.clk.Advance(90 * time.Minute)
	got := f.k.Refresh(ctx)
	if len(got) != 1 || got[0].ID != "api" || testutil.ToFloat64(f.gauge.WithLabelValues("pause")) != 1 {
		t.Fatalf("in force after the first expired: %+v", got)
	}
	if len(f.notes) != 2 || f.notes[0].Target != "api" || f.notes[1].Target != "web" || f.notes[0].Kind != event.OverrideExpired {
		t.Fatalf("announced %+v: want the expiry to api and web, in config order", f.notes)
	}
	f.k.Refresh(ctx)
	if len(f.notes) != 2 {
		t.Fatal("an expiry was announced twice")
	}
	if in, _ := f.k.InForce(ctx, "web"); len(in) != 0 {
		t.Fatalf("in force on web: %+v", in)
	}
}

// TestClearKnownBad: a mark-good naming a version clears the incidents
// that rolled it back on an owned target; with no watch of that version it
// is used up, while a watch of it keeps it for the life cycle.
func TestClearKnownBad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		watched bool
		owns    bool
		kept    int
		cleared bool
	}{
		{"nothing watched: used up", false, true, 0, true},
		{"version under watch: kept for the life cycle", true, true, 1, true},
		{"another replica's target: left alone", false, false, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			if err := f.st.CreateIncident(ctx, store.Incident{ID: "inc-1", Target: "api", FromVersion: "3", Outcome: store.OutcomeRolledBack,
				OpenedAt: f.clk.Now().Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			o := store.Override{ID: "mg", Target: "api", Kind: store.OverrideMarkGood, Version: "3", Actor: "op", ExpiresAt: f.clk.Now().Add(time.Hour)}
			f.put(t, o)
			var ws []store.Watch
			if tc.watched {
				ws = []store.Watch{{ID: "w1", Target: "api", NewVersion: "3", Phase: store.PhaseBaking}}
			}
			kept := f.k.ClearKnownBad(ctx, f.k.Refresh(ctx), ws, func(string) bool { return tc.owns })
			inc, _ := f.st.GetIncident(ctx, "inc-1")
			stored, _ := f.st.ListOverrides(ctx)
			if len(kept) != tc.kept || len(stored) != tc.kept || inc.ClearedAt.IsZero() == tc.cleared {
				t.Fatalf("kept %d, stored %d, cleared at %v", len(kept), len(stored), inc.ClearedAt)
			}
			if used := len(f.notes) == 1 && f.notes[0].Kind == event.OverrideUsed; used != (tc.kept == 0) {
				t.Fatalf("notes %+v", f.notes)
			}
		})
	}
}
