package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

// entry is a journal entry of plan for target.
func entry(plan, target string, step int, status store.StepStatus, t time.Time) store.JournalEntry {
	return store.JournalEntry{PlanID: plan, Target: target, Step: step, Name: fmt.Sprintf("step-%d", step),
		Status: status, Time: t, Duration: 1500 * time.Millisecond,
		Detail: json.RawMessage(fmt.Sprintf(`{"n":%d}`, step))}
}

func testJournalOrder(t *testing.T, h *harness) {
	got, err := h.s.Journal(h.ctx, "p1")
	must(t, "Journal of unknown plan", err)
	if len(got) != 0 {
		t.Errorf("Journal of unknown plan = %d entries", len(got))
	}
	var want []store.JournalEntry
	for i := 0; i < 6; i++ {
		status := store.StepIntent
		if i%2 == 1 {
			status = store.StepDone
		}
		e := entry("p1", "api", i/2, status, at(time.Duration(i)*time.Second))
		if i == 5 {
			e.Status, e.Error = store.StepFailed, "AccessDenied"
		}
		want = append(want, e)
		must(t, "AppendJournal", h.s.AppendJournal(h.ctx, e, store.Fence{}))
		// another plan interleaved: must not show up in p1's journal
		must(t, "AppendJournal p2", h.s.AppendJournal(h.ctx, entry("p2", "web", i, store.StepIntent, at(0)), store.Fence{}))
	}
	if err := h.s.AppendJournal(h.ctx, entry("p1", "web", 9, store.StepIntent, at(0)), store.Fence{}); err == nil {
		t.Error("AppendJournal to p1 (target api) for target web: no error")
	}
	got, err = h.s.Journal(h.ctx, "p1")
	must(t, "Journal", err)
	sameJSON(t, "Journal p1", got, want)
	p2, err := h.s.Journal(h.ctx, "p2")
	must(t, "Journal p2", err)
	if len(p2) != 6 {
		t.Errorf("Journal p2 has %d entries, want 6", len(p2))
	}
	for i, e := range p2 {
		if e.Step != i {
			t.Errorf("Journal p2[%d].Step = %d: out of order", i, e.Step)
		}
	}
}

func testJournalFenced(t *testing.T, h *harness) {
	const ttl = 10 * time.Second
	old, err := h.s.AcquireLease(h.ctx, "api", "replica-a", ttl)
	must(t, "AcquireLease a", err)
	first := entry("p1", "api", 0, store.StepIntent, at(0))
	must(t, "fenced AppendJournal by holder", h.s.AppendJournal(h.ctx, first, old))

	h.clk.Advance(ttl)
	cur, err := h.s.AcquireLease(h.ctx, "api", "replica-b", ttl)
	must(t, "AcquireLease b after expiry", err)
	stale := entry("p1", "api", 0, store.StepDone, at(ttl))
	isErr(t, "AppendJournal with stale fence", h.s.AppendJournal(h.ctx, stale, old), store.ErrFenced)

	forged := cur
	forged.Token++
	isErr(t, "AppendJournal with a token from the future", h.s.AppendJournal(h.ctx, stale, forged), store.ErrFenced)
	wrongHolder := cur
	wrongHolder.Holder = "replica-a"
	isErr(t, "AppendJournal with current token but wrong holder", h.s.AppendJournal(h.ctx, stale, wrongHolder), store.ErrFenced)
	otherTarget := entry("p9", "web", 0, store.StepIntent, at(ttl))
	isErr(t, "AppendJournal fenced by another target's lease", h.s.AppendJournal(h.ctx, otherTarget, cur), store.ErrFenced)
	never := store.Fence{Target: "never-leased", Holder: "x", Token: 1}
	isErr(t, "AppendJournal with a fence on an unleased target",
		h.s.AppendJournal(h.ctx, entry("p8", "never-leased", 0, store.StepIntent, at(0)), never), store.ErrFenced)

	got, err := h.s.Journal(h.ctx, "p1")
	must(t, "Journal", err)
	sameJSON(t, "fenced appends wrote nothing", got, []store.JournalEntry{first})
	for _, plan := range []string{"p8", "p9"} {
		if got, err := h.s.Journal(h.ctx, plan); err != nil || len(got) != 0 {
			t.Errorf("Journal %s after rejected append = %d entries, %v", plan, len(got), err)
		}
	}

	next := entry("p1", "api", 0, store.StepDone, at(ttl))
	must(t, "AppendJournal with current fence", h.s.AppendJournal(h.ctx, next, cur))
	got, err = h.s.Journal(h.ctx, "p1")
	must(t, "Journal", err)
	sameJSON(t, "journal after current-fence append", got, []store.JournalEntry{first, next})
}

// testJournalFenceRace appends under one holder's fence while another
// holder takes the lease over: every append the old holder saw succeed is
// in the journal, and all of them come before the new holder's first
// entry (the fence check and the write are one atomic step).
func testJournalFenceRace(t *testing.T, h *harness) {
	old := h.acquire(t, "api", "a")
	type result struct {
		ok  int
		err error
	}
	done := make(chan result, 1)
	started := make(chan struct{})
	go func() {
		var r result
		for i := 0; ; i++ {
			if i == 5 {
				close(started)
			}
			err := h.s.AppendJournal(h.ctx, entry("p1", "api", i, store.StepIntent, at(0)), old)
			if err != nil {
				r.err = err
				break
			}
			r.ok++
		}
		if r.ok < 5 {
			close(started)
		}
		done <- r
	}()
	<-started // the old holder is appending
	h.clk.Advance(leaseTTL)
	cur := h.acquire(t, "api", "b")
	marker := entry("p1", "api", -1, store.StepAborted, at(leaseTTL))
	marker.Name = "takeover"
	must(t, "new holder's append", h.s.AppendJournal(h.ctx, marker, cur))
	r := <-done
	isErr(t, "old holder's append loop ended with", r.err, store.ErrFenced)

	j, err := h.s.Journal(h.ctx, "p1")
	must(t, "Journal", err)
	if len(j) != r.ok+1 {
		t.Fatalf("journal has %d entries; the old holder saw %d succeed, plus the marker", len(j), r.ok)
	}
	for i, e := range j[:r.ok] {
		if e.Step != i || e.Name == "takeover" {
			t.Fatalf("journal[%d] = step %d %s: the old holder's entries are not all before the takeover", i, e.Step, e.Name)
		}
	}
	if j[r.ok].Name != "takeover" {
		t.Errorf("last entry %+v, want the new holder's marker", j[r.ok])
	}
}
