package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/api"
)

// Experiment 5: operators race. Several manual rollbacks at once (on
// every replica) must run one plan once; a manual rollback racing an
// automatic trip must not roll back twice or open two incidents at once.

func TestConcurrentManualRollbacks(t *testing.T) {
	t.Parallel()
	exp := "5 manual/concurrent requests"
	runTrials(t, exp, *flagM, func(tr *trial) {
		w := newWorld(tr, worldOpts{replicas: 2})
		w.deploy(fnShop, "2")
		w.waitWatch(fnShop, "2")
		owner := w.owner(fnShop)
		n := 5 + tr.rng.Intn(6)
		answers := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			r := w.replicas[i%len(w.replicas)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, answers[i] = r.rollback(context.Background(), fnShop, "", fmt.Sprintf("operator-%d", i))
			}()
		}
		wg.Wait()
		ok, conflicts, elsewhere := 0, 0, 0
		for i, err := range answers {
			switch r := w.replicas[i%len(w.replicas)]; {
			case err == nil:
				ok++
			case conflict(err):
				conflicts++
			case errors.Is(err, api.ErrUnavailable) && r != owner:
				elsewhere++
			default:
				tr.Errorf("invariant: request %d to %s: %v", i, r.id, err)
			}
		}
		tr.note(fmt.Sprintf("%d requests", n))
		if ok != 1 || ok+conflicts+elsewhere != n {
			tr.Errorf("invariant: %d of %d requests ran (%d refused with 409, %d by the non-owner); want exactly 1", ok, n, conflicts, elsewhere)
		}
		w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: 1})
	})
}

func TestManualRollbackRacingATrip(t *testing.T) {
	t.Parallel()
	exp := "5 manual/racing an automatic trip"
	runTrials(t, exp, *flagM, func(tr *trial) {
		w := newWorld(tr, worldOpts{})
		w.health.setBad(fnShop, "2", true)
		w.deploy(fnShop, "2")
		w.waitWatch(fnShop, "2")
		// The trip comes on the tick after the third failed probe: ask
		// after the second or third, at a random instant around the trip.
		k := 2 + tr.rng.Intn(2)
		w.eventually(fmt.Sprintf("%d failed probes", k), 20*time.Second, func() bool { return w.health.failed(fnShop) >= k })
		w.pause(tr.duration(0, 1500*time.Millisecond))
		_, err := w.replicas[0].rollback(context.Background(), fnShop, "1", "chaos-operator")
		switch {
		case err == nil:
			tr.note("manual rollback ran")
		case conflict(err):
			tr.note("manual rollback refused: the trip's incident was open")
		default:
			tr.Fatalf("manual rollback: %v", err)
		}
		w.finish(expect{fn: fnShop, good: "1", bad: []string{"2"}, reverts: 1, incidents: -1})
		incs := w.incidents(fnShop)
		var triggers []string
		for i := len(incs) - 1; i >= 0; i-- {
			triggers = append(triggers, incs[i].Trigger)
		}
		tr.note("incidents: " + strings.Join(triggers, " then "))
		if len(incs) == 0 || len(incs) > 2 {
			tr.Errorf("invariant: %d incidents, want 1 or 2 (never at once)", len(incs))
		}
	})
}
