package knownbad

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

func TestLookupAndClear(t *testing.T) {
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	for _, in := range []store.Incident{
		{ID: "api#1", Target: "api", OpenedAt: t0, FromVersion: "7", Outcome: store.OutcomeRolledBack},
		{ID: "api#2", Target: "api", OpenedAt: t0.Add(time.Hour), FromVersion: "8", Outcome: store.OutcomeAborted},
		{ID: "api#3", Target: "api", OpenedAt: t0.Add(2 * time.Hour), FromVersion: "9"}, // plan still running
		{ID: "web#1", Target: "web", OpenedAt: t0, FromVersion: "7", Outcome: store.OutcomeUnhealthyAfter},
	} {
		if err := s.CreateIncident(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		target, version string
		bad             bool
		incident        string
	}{
		{"api", "7", true, "api#1"},  // rolled back
		{"api", "8", false, "api#2"}, // aborted: never reverted, not bad
		{"api", "9", false, ""},      // no outcome yet: nothing decided
		{"api", "", false, ""},
		{"web", "7", true, "web#1"}, // reverted but unhealthy after: still the version's fault
		{"web", "8", false, ""},
	} {
		in, bad, err := Lookup(ctx, s, c.target, c.version)
		if err != nil || bad != c.bad || in.ID != c.incident {
			t.Errorf("Lookup(%s, %q) = %s %v %v, want %s %v", c.target, c.version, in.ID, bad, err, c.incident, c.bad)
		}
	}

	for _, c := range []struct {
		knownBad string
		bad      bool
	}{{config.KnownBadRollback, true}, {config.KnownBadWatch, false}} {
		if _, bad, err := ForTarget(ctx, s, config.Target{Name: "api", KnownBad: c.knownBad}, "7"); err != nil || bad != c.bad {
			t.Errorf("ForTarget(known_bad = %s, 7) = %v %v, want %v", c.knownBad, bad, err, c.bad)
		}
	}

	in, _, _ := Lookup(ctx, s, "api", "7")
	v := Verdict(in, t0.Add(3*time.Hour))
	if v.Kind != policy.Failing || len(v.Findings) != 1 || !v.Findings[0].Breached ||
		!strings.Contains(v.Summary, "api#1") || !strings.Contains(v.Summary, "canaryd override mark-good api --version 7") {
		t.Fatalf("verdict %+v", v)
	}

	// A mark-good of api's version 7: clears api#1 only (not web's, not
	// an incident opened after the override).
	o := store.Override{ID: "o1", Kind: store.OverrideMarkGood, Target: "api", Version: "7", Actor: "alice", CreatedAt: t0.Add(4 * time.Hour)}
	if !Clears(o) || Clears(store.Override{Kind: store.OverrideMarkGood, Target: "*", Version: "7"}) ||
		Clears(store.Override{Kind: store.OverrideMarkGood, Target: "api"}) || Clears(store.Override{Kind: store.OverridePause, Target: "api", Version: "7"}) {
		t.Fatal("Clears: only a mark-good of one target naming a version clears")
	}
	if err := s.CreateIncident(ctx, store.Incident{ID: "api#4", Target: "api", OpenedAt: t0.Add(5 * time.Hour), FromVersion: "7", Outcome: store.OutcomeRolledBack}); err != nil {
		t.Fatal(err)
	}
	n, err := Clear(ctx, s, o, t0.Add(6*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Clear: %d %v, want 1", n, err)
	}
	got, err := s.GetIncident(ctx, "api#1")
	if err != nil || got.ClearedBy != "alice" || !got.ClearedAt.Equal(t0.Add(6*time.Hour)) {
		t.Fatalf("api#1 after Clear: %+v %v", got, err)
	}
	// The later incident (after the override) decides: still bad.
	if in, bad, _ := Lookup(ctx, s, "api", "7"); !bad || in.ID != "api#4" {
		t.Fatalf("after a later rollback: %s %v, want api#4 bad", in.ID, bad)
	}
	if _, bad, _ := Lookup(ctx, s, "web", "7"); !bad {
		t.Fatal("web's version 7 was cleared by api's override")
	}
}
