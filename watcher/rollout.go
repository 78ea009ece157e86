package watcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/canaryd/canaryd/store"
)

// SourceRollout is Watch.Source of a rollout canaryd drives.
const SourceRollout = "rollout"

// Errors of StartRollout the API tells apart.
var (
	ErrRolloutConflict = errors.New("rollout refused") // the alias or the target is not ready for one
	ErrNoSuchVersion   = errors.New("no such version")
)

// StartRollout starts a rollout of version on target: a watch in phase
// rolling_out, whose traffic the daemon then shifts step by step. The
// alias must serve the known-good version alone (a rollout starts from a
// settled alias), and version must be published. Watches still running on
// the target are superseded.
func (d *Detector) StartRollout(ctx context.Context, target, version string, steps []store.RolloutStep) (AnnounceResult, error) {
	s, ok := d.slots[target]
	if !ok {
		return AnnounceResult{}, fmt.Errorf("rollout %q: %w", target, ErrUnknownTarget)
	}
	s.obs.Lock()
	res, c, err := d.startRolloutLocked(ctx, s, version, steps)
	s.obs.Unlock()
	if err == nil {
		d.notify(c)
	}
	return res, err
}

func (d *Detector) startRolloutLocked(ctx context.Context, s *targetSlot, version string, steps []store.RolloutStep) (AnnounceResult, change, error) {
	res := AnnounceResult{Target: s.t.Name, Version: version}
	a, err := d.readAlias(ctx, s.t)
	if err != nil {
		return res, change{}, fmt.Errorf("rollout of %s: %w", s.t.Name, err)
	}
	res.AliasVersion, res.AliasWeights = a.Version, a.Weights
	st, err := d.cfg.Store.GetTarget(ctx, s.t.Name)
	if err != nil {
		return res, change{}, fmt.Errorf("%w: canaryd has not seen %s's alias yet (no known-good version): %v", ErrRolloutConflict, s.t.Name, err)
	}
	active, err := d.activeWatches(ctx, s.t.Name)
	if err != nil {
		return res, change{}, err
	}
	for _, w := range active {
		// Just promoted: the watch is saved before the target's known-good
		// is, and a pipeline may start its next rollout in between.
		if w.Phase == store.PhasePromoted && w.NewVersion == a.Version && len(a.Weights) == 0 {
			st.KnownGood = a.Version
		}
	}
	switch {
	case st.KnownGood == "":
		return res, change{}, fmt.Errorf("%w: %s has no known-good version to roll out from", ErrRolloutConflict, s.t.Name)
	case version == st.KnownGood:
		return res, change{}, fmt.Errorf("%w: version %s is already the known-good version of %s", ErrRolloutConflict, version, s.t.Name)
	case a.Version != st.KnownGood || len(a.Weights) > 0:
		return res, change{}, fmt.Errorf("%w: alias %s:%s serves %s, not the known-good version %s alone; a rollout starts from a settled alias",
			ErrRolloutConflict, s.t.Function, s.t.Alias, a.describe(), st.KnownGood)
	}
	if err := d.published(ctx, s, version); err != nil {
		return res, change{}, err
	}
	now := d.cfg.Clock.Now()
	c, err := d.startWatch(ctx, deploy{target: s.t, state: st, alias: a, version: version, source: SourceRollout,
		active: active, current: findWatch(active, st.ActiveWatch), now: now, since: now, rollout: steps})
	if err != nil {
		return res, c, err
	}
	res.Status, res.WatchID = AnnounceStarted, c.started.ID
	res.Message = fmt.Sprintf("rollout %s of %s version %s started over known-good %s (%d steps)", c.started.ID, s.t.Name, version, st.KnownGood, len(steps))
	return res, c, nil
}

// published checks that version exists (GetFunctionConfiguration).
func (d *Detector) published(ctx context.Context, s *targetSlot, version string) error {
	client := d.cfg.Clients(s.t.Name)
	if client == nil {
		return fmt.Errorf("rollout of %s: no Lambda client", s.t.Name)
	}
	_, err := client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{
		FunctionName: aws.String(s.t.Function), Qualifier: aws.String(version)})
	if err != nil {
		return fmt.Errorf("%w: version %s of %s: %v", ErrNoSuchVersion, version, s.t.Function, err)
	}
	return nil
}
