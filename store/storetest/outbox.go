package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

func testOutbox(t *testing.T, h *harness) {
	if es, err := h.s.ListOutbox(h.ctx); err != nil || len(es) != 0 {
		t.Fatalf("empty outbox: %v %v", es, err)
	}
	ev := json.RawMessage(`{"type":"tripped"}`)
	later := T0.Add(time.Second)
	if err := h.s.PutOutbox(h.ctx, []store.OutboxEntry{
		{ID: "inc-2/tripped", Notifier: "slack", Target: "api", Created: later, Event: ev},
		{ID: "inc-1/tripped", Notifier: "pd", Target: "api", Created: T0, Event: ev},
		{ID: "inc-1/tripped", Notifier: "slack", Target: "api", Created: T0, Event: ev},
	}); err != nil {
		t.Fatal(err)
	}
	// The same alert again replaces, never duplicates.
	if err := h.s.PutOutbox(h.ctx, []store.OutboxEntry{{ID: "inc-1/tripped", Notifier: "pd", Target: "api", Created: T0, Event: ev}}); err != nil {
		t.Fatal(err)
	}
	es, err := h.s.ListOutbox(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.ID+"|"+e.Notifier)
		if string(e.Event) != string(ev) || e.Target != "api" {
			t.Errorf("entry %+v", e)
		}
	}
	want := []string{"inc-1/tripped|pd", "inc-1/tripped|slack", "inc-2/tripped|slack"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("outbox %v, want %v (oldest first)", got, want)
	}
	if err := h.s.DeleteOutbox(h.ctx, "inc-1/tripped", "pd"); err != nil {
		t.Fatal(err)
	}
	if err := h.s.DeleteOutbox(h.ctx, "inc-1/tripped", "pd"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if err := h.s.PutOutbox(h.ctx, []store.OutboxEntry{{ID: "x", Created: T0}}); err == nil {
		t.Fatal("an entry without notifier was accepted")
	}
	// It survives a restart.
	h.reopen()
	if es, err := h.s.ListOutbox(h.ctx); err != nil || len(es) != 2 {
		t.Fatalf("after reopen: %d entries, %v", len(es), err)
	}
}

func testMarker(t *testing.T, h *harness) {
	m, created, err := h.s.Marker(h.ctx)
	if err != nil || !created || m.ID == "" || !m.CreatedAt.Equal(T0.UTC()) {
		t.Fatalf("first marker %+v created %v: %v", m, created, err)
	}
	again, created, err := h.s.Marker(h.ctx)
	if err != nil || created || again != m {
		t.Fatalf("second call %+v created %v: %v", again, created, err)
	}
	h.reopen()
	if again, created, err = h.s.Marker(h.ctx); err != nil || created || again.ID != m.ID {
		t.Fatalf("after reopen %+v created %v: %v", again, created, err)
	}
}
