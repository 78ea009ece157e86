package quality

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/replay"
)

// ReplayFunc runs a trace through canaryd's decision code for a target.
// DaemonReplay (the replay package: the daemon's policy and watch life
// cycle on the trace's clock) is the one in use; another backtest is one
// ReplayFunc away.
type ReplayFunc func(ctx context.Context, trace io.Reader, t config.Target) (Decision, error)

// DaemonReplay replays with replay.Run: a rollback is the daemon's trip, an
// alert-only failure (not followed by a trip) is an alert, a promotion
// stands unless a trip follows in the rollback window.
func DaemonReplay(ctx context.Context, trace io.Reader, t config.Target) (Decision, error) {
	res, err := replay.Run(ctx, trace, t, replay.Options{})
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Note: res.Final.Summary}
	switch {
	case res.Outcome == replay.RolledBack:
		d.Failing, d.At = true, res.DecidedAt.Sub(res.WatchStart)
		d.Note = note(res, event.Tripped, d.Note)
	case res.AlertOnly:
		d.Failing, d.AlertOnly = true, true
		for _, e := range res.Timeline {
			if e.Kind == event.AlertOnly {
				d.At = e.At.Sub(res.WatchStart)
				break
			}
		}
		d.Note = note(res, event.AlertOnly, d.Note)
	case res.Outcome == replay.Promoted:
		d.Promoted, d.At = true, res.DecidedAt.Sub(res.WatchStart)
	}
	return d, nil
}

// note is the message of the timeline's first entry of kind k, or def.
func note(res replay.Result, k event.Kind, def string) string {
	for _, e := range res.Timeline {
		if e.Kind == k {
			return e.Message
		}
	}
	return def
}

// Canaryd judges with canaryd's rules for one target.
type Canaryd struct {
	Target config.Target
	Replay ReplayFunc // default DaemonReplay
}

// Name implements Judge.
func (c *Canaryd) Name() string { return "canaryd" }

// Promotes implements Promoter.
func (c *Canaryd) Promotes() bool { return true }

// Judge implements Judge.
func (c *Canaryd) Judge(ctx context.Context, cs *Case) (Decision, error) {
	run := c.Replay
	if run == nil {
		run = DaemonReplay
	}
	d, err := run(ctx, bytes.NewReader(cs.Bytes), c.Target)
	if err != nil {
		return d, fmt.Errorf("replay %s seed %d: %w", cs.Scenario.Kind, cs.Scenario.Seed, err)
	}
	return d, nil
}
