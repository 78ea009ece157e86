package notify

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/event"
)

// incidentPages are the trigger and the resolve of one incident, with
// the dedup ids the outbox gives them.
func incidentPages() (trigger, resolve Event) {
	trigger = trippedEvent()
	trigger.ID = "alert-trip"
	resolve = trippedEvent()
	resolve.ID, resolve.Type, resolve.Severity = "alert-done", event.RollbackDone, event.Info
	return trigger, resolve
}

func types(evs []Event) []event.Kind {
	out := make([]event.Kind, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// TestResolveNeverOvertakesItsTrigger: a trigger whose attempts run out
// (the receiver hung for longer than they last) must not be overtaken by
// its incident's resolve queued behind it. Before, the resolve was
// delivered at once and the trigger only when the outbox sent it again, a
// minute or more later: PagerDuty drops a resolve for an unknown dedup key,
// and the trigger then opened a page nothing resolved (chaos: a pager hung
// for 35 s during a rollback got rollback_done 76 s before tripped).
func TestResolveNeverOvertakesItsTrigger(t *testing.T) {
	var mu sync.Mutex
	var outcomes []Outcome
	got := func() []Outcome { mu.Lock(); defer mu.Unlock(); return append([]Outcome(nil), outcomes...) }
	// The receiver fails the trigger's two attempts, then the two it is
	// given again ahead of the resolve; then it answers.
	n := &scripted{name: "pd", errs: []error{errRetry, errRetry, errRetry, errRetry}}
	h := newHarness(t, Config{Notifiers: map[string]Notifier{"pd": n}, MaxAttempts: 2,
		OnOutcome: func(o Outcome) { mu.Lock(); outcomes = append(outcomes, o); mu.Unlock() }})
	trigger, resolve := incidentPages()
	h.d.Send(trigger)
	h.d.Send(resolve)
	h.advanceUntil(t, "the resolve's outcome", time.Second, func() bool {
		for _, o := range got() {
			if o.ID == resolve.ID {
				return true
			}
		}
		return false
	})
	if d := n.delivered(); len(d) > 0 {
		t.Fatalf("delivered %v while the trigger was undelivered, want nothing", types(d))
	}
	for _, o := range got() {
		if o.ID == resolve.ID && (o.Delivered || o.Attempts != 0 || !strings.Contains(o.Error, ErrHeldBehind.Error())) {
			t.Errorf("resolve outcome %+v, want undelivered, held behind its trigger", o)
		}
	}
	// The outbox sends both again, oldest first: the trigger, then the resolve.
	h.d.SendTo(trigger, []string{"pd"})
	h.d.SendTo(resolve, []string{"pd"})
	h.advanceUntil(t, "both delivered", time.Second, func() bool { return len(n.delivered()) >= 2 })
	d := n.delivered()
	if len(d) != 2 || d[0].ID != trigger.ID || d[1].ID != resolve.ID {
		t.Errorf("delivered %v, want the trigger then the resolve, each once", types(d))
	}
}

// TestHeldTriggerGoesFirst: when the receiver has recovered by the time
// the resolve comes up, the resolve's turn delivers the held trigger
// first, then the resolve, without waiting for the outbox. Before, the
// resolve was delivered alone.
func TestHeldTriggerGoesFirst(t *testing.T) {
	done := make(chan Outcome, 8)
	n := &scripted{name: "pd", errs: []error{errRetry, errRetry}}
	h := newHarness(t, Config{Notifiers: map[string]Notifier{"pd": n}, MaxAttempts: 2,
		OnOutcome: func(o Outcome) { done <- o }})
	trigger, resolve := incidentPages()
	h.d.Send(trigger)
	h.d.Send(resolve)
	var last Outcome
	h.advanceUntil(t, "the resolve's outcome", time.Second, func() bool {
		for {
			select {
			case last = <-done:
				if last.ID == resolve.ID {
					return true
				}
			default:
				return false
			}
		}
	})
	if d := n.delivered(); len(d) != 2 || d[0].ID != trigger.ID || d[1].ID != resolve.ID || !last.Delivered {
		t.Errorf("delivered %v (resolve: %+v), want the trigger then the resolve", types(d), last)
	}
}
