package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

var errBoom = errors.New("boom")

func testTargets(t *testing.T, h *harness) {
	_, err := h.s.GetTarget(h.ctx, "api")
	isErr(t, "GetTarget before Put", err, store.ErrNotFound)

	first := store.TargetState{Name: "api", KnownGood: "3", KnownGoodAt: at(time.Minute), Version: "4",
		Weights: map[string]float64{"5": 0.1}, RevisionID: "rev-1", ObservedAt: at(2 * time.Minute), ActiveWatch: "w1"}
	must(t, "PutTarget", h.s.PutTarget(h.ctx, first))
	got, err := h.s.GetTarget(h.ctx, "api")
	must(t, "GetTarget", err)
	sameJSON(t, "GetTarget after Put", got, first)

	second := store.TargetState{Name: "api", KnownGood: "4", Version: "4", RevisionID: "rev-2"}
	must(t, "PutTarget replace", h.s.PutTarget(h.ctx, second))
	got, err = h.s.GetTarget(h.ctx, "api")
	must(t, "GetTarget", err)
	sameJSON(t, "GetTarget after replace", got, second)

	_, err = h.s.GetTarget(h.ctx, "other")
	isErr(t, "GetTarget other", err, store.ErrNotFound)
	if err := h.s.PutTarget(h.ctx, store.TargetState{}); err == nil {
		t.Error("PutTarget without a name: no error")
	}
}

// sampleWatch is a fully populated watch.
func sampleWatch(id, target string, detected time.Time, phase store.Phase) store.Watch {
	return store.Watch{ID: id, Target: target, Phase: phase, KnownGood: "7", NewVersion: "8",
		Weights: map[string]float64{"8": 0.25}, RevisionID: "rev-" + id, Source: "poll",
		DetectedAt: detected, Reason: "deploy seen", LastVerdict: json.RawMessage(`{"state":"healthy"}`),
		ProbeBaseline: store.NewProbeBaseline([]store.ProbeResult{{At: detected.Add(-20 * time.Second), Probe: "health"},
			{At: detected.Add(-10 * time.Second), Probe: "health", Failed: true}})}
}

func testWatchCreateGet(t *testing.T, h *harness) {
	_, err := h.s.GetWatch(h.ctx, "w1")
	isErr(t, "GetWatch absent", err, store.ErrNotFound)

	w := sampleWatch("w1", "api", at(0), store.PhaseBaking)
	must(t, "CreateWatch", h.s.CreateWatch(h.ctx, w))
	got, err := h.s.GetWatch(h.ctx, "w1")
	must(t, "GetWatch", err)
	sameJSON(t, "GetWatch", got, w)

	dup := sampleWatch("w1", "api", at(time.Hour), store.PhaseTripped)
	isErr(t, "CreateWatch duplicate", h.s.CreateWatch(h.ctx, dup), store.ErrExists)
	got, err = h.s.GetWatch(h.ctx, "w1")
	must(t, "GetWatch after duplicate", err)
	sameJSON(t, "duplicate create changed nothing", got, w)

	elsewhere := sampleWatch("w1", "web", at(time.Hour), store.PhaseBaking)
	isErr(t, "CreateWatch duplicate ID on another target", h.s.CreateWatch(h.ctx, elsewhere), store.ErrExists)
	got, err = h.s.GetWatch(h.ctx, "w1")
	must(t, "GetWatch after duplicate on another target", err)
	sameJSON(t, "duplicate on another target changed nothing", got, w)
	if ws, err := h.s.ListWatches(h.ctx, store.WatchFilter{Target: "web"}); err != nil || len(ws) != 0 {
		t.Errorf("ListWatches(web) after refused create = %d watches, %v", len(ws), err)
	}

	if err := h.s.CreateWatch(h.ctx, store.Watch{Target: "api"}); err == nil {
		t.Error("CreateWatch without ID: no error")
	}
}

func testWatchUpdate(t *testing.T, h *harness) {
	called := false
	_, err := h.s.UpdateWatch(h.ctx, "nope", func(*store.Watch) error { called = true; return nil })
	isErr(t, "UpdateWatch absent", err, store.ErrNotFound)
	if called {
		t.Error("UpdateWatch on an absent watch called fn")
	}

	w := sampleWatch("w1", "api", at(0), store.PhaseBaking)
	w.Revision = 4
	must(t, "CreateWatch", h.s.CreateWatch(h.ctx, w))
	got, err := h.s.UpdateWatch(h.ctx, "w1", func(w *store.Watch) error {
		w.Phase, w.PromotedAt, w.Reason = store.PhasePromoted, at(time.Minute), "bake passed"
		w.Revision = 100 // ignored: the store sets it
		return nil
	})
	must(t, "UpdateWatch", err)
	want := w
	want.Phase, want.PromotedAt, want.Reason, want.Revision = store.PhasePromoted, at(time.Minute), "bake passed", 5
	sameJSON(t, "UpdateWatch result", got, want)
	stored, err := h.s.GetWatch(h.ctx, "w1")
	must(t, "GetWatch", err)
	sameJSON(t, "stored after UpdateWatch", stored, want)

	_, err = h.s.UpdateWatch(h.ctx, "w1", func(w *store.Watch) error {
		w.Phase, w.Reason = store.PhaseTripped, "should not persist"
		return fmt.Errorf("policy says no: %w", errBoom)
	})
	isErr(t, "UpdateWatch fn error", err, errBoom)
	stored, err = h.s.GetWatch(h.ctx, "w1")
	must(t, "GetWatch", err)
	sameJSON(t, "fn error wrote nothing", stored, want)

	for name, mut := range map[string]func(*store.Watch){
		"id":     func(w *store.Watch) { w.ID = "w2" },
		"target": func(w *store.Watch) { w.Target = "other" },
	} {
		_, err = h.s.UpdateWatch(h.ctx, "w1", func(w *store.Watch) error { mut(w); w.Reason = "moved"; return nil })
		if err == nil {
			t.Errorf("UpdateWatch changing %s: no error", name)
		}
	}
	stored, err = h.s.GetWatch(h.ctx, "w1")
	must(t, "GetWatch", err)
	sameJSON(t, "rejected id/target change wrote nothing", stored, want)
	_, err = h.s.GetWatch(h.ctx, "w2")
	isErr(t, "GetWatch w2", err, store.ErrNotFound)
}

func testWatchUpdateConcurrent(t *testing.T, h *harness) {
	const workers, each = 8, 25
	must(t, "CreateWatch", h.s.CreateWatch(h.ctx, sampleWatch("w1", "api", at(0), store.PhaseBaking)))
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := h.s.UpdateWatch(h.ctx, "w1", func(w *store.Watch) error {
					if w.Weights == nil {
						w.Weights = map[string]float64{}
					}
					w.Weights["counter"]++
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent UpdateWatch: %v", err)
	}
	got, err := h.s.GetWatch(h.ctx, "w1")
	must(t, "GetWatch", err)
	if n := got.Weights["counter"]; n != workers*each {
		t.Errorf("counter = %v after %d increments: updates were lost", n, workers*each)
	}
	if got.Revision != workers*each {
		t.Errorf("Revision = %d, want %d", got.Revision, workers*each)
	}
}

// ids returns the IDs of ws in order.
func ids(ws []store.Watch) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID
	}
	return out
}

func testWatchList(t *testing.T, h *harness) {
	for _, w := range []store.Watch{
		sampleWatch("a1", "a", at(1*time.Minute), store.PhaseRolledBack),
		sampleWatch("a2", "a", at(3*time.Minute), store.PhaseBaking),
		sampleWatch("b1", "b", at(2*time.Minute), store.PhasePromoted),
		sampleWatch("b2", "b", at(5*time.Minute), store.PhaseSuperseded),
		sampleWatch("c1", "c", at(4*time.Minute), store.PhaseTripped),
		sampleWatch("c2", "c", at(4*time.Minute), store.PhaseBaking), // same time as c1: ID breaks the tie
	} {
		must(t, "CreateWatch "+w.ID, h.s.CreateWatch(h.ctx, w))
	}
	check := func(name string, f store.WatchFilter, want ...string) {
		t.Helper()
		got, err := h.s.ListWatches(h.ctx, f)
		must(t, name, err)
		if fmt.Sprint(ids(got)) != fmt.Sprint(want) {
			t.Errorf("%s: ListWatches(%+v) = %v, want %v", name, f, ids(got), want)
		}
	}
	check("all", store.WatchFilter{}, "b2", "c2", "c1", "a2", "b1", "a1")
	check("target", store.WatchFilter{Target: "b"}, "b2", "b1")
	check("unknown target", store.WatchFilter{Target: "zz"})
	check("active", store.WatchFilter{ActiveOnly: true}, "c2", "c1", "a2", "b1")
	check("active target", store.WatchFilter{Target: "a", ActiveOnly: true}, "a2")
	check("limit", store.WatchFilter{Limit: 2}, "b2", "c2")
	check("active limit", store.WatchFilter{ActiveOnly: true, Limit: 3}, "c2", "c1", "a2")

	_, err := h.s.UpdateWatch(h.ctx, "c2", func(w *store.Watch) error { w.Phase = store.PhaseEnded; return nil })
	must(t, "UpdateWatch c2 ended", err)
	_, err = h.s.UpdateWatch(h.ctx, "a1", func(w *store.Watch) error { w.DetectedAt = at(time.Hour); return nil })
	must(t, "UpdateWatch a1 moved", err)
	check("all after updates", store.WatchFilter{}, "a1", "b2", "c2", "c1", "a2", "b1")
	check("active after updates", store.WatchFilter{ActiveOnly: true}, "c1", "a2", "b1")
	check("target after updates", store.WatchFilter{Target: "a"}, "a1", "a2")

	got, err := h.s.ListWatches(h.ctx, store.WatchFilter{Target: "c", Limit: 1})
	must(t, "ListWatches c", err)
	if len(got) == 1 {
		want := sampleWatch("c2", "c", at(4*time.Minute), store.PhaseEnded)
		want.Revision = 1
		sameJSON(t, "listed record", got[0], want)
	}
}
