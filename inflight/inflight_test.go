package inflight

import (
	"slices"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

func TestClaimIsExclusive(t *testing.T) {
	b := New()
	if !b.Claim("w1/traffic") || b.Claim("w1/traffic") {
		t.Fatal("a claimed key was claimed again")
	}
	if b.Running() != 1 {
		t.Fatalf("running %d, want 1", b.Running())
	}
	b.Release("w1/traffic")
	if !b.Claim("w1/traffic") {
		t.Fatal("a released key could not be claimed")
	}
}

// TestStoreLossWhileAPlanRuns is the life of an incident whose store is
// lost while its plan runs: re-recorded as an incident without a watch,
// it must still be reported once the first plan finishes (it used to be
// dropped then, and its page was never resolved).
func TestStoreLossWhileAPlanRuns(t *testing.T) {
	b := New()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	in := store.Incident{ID: "inc-1", WatchID: "w1", Target: "api"}
	if !b.Start(in) || b.Start(in) {
		t.Fatal("an incident's plan started twice")
	}
	if got := b.Stopped(t0, 10*time.Second); len(got) != 0 {
		t.Fatalf("an automatic plan reported as stopped: %v", got)
	}
	// The store loses its data: the daemon re-records what is in flight.
	lost := b.InFlight()
	if len(lost) != 1 || lost[0].ID != "inc-1" {
		t.Fatalf("in flight %+v", lost)
	}
	re := lost[0]
	re.WatchID = ""
	b.Track(re)
	if got := b.Stopped(t0, 10*time.Second); len(got) != 0 {
		t.Fatalf("reported while its plan still runs: %v", got)
	}
	// The first plan finishes; its outcome could not reach its watch.
	b.Finished(in)
	b.Release(in.ID)
	if got := b.Stopped(t0, 10*time.Second); !slices.Equal(got, []string{"inc-1"}) {
		t.Fatalf("stopped %v, want the re-recorded incident", got)
	}
	// Reported at most once every 10 s.
	if got := b.Stopped(t0.Add(5*time.Second), 10*time.Second); len(got) != 0 {
		t.Fatalf("reported again within the interval: %v", got)
	}
	if got := b.Stopped(t0.Add(10*time.Second), 10*time.Second); len(got) != 1 {
		t.Fatalf("not reported after the interval: %v", got)
	}
	// Its plan, re-run, finishes: nothing is left.
	if !b.Start(re) {
		t.Fatal("the re-recorded incident's plan could not start")
	}
	b.Finished(re)
	b.Release(re.ID)
	if b.Len() != 0 || len(b.Stopped(t0.Add(time.Minute), 10*time.Second)) != 0 {
		t.Fatalf("%d incidents left in flight", b.Len())
	}
}

func TestFinishedWithoutAStoreLoss(t *testing.T) {
	b := New()
	in := store.Incident{ID: "inc-2", WatchID: "w2"}
	b.Start(in)
	b.Finished(in)
	b.Release(in.ID)
	if b.Len() != 0 || b.Running() != 0 {
		t.Fatalf("left: %d incidents, %d running", b.Len(), b.Running())
	}
	manual := store.Incident{ID: "inc-3"}
	b.Start(manual)
	b.Release(manual.ID) // its journal write failed: stopped, not finished
	if got := b.Stopped(time.Now(), time.Second); !slices.Equal(got, []string{"inc-3"}) {
		t.Fatalf("stopped %v, want the manual rollback", got)
	}
	b.Forget("inc-3")
	if b.Len() != 0 {
		t.Fatal("Forget left it")
	}
}
