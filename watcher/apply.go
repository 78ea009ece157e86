package watcher

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
)

// Reasons a detector ends a watch (metric label values).
const (
	endSuperseded     = "superseded"
	endManualRollback = "manual_rollback"
)

// change is what one observation did; callbacks run from it after the
// per-target lock is released.
type change struct {
	started    *store.Watch
	superseded *store.Watch // the watch the new one replaced
	ended      *store.Watch // ended with no successor (alias moved back by hand)
	updated    *store.Watch // same deploy, new weights
}

var errAlreadyFinal = errors.New("watch already final")

// seen is how an alias read came about.
type seen struct {
	source string
	// force starts a watch even when the state already shows the alias
	// (an announcement of a deploy whose earlier watch is gone).
	force bool
	// eventAt is the time of the deploy event that prompted the read
	// (source event), kept on the watch it starts.
	eventAt time.Time
}

// apply compares the alias with the stored target state and records what
// changed.
func (d *Detector) apply(ctx context.Context, t config.Target, a aliasView, how seen) (change, error) {
	source, force := how.source, how.force
	now := d.cfg.Clock.Now()
	st, err := d.cfg.Store.GetTarget(ctx, t.Name)
	since := now
	if errors.Is(err, store.ErrNotFound) {
		st = store.TargetState{Name: t.Name}
		if source != SourceAnnounce {
			fs, err := d.judgeFirstSight(ctx, t, a)
			if err != nil {
				return change{}, fmt.Errorf("first sight of %s: %w", t.Name, err)
			}
			if fs.adopt {
				st.KnownGood, st.KnownGoodAt = a.Version, now
				d.cfg.Logger.Info("first observation: live version adopted as known-good",
					zap.String("target", t.Name), zap.String("version", a.Version), zap.String("why", fs.why))
				return change{}, d.putState(ctx, st, a, now, "")
			}
			st.KnownGood, st.KnownGoodAt, since, source = fs.knownGood, now, fs.since, SourceRecovered
			d.cfg.Logger.Warn("first observation: the live version is a recent deploy; watching it",
				zap.String("target", t.Name), zap.String("version", a.Version), zap.String("known_good", fs.knownGood),
				zap.String("why", fs.why))
		}
	} else if err != nil {
		return change{}, fmt.Errorf("get target state %s: %w", t.Name, err)
	}

	if a.sameAs(st) && !force {
		if a.RevisionID != st.RevisionID {
			return change{}, d.putState(ctx, st, a, now, st.ActiveWatch)
		}
		return change{}, nil
	}
	active, err := d.activeWatches(ctx, t.Name)
	if err != nil {
		return change{}, err
	}
	cand := a.candidate(st.KnownGood)
	current := findWatch(active, st.ActiveWatch)

	switch {
	case cand == st.KnownGood && !force:
		return d.backToKnownGood(ctx, st, a, current, now)
	case current != nil && current.NewVersion == cand && !force:
		return d.shiftTraffic(ctx, st, a, *current, now)
	}
	dp := deploy{target: t, state: st, alias: a, version: cand, source: source, active: active, current: current, now: now, since: since, eventAt: how.eventAt}
	if source == SourceRecovered {
		dp.rollout, dp.resume, dp.resumed = resumableRollout(t, a, cand)
		if dp.resumed {
			d.cfg.Logger.Warn("first observation: the split is a step of the target's rollout; resuming it there",
				zap.String("target", t.Name), zap.String("version", cand), zap.Float64("weight", a.Weights[cand]))
		}
	}
	return d.startWatch(ctx, dp)
}

// resumableRollout finds, at a first sighting of a split alias, the step
// of the target's [target.rollout] whose weight the new version has: a
// rollout canaryd drove whose watch the store lost. The rollout goes on
// from there, rather than the split staying where it was for good.
func resumableRollout(t config.Target, a aliasView, version string) ([]store.RolloutStep, int, bool) {
	w, split := a.Weights[version]
	if t.Rollout == nil || !split || a.Version == version {
		return nil, 0, false
	}
	steps, err := RolloutSteps(t.Rollout)
	if err != nil {
		return nil, 0, false
	}
	for k, s := range steps[:len(steps)-1] {
		if math.Abs(s.Weight-w) < 1e-9 {
			return steps, k, true
		}
	}
	return nil, 0, false
}

// RolloutSteps are a [target.rollout]'s steps as a rollout watch holds
// them (weights as shares of the traffic).
func RolloutSteps(r *config.Rollout) ([]store.RolloutStep, error) {
	cs, err := r.RolloutSteps()
	if err != nil {
		return nil, err
	}
	steps := make([]store.RolloutStep, len(cs))
	for i, s := range cs {
		steps[i] = store.RolloutStep{Weight: s.Weight / 100, Hold: s.Hold.Duration, Gate: s.Gate}
	}
	return steps, nil
}

// deploy is what startWatch needs to know about a new deploy.
type deploy struct {
	target  config.Target
	state   store.TargetState
	alias   aliasView
	version string        // the version under watch now
	source  string        // how it was seen
	active  []store.Watch // the target's watches still running
	current *store.Watch  // the one the target state points at, if any
	now     time.Time
	since   time.Time           // when the deploy began: now, or earlier for one found at a first sighting
	eventAt time.Time           // the deploy event's time, when an event prompted the read
	rollout []store.RolloutStep // a rollout canaryd drives: the watch starts rolling out
	resume  int                 // ... at this step, its weight already set (resumed: a store that lost its data)
	resumed bool
}

// backToKnownGood handles an alias that serves only the known-good version
// again: a rollback by hand ends the running watch; the actuator's own
// rollback (watch tripped or rolling back) is left to the actuator.
func (d *Detector) backToKnownGood(ctx context.Context, st store.TargetState, a aliasView, current *store.Watch, now time.Time) (change, error) {
	var c change
	activeID := st.ActiveWatch
	if current != nil && !actuatorOwned(current.Phase) {
		ended, err := d.endWatch(ctx, current.ID, "", fmt.Sprintf("alias moved back to known-good version %s outside canaryd", a.Version), now)
		if err != nil {
			return c, err
		}
		if ended != nil {
			c.ended = ended
			d.cfg.Metrics.WatchesEnded.WithLabelValues(endManualRollback).Inc()
		}
		activeID = ""
	}
	return c, d.putState(ctx, st, a, now, activeID)
}

// shiftTraffic records a new split of the deploy already under watch.
func (d *Detector) shiftTraffic(ctx context.Context, st store.TargetState, a aliasView, current store.Watch, now time.Time) (change, error) {
	w, err := d.cfg.Store.UpdateWatch(ctx, current.ID, func(w *store.Watch) error {
		if w.Phase.Final() {
			return errAlreadyFinal
		}
		w.Weights = maps.Clone(a.Weights)
		w.RevisionID = a.RevisionID
		return nil
	})
	var c change
	switch {
	case errors.Is(err, errAlreadyFinal):
	case err != nil:
		return c, fmt.Errorf("update watch %s weights: %w", current.ID, err)
	default:
		c.updated = &w
	}
	return c, d.putState(ctx, st, a, now, st.ActiveWatch)
}

// startWatch creates the watch for a new deploy and supersedes every watch
// of the target still running.
func (d *Detector) startWatch(ctx context.Context, dp deploy) (change, error) {
	t, a := dp.target, dp.alias
	w := store.Watch{
		ID:         watchID(dp.now, t.Name, dp.version, a.RevisionID),
		Target:     t.Name,
		Phase:      store.PhaseBaking,
		KnownGood:  dp.state.KnownGood,
		NewVersion: dp.version,
		Weights:    maps.Clone(a.Weights),
		RevisionID: a.RevisionID,
		Source:     dp.source,
		DetectedAt: dp.since,
		EventAt:    dp.eventAt,
		// The version the alias served before: alone since then (zero
		// when not known or split).
		BaselineSince: dp.state.AloneSince,
	}
	if dp.rollout != nil && dp.resumed {
		w = watch.ResumeRollout(w, dp.rollout, dp.resume, dp.now)
	} else if dp.rollout != nil {
		w = watch.StartRollout(w, dp.rollout)
	} else if d.cfg.ProbeBaseline != nil {
		// Only results: a replica that does not probe the target (an
		// announcement it received) leaves them to the owner.
		if cut := d.KnownGoodCutoff(t.Name, w.KnownGood, w.DetectedAt); !cut.IsZero() {
			if pb := d.cfg.ProbeBaseline(t.Name, cut); pb.Len() > 0 {
				w.ProbeBaseline = pb
			}
		}
	}
	if err := d.cfg.Store.CreateWatch(ctx, w); err != nil {
		return change{}, fmt.Errorf("create watch for %s version %s: %w", t.Name, dp.version, err)
	}
	c := change{started: &w}
	for _, old := range dp.active {
		ended, err := d.endWatch(ctx, old.ID, w.ID, "superseded by deploy of version "+dp.version, dp.now)
		if err != nil {
			return c, err
		}
		if ended != nil {
			d.cfg.Metrics.WatchesEnded.WithLabelValues(endSuperseded).Inc()
			if dp.current != nil && old.ID == dp.current.ID || c.superseded == nil {
				c.superseded = ended
			}
		}
	}
	d.cfg.Metrics.DeploysDetected.WithLabelValues(dp.source).Inc()
	d.cfg.Logger.Info("deploy detected: watch started",
		zap.String("target", t.Name), zap.String("watch", w.ID), zap.String("version", dp.version),
		zap.String("known_good", w.KnownGood), zap.String("source", dp.source))
	return c, d.putState(ctx, dp.state, a, dp.now, w.ID)
}

// endWatch marks a running watch superseded; nil if it had already ended.
func (d *Detector) endWatch(ctx context.Context, id, by, reason string, now time.Time) (*store.Watch, error) {
	w, err := d.cfg.Store.UpdateWatch(ctx, id, func(w *store.Watch) error {
		if w.Phase.Final() {
			return errAlreadyFinal
		}
		*w = watch.Supersede(*w, by, reason, now)
		return nil
	})
	switch {
	case errors.Is(err, errAlreadyFinal), errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("end watch %s: %w", id, err)
	}
	return &w, nil
}

func (d *Detector) activeWatches(ctx context.Context, target string) ([]store.Watch, error) {
	ws, err := d.cfg.Store.ListWatches(ctx, store.WatchFilter{Target: target, ActiveOnly: true})
	if err != nil {
		return nil, fmt.Errorf("list active watches of %s: %w", target, err)
	}
	return ws, nil
}

func (d *Detector) putState(ctx context.Context, st store.TargetState, a aliasView, now time.Time, activeWatch string) error {
	switch {
	case len(a.Weights) > 0 || st.ObservedAt.IsZero():
		// Split, or the first observation: since when is not known.
		st.AloneSince = time.Time{}
	case a.Version != st.Version || len(st.Weights) > 0:
		st.AloneSince = now // the alias moved since the last read; this one is after it
	}
	st.Version = a.Version
	st.Weights = maps.Clone(a.Weights)
	st.RevisionID = a.RevisionID
	st.ObservedAt = now
	st.ActiveWatch = activeWatch
	if err := d.cfg.Store.PutTarget(ctx, st); err != nil {
		return fmt.Errorf("put target state %s: %w", st.Name, err)
	}
	return nil
}

func (d *Detector) notify(c change) {
	if c.started != nil && d.cfg.OnWatch != nil {
		d.cfg.OnWatch(*c.started, c.superseded)
	}
	if c.ended != nil && d.cfg.OnEnd != nil {
		d.cfg.OnEnd(*c.ended)
	}
	if c.updated != nil && d.cfg.OnUpdate != nil {
		d.cfg.OnUpdate(*c.updated)
	}
}

// actuatorOwned phases have a rollback under way: an alias back on the
// known-good version is the actuator's doing, not an operator's.
func actuatorOwned(p store.Phase) bool {
	return p == store.PhaseTripped || p == store.PhaseRollingBack
}

func findWatch(ws []store.Watch, id string) *store.Watch {
	if id == "" {
		return nil
	}
	for i := range ws {
		if ws[i].ID == id {
			return &ws[i]
		}
	}
	return nil
}

// watchID is unique and sorts by detection time: time, target, version and
// the alias revision that showed the deploy.
func watchID(now time.Time, target, version, revision string) string {
	rev := strings.ReplaceAll(revision, "-", "")
	if len(rev) > 8 {
		rev = rev[:8]
	}
	return now.UTC().Format("20060102T150405.000000000Z") + "-" + target + "-v" + version + "-" + rev
}
