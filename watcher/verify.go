package watcher

import (
	"context"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// verifyPasses is how many consecutive all-passing probe rounds prove that
// a rollback restored health.
const verifyPasses = 3

// Verify is the actuator's Verifier: after the alias is back, it probes the
// target every probe interval until verifyPasses rounds in a row pass
// (healthy) or the window ends (not healthy, with the last failure).
func (pr *Prober) Verify(ctx context.Context, t config.Target, window time.Duration) (bool, string, error) {
	if len(t.Probes) == 0 {
		return true, "no probes configured: nothing to verify", nil
	}
	interval := t.Probes[0].Interval.Duration
	for _, p := range t.Probes[1:] {
		interval = min(interval, p.Interval.Duration)
	}
	deadline := pr.cfg.Clock.Now().Add(window)
	passes, rounds, lastFail := 0, 0, "no probe round completed"
	for {
		ok, why := pr.round(ctx, t)
		rounds++
		if ok {
			passes++
			if passes >= verifyPasses {
				return true, fmt.Sprintf("%d probe rounds in a row passed", passes), nil
			}
		} else {
			passes, lastFail = 0, why
		}
		if !pr.cfg.Clock.Now().Add(interval).Before(deadline) {
			return false, fmt.Sprintf("health not restored within %s (%d rounds): %s", window, rounds, lastFail), nil
		}
		select {
		case <-ctx.Done():
			return false, "", ctx.Err()
		case <-pr.cfg.Clock.After(interval):
		}
	}
}

func (pr *Prober) round(ctx context.Context, t config.Target) (bool, string) {
	for _, p := range t.Probes {
		s := pr.Probe(ctx, t.Name, p)
		if s.Outcome != sample.OutcomeOK {
			return false, fmt.Sprintf("probe %s: %s", p.Name, s.Reason)
		}
	}
	return true, ""
}
