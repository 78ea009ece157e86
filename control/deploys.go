package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/knownbad"
	"github.com/canaryd/canaryd/watcher"
)

// AnnounceDeploy starts a watch at once for a deploy a pipeline announces.
func (c *Controller) AnnounceDeploy(ctx context.Context, name, version string) (api.AnnounceResult, error) {
	if _, err := c.target(name); err != nil {
		return api.AnnounceResult{}, err
	}
	r, err := c.cfg.Daemon.Detector().Announce(ctx, name, version)
	if err != nil {
		if errors.Is(err, watcher.ErrUnknownTarget) {
			return api.AnnounceResult{}, fmt.Errorf("%w: %v", api.ErrUnknownTarget, err)
		}
		return api.AnnounceResult{}, err
	}
	out := api.AnnounceResult{Target: name, Version: version, Changed: r.Status == watcher.AnnounceStarted, WatchID: r.WatchID, Message: r.Message}
	if r.Status == watcher.AnnounceStale {
		return out, fmt.Errorf("%w: %s", api.ErrStale, r.Message)
	}
	return out, nil
}

// StartRollout starts a rollout canaryd drives: a watch rolling out the
// version over the target's [target.rollout] steps. A known-bad version is
// refused.
func (c *Controller) StartRollout(ctx context.Context, name, version string) (api.AnnounceResult, error) {
	t, err := c.target(name)
	if err != nil {
		return api.AnnounceResult{}, err
	}
	if t.Conf.Rollout == nil {
		return api.AnnounceResult{}, fmt.Errorf("%w: target %s has no [target.rollout]: canaryd only watches its deploys", api.ErrBadRequest, name)
	}
	steps, err := watcher.RolloutSteps(t.Conf.Rollout)
	if err != nil {
		return api.AnnounceResult{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if in, bad, err := knownbad.ForTarget(ctx, c.cfg.Store, t.Conf, version); err != nil {
		return api.AnnounceResult{}, err
	} else if bad {
		return api.AnnounceResult{}, fmt.Errorf("%w: rollout refused: %s", api.ErrConflict, knownbad.Why(in))
	}
	r, err := c.cfg.Daemon.Detector().StartRollout(ctx, name, version, steps)
	switch {
	case errors.Is(err, watcher.ErrRolloutConflict):
		return api.AnnounceResult{}, fmt.Errorf("%w: %v", api.ErrConflict, err)
	case errors.Is(err, watcher.ErrNoSuchVersion):
		return api.AnnounceResult{}, &api.FieldError{Field: "version", Message: err.Error()}
	case err != nil:
		return api.AnnounceResult{}, err
	}
	return api.AnnounceResult{Target: name, Version: version, Changed: true, WatchID: r.WatchID, Message: r.Message}, nil
}
