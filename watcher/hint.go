package watcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/store"
)

// What a deploy event does to the detector: Hint re-reads the alias it
// names now, and the polls slow down while events flow (pace).

// HintStatus is what a deploy event led to.
type HintStatus string

// Hint answers.
const (
	HintStarted   HintStatus = "started"   // the alias read showed a new deploy: a watch started
	HintUnchanged HintStatus = "unchanged" // the alias read showed nothing new (already seen, or moved back)
	HintLate      HintStatus = "late"      // the event predates the last alias change recorded: not read
)

// HintResult is what Hint did.
type HintResult struct {
	Status HintStatus
	Watch  *store.Watch // the watch started (HintStarted)
}

// lateMargin allows for skew between AWS's event times and our clock: an
// event is late only when it is older than the target's last recorded
// alias change by more than this.
const lateMargin = time.Minute

// Hint takes a deploy event's word that target's alias changed at eventAt.
// The event is a hint, not the truth: the alias is read now and applied
// as a poll would be (the watch's Source is "event"), so a duplicate or an
// out-of-order event finds nothing new. An event older than the last alias
// change recorded in the store is late and costs no read. Like Announce it
// is not limited to owned targets: a watch it starts is in the shared store
// for the owner. The error is for unknown targets and failed reads or
// store writes: the event should be tried again.
func (d *Detector) Hint(ctx context.Context, target string, eventAt time.Time) (HintResult, error) {
	s, ok := d.slots[target]
	if !ok {
		return HintResult{}, fmt.Errorf("deploy event for %q: %w", target, ErrUnknownTarget)
	}
	s.obs.Lock()
	st, err := d.cfg.Store.GetTarget(ctx, target)
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		s.obs.Unlock()
		return HintResult{}, fmt.Errorf("deploy event for %s: get target state: %w", target, err)
	case err == nil && !eventAt.IsZero() && eventAt.Add(lateMargin).Before(st.ObservedAt):
		s.obs.Unlock()
		return HintResult{Status: HintLate}, nil
	}
	alias, err := d.readSlot(ctx, s)
	if err != nil {
		s.obs.Unlock()
		return HintResult{}, fmt.Errorf("deploy event for %s: %w", target, err)
	}
	c, err := d.apply(ctx, s.t, alias, seen{source: SourceEvent, eventAt: eventAt})
	s.obs.Unlock()
	if err != nil {
		return HintResult{}, fmt.Errorf("deploy event for %s: %w", target, err)
	}
	d.notify(c)
	if c.started != nil {
		return HintResult{Status: HintStarted, Watch: c.started}, nil
	}
	return HintResult{Status: HintUnchanged}, nil
}

// pace slows the polls to the events sweep while deploy events flow and
// restores them when they stop: each target's next read moves to its slot
// in the interval now in force (never later, when speeding up). A target
// backing off after a failed read keeps its retry, and a read already due
// is not put off.
func (d *Detector) pace(now time.Time) {
	if d.cfg.EventsFlowing == nil || d.cfg.EventSweep <= 0 {
		return
	}
	flowing := d.cfg.EventsFlowing()
	d.mu.Lock()
	if flowing == d.slow {
		d.mu.Unlock()
		return
	}
	d.slow = flowing
	for _, s := range d.order {
		if s.fails > 0 || !s.due.After(now) {
			continue // a retry keeps its backoff; a read already due happens now
		}
		interval, offset := d.intervalLocked(s)
		if next := nextSlot(now, interval, offset); flowing || next.Before(s.due) {
			s.due = next
		}
	}
	d.mu.Unlock()
	if flowing {
		d.cfg.Metrics.EventsFlowing.Set(1)
		d.cfg.Logger.Info("deploy events flow: each alias is now read once per events sweep",
			zap.Duration("sweep", d.cfg.EventSweep))
		return
	}
	d.cfg.Metrics.EventsFlowing.Set(0)
	d.cfg.Logger.Warn("deploy events stopped: alias polls back to the poll interval",
		zap.Duration("poll_interval", d.cfg.PollInterval))
}

// intervalLocked is the poll interval in force and s's offset in it (0
// for a nil s). d.mu is held.
func (d *Detector) intervalLocked(s *targetSlot) (time.Duration, time.Duration) {
	if d.slow {
		if s == nil {
			return d.cfg.EventSweep, 0
		}
		return d.cfg.EventSweep, s.offsetSlow
	}
	if s == nil {
		return d.cfg.PollInterval, 0
	}
	return d.cfg.PollInterval, s.offset
}
