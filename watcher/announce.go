package watcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/canaryd/canaryd/store"
)

// AnnounceStatus is how an announcement was answered.
type AnnounceStatus string

// Announcement answers. Only Started changes anything.
const (
	AnnounceStarted   AnnounceStatus = "started"    // a watch started now
	AnnounceDuplicate AnnounceStatus = "duplicate"  // the deploy is already under watch
	AnnounceStale     AnnounceStatus = "stale"      // the alias does not serve the announced version as its deploy
	AnnounceKnownGood AnnounceStatus = "known_good" // the announced version is the known-good one: nothing to watch
)

// AnnounceResult answers POST /v1/deploys.
type AnnounceResult struct {
	Status       AnnounceStatus     `json:"status"`
	Target       string             `json:"target"`
	Version      string             `json:"version"`
	AliasVersion string             `json:"alias_version"`
	AliasWeights map[string]float64 `json:"alias_weights,omitempty"`
	WatchID      string             `json:"watch_id,omitempty"`
	Message      string             `json:"message"`
}

// Announce takes a pipeline's word that version of target was just
// deployed. It reads the alias now: a version the alias does not serve is
// stale, a deploy already under watch is a duplicate, and neither changes
// anything; otherwise the watch starts at once. The error is for unknown
// targets (ErrUnknownTarget) and failed reads, never for stale input.
func (d *Detector) Announce(ctx context.Context, target, version string) (AnnounceResult, error) {
	s, ok := d.slots[target]
	if !ok {
		return AnnounceResult{}, fmt.Errorf("announce %q: %w", target, ErrUnknownTarget)
	}
	s.obs.Lock()
	res, c, err := d.announceLocked(ctx, s, version)
	s.obs.Unlock()
	if err != nil {
		return res, err
	}
	d.notify(c)
	return res, nil
}

func (d *Detector) announceLocked(ctx context.Context, s *targetSlot, version string) (AnnounceResult, change, error) {
	a, err := d.readAlias(ctx, s.t)
	if err != nil {
		d.cfg.Metrics.PollErrors.Inc()
		return AnnounceResult{}, change{}, fmt.Errorf("announce %s version %s: %w", s.t.Name, version, err)
	}
	res := AnnounceResult{Target: s.t.Name, Version: version, AliasVersion: a.Version, AliasWeights: a.Weights}
	alias := s.t.Function + ":" + s.t.Alias
	if !a.shows(version) {
		res.Status = AnnounceStale
		res.Message = fmt.Sprintf("alias %s serves %s, not announced version %s: nothing changed", alias, a.describe(), version)
		return res, change{}, nil
	}
	st, err := d.cfg.Store.GetTarget(ctx, s.t.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return res, change{}, fmt.Errorf("announce %s: get target state: %w", s.t.Name, err)
	}
	if version == st.KnownGood {
		res.Status = AnnounceKnownGood
		res.Message = fmt.Sprintf("version %s is the known-good version of %s: nothing to watch", version, s.t.Name)
		return res, change{}, nil
	}
	if cand := a.candidate(st.KnownGood); cand != version {
		res.Status = AnnounceStale
		res.Message = fmt.Sprintf("alias %s serves %s; the deploy under test is version %s, not %s: nothing changed", alias, a.describe(), cand, version)
		return res, change{}, nil
	}
	if prior, err := d.watchOf(ctx, s.t.Name, version, a.RevisionID); err != nil {
		return res, change{}, err
	} else if prior != nil {
		res.Status = AnnounceDuplicate
		res.WatchID = prior.ID
		res.Message = fmt.Sprintf("version %s of %s is already watched (watch %s, %s): nothing changed", version, s.t.Name, prior.ID, prior.Phase)
		return res, change{}, nil
	}
	c, err := d.apply(ctx, s.t, a, seen{source: SourceAnnounce, force: true})
	if err != nil {
		return res, change{}, fmt.Errorf("announce %s version %s: %w", s.t.Name, version, err)
	}
	res.Status = AnnounceStarted
	res.WatchID = c.started.ID
	res.Message = fmt.Sprintf("watch %s started for %s version %s (known-good %q)", c.started.ID, s.t.Name, version, c.started.KnownGood)
	if c.started.KnownGood == "" {
		res.Message += "; no known-good version: alert only"
	}
	return res, c, nil
}

// watchOf finds a watch of target for version: a running one, or any one
// that was started for the same alias revision.
func (d *Detector) watchOf(ctx context.Context, target, version, revision string) (*store.Watch, error) {
	ws, err := d.cfg.Store.ListWatches(ctx, store.WatchFilter{Target: target, Limit: 20})
	if err != nil {
		return nil, fmt.Errorf("list watches of %s: %w", target, err)
	}
	for i := range ws {
		w := &ws[i]
		if w.NewVersion != version {
			continue
		}
		if !w.Phase.Final() || w.RevisionID == revision {
			return w, nil
		}
	}
	return nil, nil
}
