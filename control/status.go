package control

import (
	"context"
	"encoding/json"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"
)

// Status is a snapshot of every configured target.
func (c *Controller) Status(ctx context.Context) (api.Status, error) {
	conf, ts, order := c.cfg.Daemon.Targets()
	inForce, err := c.cfg.Overrides.InForce(ctx, "")
	if err != nil {
		return api.Status{}, err
	}
	st := api.Status{Time: c.cfg.Clock.Now(), Replica: conf.Daemon.ReplicaID, DryRun: c.cfg.DryRun || conf.Daemon.DryRun,
		Paused: watch.Paused(inForce, "*") != nil, Overrides: inForce}
	owned := c.cfg.Leases.Names()
	for _, name := range order {
		t := ts[name]
		s := api.TargetStatus{Name: name, Function: t.Conf.Function, Alias: t.Conf.Alias,
			Paused: watch.Paused(inForce, name) != nil, DryRun: t.Lifecycle.DryRun}
		if owned[name] {
			s.LeaseOwner = conf.Daemon.ReplicaID
		}
		for _, o := range inForce {
			if o.Applies(name) {
				s.Overrides = append(s.Overrides, o)
			}
		}
		if ss, err := c.cfg.Store.GetTarget(ctx, name); err == nil {
			s.Version, s.Weights, s.RevisionID, s.ObservedAt, s.KnownGood = ss.Version, ss.Weights, ss.RevisionID, ss.ObservedAt, ss.KnownGood
		}
		if ws, err := c.cfg.Store.ListWatches(ctx, store.WatchFilter{Target: name, ActiveOnly: true, Limit: 1}); err == nil && len(ws) > 0 {
			s.Watch = watchStatus(t, ws[0])
		}
		s.Error = t.Memory.ObservationError()
		st.Targets = append(st.Targets, s)
	}
	return st, nil
}

// watchStatus is the status of w, a watch of t: when its bake and its
// rollback window end, and its last verdict (from memory, else as stored).
func watchStatus(t *targets.Target, w store.Watch) *api.WatchStatus {
	ws := &api.WatchStatus{ID: w.ID, Phase: w.Phase, NewVersion: w.NewVersion, KnownGood: w.KnownGood,
		DetectedAt: w.DetectedAt, IncidentID: w.IncidentID, Rollout: w.Rollout, Source: w.Source, EventAt: w.EventAt}
	if w.Phase == store.PhaseBaking {
		ws.BakeUntil = w.DetectedAt.Add(t.Conf.BakeTime.Duration)
	}
	ws.PromotedAt, ws.Reason, ws.AlertOnlyAt, ws.AlertOnlyWhy = w.PromotedAt, w.Reason, w.AlertOnlyAt, w.AlertOnlyWhy
	if w.Phase == store.PhasePromoted && !w.PromotedAt.IsZero() {
		ws.WindowUntil = w.PromotedAt.Add(t.Conf.RollbackWindow.Duration)
	}
	if v, ok := t.Memory.Verdict(w.ID); ok {
		ws.LastVerdict = &v
	}
	if ws.LastVerdict == nil && len(w.LastVerdict) > 0 {
		var v policy.Verdict
		if json.Unmarshal(w.LastVerdict, &v) == nil {
			ws.LastVerdict = &v
		}
	}
	return ws
}
