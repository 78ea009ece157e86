package storetest

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

// testPersistence writes one of everything, closes, reopens and reads it
// all back; sequences and lease tokens continue where they were.
func testPersistence(t *testing.T, h *harness) {
	target := store.TargetState{Name: "api", KnownGood: "7", Version: "8", RevisionID: "r1"}
	must(t, "PutTarget", h.s.PutTarget(h.ctx, target))
	w := sampleWatch("w1", "api", at(0), store.PhaseBaking)
	must(t, "CreateWatch", h.s.CreateWatch(h.ctx, w))
	w, err := h.s.UpdateWatch(h.ctx, "w1", func(w *store.Watch) error { w.Phase = store.PhaseTripped; return nil })
	must(t, "UpdateWatch", err)
	in := sampleIncident("i1", "api", at(time.Minute))
	must(t, "CreateIncident", h.s.CreateIncident(h.ctx, in))
	f1 := h.acquire(t, "api", "a")
	e1 := entry("i1", "api", 0, store.StepIntent, at(time.Minute))
	must(t, "AppendJournal", h.s.AppendJournal(h.ctx, e1, f1))
	o := store.Override{ID: "o1", Target: "api", Kind: store.OverridePause, Actor: "alice", CreatedAt: at(0)}
	must(t, "PutOverride", h.s.PutOverride(h.ctx, o))
	evs := sampleEvents()
	must(t, "AppendEvent", h.s.AppendEvent(h.ctx, evs[0]))

	h.reopen()

	gotT, err := h.s.GetTarget(h.ctx, "api")
	must(t, "GetTarget after reopen", err)
	sameJSON(t, "target", gotT, target)
	gotW, err := h.s.GetWatch(h.ctx, "w1")
	must(t, "GetWatch after reopen", err)
	sameJSON(t, "watch", gotW, w)
	isErr(t, "CreateWatch after reopen", h.s.CreateWatch(h.ctx, w), store.ErrExists)
	active, err := h.s.ListWatches(h.ctx, store.WatchFilter{ActiveOnly: true})
	must(t, "ListWatches after reopen", err)
	sameJSON(t, "active watches", active, []store.Watch{w})
	gotI, err := h.s.GetIncident(h.ctx, "i1")
	must(t, "GetIncident after reopen", err)
	sameJSON(t, "incident", gotI, in)
	isErr(t, "CreateIncident after reopen", h.s.CreateIncident(h.ctx, in), store.ErrExists)
	gotO, err := h.s.ListOverrides(h.ctx)
	must(t, "ListOverrides after reopen", err)
	sameJSON(t, "overrides", gotO, []store.Override{o})

	must(t, "CheckFence after reopen", h.s.CheckFence(h.ctx, f1))
	_, err = h.s.AcquireLease(h.ctx, "api", "b", leaseTTL)
	isErr(t, "lease held after reopen", err, store.ErrLeaseHeld)
	h.clk.Advance(leaseTTL)
	f2 := h.acquire(t, "api", "b")
	if f2.Token <= f1.Token {
		t.Errorf("token after reopen %d is not larger than %d", f2.Token, f1.Token)
	}
	e2 := entry("i1", "api", 0, store.StepDone, at(2*time.Minute))
	must(t, "AppendJournal after reopen", h.s.AppendJournal(h.ctx, e2, f2))
	j, err := h.s.Journal(h.ctx, "i1")
	must(t, "Journal after reopen", err)
	sameJSON(t, "journal continues in order", j, []store.JournalEntry{e1, e2})
	must(t, "AppendEvent after reopen", h.s.AppendEvent(h.ctx, evs[1]))
	gotE, err := h.s.Events(h.ctx, store.EventFilter{})
	must(t, "Events after reopen", err)
	sameJSON(t, "events continue in order", gotE, evs[:2])
}
