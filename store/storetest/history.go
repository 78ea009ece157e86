package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

func testOverrides(t *testing.T, h *harness) {
	got, err := h.s.ListOverrides(h.ctx)
	must(t, "ListOverrides empty", err)
	if len(got) != 0 {
		t.Errorf("ListOverrides on empty store = %d", len(got))
	}
	pause := store.Override{ID: "o1", Target: "*", Kind: store.OverridePause, Reason: "maintenance",
		Actor: "alice", CreatedAt: at(time.Minute), ExpiresAt: at(time.Hour)}
	force := store.Override{ID: "o0", Target: "api", Kind: store.OverrideForceRollback, Reason: "bad deploy",
		Actor: "bob", CreatedAt: at(2 * time.Minute), Version: "7"}
	expired := store.Override{ID: "o2", Target: "web", Kind: store.OverrideMarkGood, Actor: "carol",
		CreatedAt: at(0), ExpiresAt: at(time.Second)}
	for _, o := range []store.Override{pause, force, expired} {
		must(t, "PutOverride "+o.ID, h.s.PutOverride(h.ctx, o))
	}
	got, err = h.s.ListOverrides(h.ctx)
	must(t, "ListOverrides", err)
	sameJSON(t, "ListOverrides (by CreatedAt, expired kept)", got, []store.Override{expired, pause, force})

	pause.Reason, pause.ExpiresAt = "extended", at(2*time.Hour)
	must(t, "PutOverride replace", h.s.PutOverride(h.ctx, pause))
	must(t, "DeleteOverride", h.s.DeleteOverride(h.ctx, "o0"))
	isErr(t, "DeleteOverride again", h.s.DeleteOverride(h.ctx, "o0"), store.ErrNotFound)
	isErr(t, "DeleteOverride unknown", h.s.DeleteOverride(h.ctx, "nope"), store.ErrNotFound)
	got, err = h.s.ListOverrides(h.ctx)
	must(t, "ListOverrides", err)
	sameJSON(t, "ListOverrides after replace+delete", got, []store.Override{expired, pause})
	if err := h.s.PutOverride(h.ctx, store.Override{Target: "api"}); err == nil {
		t.Error("PutOverride without ID: no error")
	}
}

// sampleEvents is a history across two targets, oldest first.
func sampleEvents() []store.Event {
	var out []store.Event
	for i := 0; i < 8; i++ {
		e := store.Event{Time: at(time.Duration(i) * time.Minute), Target: []string{"a", "b"}[i%2],
			Type: "verdict", Message: fmt.Sprintf("event %d", i), Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
		if i >= 2 {
			e.WatchID = "w-" + e.Target
		}
		if i >= 6 {
			e.IncidentID = "inc-" + e.Target
		}
		out = append(out, e)
	}
	return out
}

// pick returns evs[i] for each index.
func pick(evs []store.Event, idx ...int) []store.Event {
	out := []store.Event{}
	for _, i := range idx {
		out = append(out, evs[i])
	}
	return out
}

func testEvents(t *testing.T, h *harness) {
	evs := sampleEvents()
	for _, e := range evs {
		must(t, "AppendEvent", h.s.AppendEvent(h.ctx, e))
	}
	for _, tc := range []struct {
		name string
		f    store.EventFilter
		want []int
	}{
		{"all", store.EventFilter{}, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"target", store.EventFilter{Target: "a"}, []int{0, 2, 4, 6}},
		{"watch", store.EventFilter{WatchID: "w-b"}, []int{3, 5, 7}},
		{"incident", store.EventFilter{IncidentID: "inc-a"}, []int{6}},
		{"since inclusive", store.EventFilter{Since: at(5 * time.Minute)}, []int{5, 6, 7}},
		{"limit newest, oldest first", store.EventFilter{Limit: 3}, []int{5, 6, 7}},
		{"target limit", store.EventFilter{Target: "b", Limit: 2}, []int{5, 7}},
		{"target since limit", store.EventFilter{Target: "a", Since: at(time.Minute), Limit: 10}, []int{2, 4, 6}},
		{"no match", store.EventFilter{Target: "zz"}, []int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.s.Events(h.ctx, tc.f)
			must(t, "Events", err)
			if got == nil {
				got = []store.Event{}
			}
			sameJSON(t, "Events", got, pick(evs, tc.want...))
		})
	}
}
