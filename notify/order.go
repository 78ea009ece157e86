package notify

import (
	"errors"
	"fmt"
)

// An incident's pages reach each notifier in the order they were sent: a
// resolve never before its trigger. A worker delivers its queue in order,
// but an event whose attempts run out (a receiver that hangs or fails for
// longer than they last) leaves the queue, to be sent again by the
// outbox a minute or more later, while the events behind it go on. The
// incident's resolve then arrived first; PagerDuty drops a resolve for a
// dedup key it does not know, and the trigger sent after it opened a page
// nothing would ever resolve. So the worker holds such an event, and the
// next event of its incident first delivers the held ones; if they fail
// again it is held behind them, unsent (reported undelivered: the outbox
// keeps it and sends it again).

// delivery is how deliver ended.
type delivery int

const (
	delivered   delivery = iota // the notifier took it
	refused                     // refused for good: never sent again
	undelivered                 // attempts ran out, or shutdown: the outbox sends it again
)

// ErrHeldBehind is the Outcome error of an event not attempted because an
// earlier event of its incident is still undelivered.
var ErrHeldBehind = errors.New("held behind an undelivered earlier alert of its incident")

// deliverInOrder delivers ev after the held events of its incident.
func (d *Dispatcher) deliverInOrder(w *worker, ev Event) {
	if ev.IncidentID == "" {
		d.deliver(w, ev)
		return
	}
	queue := w.unhold(ev)
	for i, e := range queue {
		if d.deliver(w, e) != undelivered {
			continue
		}
		for _, later := range queue[i+1:] {
			d.report(w, later, 0, fmt.Errorf("%w (%s %s)", ErrHeldBehind, e.Type, e.ID))
		}
		w.hold(ev.IncidentID, queue[i:])
		return
	}
}

// unhold takes the events of ev's incident to deliver now, in order: the
// held ones up to ev when ev is one of them (the outbox sending it again;
// those after it wait for theirs), else every held one and then ev.
func (w *worker) unhold(ev Event) []Event {
	held := w.held[ev.IncidentID]
	for i, h := range held {
		if h.ID != "" && h.ID == ev.ID {
			if rest := held[i+1:]; len(rest) > 0 {
				w.held[ev.IncidentID] = append([]Event(nil), rest...)
			} else {
				delete(w.held, ev.IncidentID)
			}
			return append(held[:i:i], ev)
		}
	}
	delete(w.held, ev.IncidentID)
	return append(held[:len(held):len(held)], ev)
}

// hold puts events (oldest first) before whatever is still held of the
// incident.
func (w *worker) hold(incident string, events []Event) {
	if w.held == nil {
		w.held = map[string][]Event{}
	}
	w.held[incident] = append(append([]Event(nil), events...), w.held[incident]...)
}
