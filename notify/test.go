package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/event"
)

// TestEvent is the alert `canaryd notify test` sends: information only,
// about no deploy, with its own dedup key.
func TestEvent(now time.Time, nonce, from string) Event {
	key := "canaryd-test-" + nonce
	return Event{ID: key, Type: event.Test, Severity: event.Info, Time: now, Target: "canaryd-test", IncidentID: key,
		Message: fmt.Sprintf("test alert from canaryd on %s: alerts reach this receiver; no deploy is affected", from)}
}

// SendTest delivers a test alert through n, once, and — where the
// receiver opens an incident for it (PagerDuty) — resolves it at once.
func SendTest(ctx context.Context, n Notifier, ev Event) error {
	if err := n.Notify(ctx, ev); err != nil {
		return fmt.Errorf("notifier %s: %w", n.Name(), err)
	}
	if _, opens := n.(incidentOpener); opens {
		resolved := ev
		resolved.Type, resolved.Message = event.TestResolved, "test alert resolved"
		if err := n.Notify(ctx, resolved); err != nil {
			return fmt.Errorf("notifier %s: resolve the test alert: %w", n.Name(), err)
		}
	}
	return nil
}

// incidentOpener is a notifier whose receiver opens an incident per alert,
// which a test must resolve.
type incidentOpener interface{ opensIncidents() }

func (*PagerDuty) opensIncidents() {}
