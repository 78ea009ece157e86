package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

// sampleIncident is a fully populated incident.
func sampleIncident(id, target string, opened time.Time) store.Incident {
	return store.Incident{ID: id, Target: target, WatchID: "w-" + id, OpenedAt: opened,
		FromVersion: "8", ToVersion: "7", Trigger: "policy",
		Verdict: json.RawMessage(`{"state":"failing","reasons":["5xx rate 0.2 > 0.05"]}`)}
}

func testIncidents(t *testing.T, h *harness) {
	_, err := h.s.GetIncident(h.ctx, "i1")
	isErr(t, "GetIncident absent", err, store.ErrNotFound)
	_, err = h.s.UpdateIncident(h.ctx, "i1", func(*store.Incident) error { return nil })
	isErr(t, "UpdateIncident absent", err, store.ErrNotFound)

	in := sampleIncident("i1", "api", at(0))
	must(t, "CreateIncident", h.s.CreateIncident(h.ctx, in))
	got, err := h.s.GetIncident(h.ctx, "i1")
	must(t, "GetIncident", err)
	sameJSON(t, "GetIncident", got, in)

	other := sampleIncident("i1", "api", at(time.Hour))
	other.Trigger = "operator"
	isErr(t, "CreateIncident duplicate", h.s.CreateIncident(h.ctx, other), store.ErrExists)
	other.Target = "web"
	isErr(t, "CreateIncident duplicate ID on another target", h.s.CreateIncident(h.ctx, other), store.ErrExists)
	if ins, err := h.s.ListIncidents(h.ctx, "web", 0); err != nil || len(ins) != 0 {
		t.Errorf("ListIncidents(web) after refused create = %d, %v", len(ins), err)
	}

	got, err = h.s.UpdateIncident(h.ctx, "i1", func(in *store.Incident) error {
		in.Outcome, in.ClosedAt = "rolled_back", at(time.Minute)
		return nil
	})
	must(t, "UpdateIncident", err)
	want := in
	want.Outcome, want.ClosedAt, want.Revision = "rolled_back", at(time.Minute), 1
	sameJSON(t, "UpdateIncident result", got, want)

	_, err = h.s.UpdateIncident(h.ctx, "i1", func(in *store.Incident) error {
		in.Outcome = "aborted"
		return errBoom
	})
	isErr(t, "UpdateIncident fn error", err, errBoom)
	got, err = h.s.GetIncident(h.ctx, "i1")
	must(t, "GetIncident", err)
	sameJSON(t, "stored incident", got, want)
	if err := h.s.CreateIncident(h.ctx, store.Incident{Target: "api"}); err == nil {
		t.Error("CreateIncident without ID: no error")
	}
}

// testIncidentCreateOnce is the store's half of promise 3: of many
// concurrent attempts to open the incident of one watch, exactly one wins.
func testIncidentCreateOnce(t *testing.T, h *harness) {
	const n = 10
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			in := sampleIncident("inc-w1", "api", at(0))
			in.Actor = fmt.Sprintf("replica-%d", i)
			results[i] = h.s.CreateIncident(h.ctx, in)
		}(i)
	}
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("CreateIncident succeeded twice (replica-%d and replica-%d)", winner, i)
		case err == nil:
			winner = i
		default:
			isErr(t, fmt.Sprintf("CreateIncident replica-%d", i), err, store.ErrExists)
		}
	}
	if winner < 0 {
		t.Fatal("no CreateIncident succeeded")
	}
	got, err := h.s.GetIncident(h.ctx, "inc-w1")
	must(t, "GetIncident", err)
	if want := fmt.Sprintf("replica-%d", winner); got.Actor != want {
		t.Errorf("stored incident from %s, but %s won", got.Actor, want)
	}
}

func testIncidentList(t *testing.T, h *harness) {
	for _, in := range []store.Incident{
		sampleIncident("i1", "a", at(1*time.Minute)),
		sampleIncident("i2", "b", at(4*time.Minute)),
		sampleIncident("i3", "a", at(3*time.Minute)),
		sampleIncident("i4", "b", at(2*time.Minute)),
	} {
		must(t, "CreateIncident "+in.ID, h.s.CreateIncident(h.ctx, in))
	}
	check := func(target string, limit int, want ...string) {
		t.Helper()
		got, err := h.s.ListIncidents(h.ctx, target, limit)
		must(t, "ListIncidents", err)
		var gotIDs []string
		for _, in := range got {
			gotIDs = append(gotIDs, in.ID)
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(want) {
			t.Errorf("ListIncidents(%q, %d) = %v, want %v", target, limit, gotIDs, want)
		}
	}
	check("", 0, "i2", "i3", "i4", "i1")
	check("a", 0, "i3", "i1")
	check("b", 1, "i2")
	check("", 3, "i2", "i3", "i4")
	check("zz", 0)
	_, err := h.s.UpdateIncident(h.ctx, "i1", func(in *store.Incident) error { in.OpenedAt = at(time.Hour); return nil })
	must(t, "UpdateIncident", err)
	check("", 2, "i1", "i2")
	check("a", 0, "i1", "i3")
}
