package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/knownbad"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watch"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watcher"
)

// Controller returns the daemon's face for the admin API.
func (d *Daemon) Controller() api.Controller { return controller{d} }

type controller struct{ d *Daemon }

var _ api.Controller = controller{}

func (c controller) target(name string) (*targets.Target, error) {
	_, ts, _ := c.d.snapshot()
	t := ts[name]
	if t == nil {
		return nil, fmt.Errorf("target %q: %w", name, api.ErrUnknownTarget)
	}
	return t, nil
}

// Status is a snapshot of every configured target.
func (c controller) Status(ctx context.Context) (api.Status, error) {
	d := c.d
	conf, ts, order := d.snapshot()
	now := d.clock.Now()
	inForce, err := d.inForce(ctx, "")
	if err != nil {
		return api.Status{}, err
	}
	st := api.Status{Time: now, Replica: conf.Daemon.ReplicaID, DryRun: d.dryRun(conf, config.Target{}),
		Paused: watch.Paused(inForce, "*") != nil, Overrides: inForce}
	owned := d.leases.Names()
	for _, name := range order {
		t := ts[name]
		ts := api.TargetStatus{Name: name, Function: t.Conf.Function, Alias: t.Conf.Alias,
			Paused: watch.Paused(inForce, name) != nil, DryRun: d.dryRun(conf, t.Conf)}
		if owned[name] {
			ts.LeaseOwner = conf.Daemon.ReplicaID
		}
		for _, o := range inForce {
			if o.Applies(name) {
				ts.Overrides = append(ts.Overrides, o)
			}
		}
		if s, err := d.cfg.Store.GetTarget(ctx, name); err == nil {
			ts.Version, ts.Weights, ts.RevisionID, ts.ObservedAt, ts.KnownGood = s.Version, s.Weights, s.RevisionID, s.ObservedAt, s.KnownGood
		}
		if ws, err := d.cfg.Store.ListWatches(ctx, store.WatchFilter{Target: name, ActiveOnly: true, Limit: 1}); err == nil && len(ws) > 0 {
			ts.Watch = watchStatus(t, ws[0])
		}
		ts.Error = t.Memory.ObservationError()
		st.Targets = append(st.Targets, ts)
	}
	return st, nil
}

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

// AnnounceDeploy starts a watch at once for a deploy a pipeline announces.
func (c controller) AnnounceDeploy(ctx context.Context, name, version string) (api.AnnounceResult, error) {
	if _, err := c.target(name); err != nil {
		return api.AnnounceResult{}, err
	}
	c.d.mu.Lock()
	det := c.d.detector
	c.d.mu.Unlock()
	r, err := det.Announce(ctx, name, version)
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
// version over the target's [target.rollout] steps.
func (c controller) StartRollout(ctx context.Context, name, version string) (api.AnnounceResult, error) {
	t, err := c.target(name)
	if err != nil {
		return api.AnnounceResult{}, err
	}
	if t.Conf.Rollout == nil {
		return api.AnnounceResult{}, fmt.Errorf("%w: target %s has no [target.rollout]: canaryd only watches its deploys", api.ErrBadRequest, name)
	}
	cs, err := t.Conf.Rollout.RolloutSteps()
	if err != nil {
		return api.AnnounceResult{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	steps := make([]store.RolloutStep, len(cs))
	for i, s := range cs {
		steps[i] = store.RolloutStep{Weight: s.Weight / 100, Hold: s.Hold.Duration, Gate: s.Gate}
	}
	if in, bad, err := c.d.knownBad(ctx, t, version); err != nil {
		return api.AnnounceResult{}, err
	} else if bad {
		return api.AnnounceResult{}, fmt.Errorf("%w: rollout refused: %s", api.ErrConflict, knownbad.Why(in))
	}
	c.d.mu.Lock()
	det := c.d.detector
	c.d.mu.Unlock()
	r, err := det.StartRollout(ctx, name, version, steps)
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

// Rollback plans, and unless PlanOnly executes, a manual rollback: the same
// plan and journal as an automatic one, run synchronously.
func (c controller) Rollback(ctx context.Context, req api.RollbackRequest) (api.RollbackResponse, error) {
	d := c.d
	t, err := c.target(req.Target)
	if err != nil {
		return api.RollbackResponse{}, err
	}
	d.mu.Lock()
	act := d.act
	d.mu.Unlock()
	fence, owned := d.leases.Fence(req.Target)
	plan, err := act.PlanManual(ctx, t.Conf, req.ToVersion)
	if errors.Is(err, actuator.ErrNoSuchVersion) || errors.Is(err, actuator.ErrNoKnownGood) {
		return api.RollbackResponse{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if err != nil {
		return api.RollbackResponse{}, err
	}
	resp := describe(plan)
	if req.PlanOnly {
		resp.Outcome = "planned"
		return resp, nil
	}
	if !owned {
		return resp, fmt.Errorf("%w: this replica does not hold the lease of %s", api.ErrUnavailable, req.Target)
	}
	plan.Input.Actor, plan.Input.Reason = req.Actor, req.Reason
	inc := store.Incident{ID: plan.ID, Target: req.Target, OpenedAt: d.clock.Now(), FromVersion: plan.Input.FromVersion,
		ToVersion: plan.Input.ToVersion, Trigger: "manual", Actor: req.Actor}
	if err := d.openIncident(ctx, inc, true); err != nil {
		var open errIncidentOpen
		if errors.As(err, &open) {
			return resp, fmt.Errorf("%w: a rollback of %s is already under way: incident %s (%s)", api.ErrConflict, req.Target, open.id, open.trigger)
		}
		return resp, err
	}
	if err := d.endActive(ctx, t, fmt.Sprintf("manual rollback to %s by %s: %s", plan.Input.ToVersion, req.Actor, req.Reason)); err != nil {
		return resp, err
	}
	if err := d.setKnownGood(ctx, req.Target, plan.Input.ToVersion); err != nil {
		return resp, err
	}
	d.note(ctx, t, watch.Note{Kind: event.Tripped, Severity: event.Warning, Target: req.Target, IncidentID: inc.ID,
		KnownGood: inc.ToVersion, NewVersion: inc.FromVersion,
		Message: fmt.Sprintf("manual rollback by %s: %s -> %s (%s)", req.Actor, inc.FromVersion, inc.ToVersion, req.Reason)})
	resp.IncidentID, resp.Outcome = inc.ID, "started"
	res, err := d.runManual(ctx, t, inc, plan, fence)
	switch {
	case errors.Is(err, errStillRunning):
		resp.Message = fmt.Sprintf("still running after %s (an AWS brown-out is retried for up to retry_for); follow it with: canaryd history --incident %s", manualWait, inc.ID)
		return resp, nil
	case err != nil:
		// The journal could not be written (the store is down), the lease
		// was lost or the daemon is stopping: the plan resumes from its
		// journal (resumeManual, or the target's next owner).
		resp.Message = fmt.Sprintf("interrupted (%v); it resumes from its journal within %s, on the replica that owns %s; follow it with: canaryd history --incident %s",
			err, manualSweep, req.Target, inc.ID)
		return resp, nil
	}
	resp.Outcome, resp.Message = string(res.Outcome), res.Reason
	return resp, nil
}

// manualWait bounds how long an operator's rollback request waits for the
// plan (under the admin API's write timeout); the plan goes on regardless.
const manualWait = 45 * time.Second

var errStillRunning = errors.New("rollback still running")

// runManual runs a manual rollback's plan in the background, on the
// daemon's context — an operator's client going away must not cut a
// rollback short, and an interrupted one resumes from its journal on
// restart or lease take-over — and waits for it at most manualWait.
func (d *Daemon) runManual(ctx context.Context, t *targets.Target, inc store.Incident, plan actuator.Plan, fence store.Fence) (actuator.Result, error) {
	d.mu.Lock()
	act := d.act
	d.mu.Unlock()
	type outcome struct {
		res actuator.Result
		err error
	}
	done := make(chan outcome, 1)
	d.work.Start(inc) // a new incident: resumeManual leaves it alone while it runs
	d.plans.Add(1)
	go func() {
		defer d.plans.Done()
		defer d.work.Release(inc.ID)
		res, err := act.Execute(d.workCtx, plan, fence)
		if err == nil {
			d.logErr(d.applyEffects(d.workCtx, t, store.Watch{}, watch.ManualDone(inc, planResult(res))), "finish manual rollback", inc.ID)
			d.work.Finished(inc)
		}
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-d.clock.After(manualWait):
		return actuator.Result{}, errStillRunning
	case <-ctx.Done():
		return actuator.Result{}, errStillRunning
	}
}

func describe(p actuator.Plan) api.RollbackResponse {
	var buf bytes.Buffer
	_ = p.Describe(&buf)
	r := api.RollbackResponse{Target: p.Target.Name, FromVersion: p.Input.FromVersion, ToVersion: p.Input.ToVersion, PlanText: buf.String()}
	for _, s := range p.Steps {
		r.Plan = append(r.Plan, api.PlanStep{Name: s.Name, Description: string(s.Kind), Critical: s.Critical})
	}
	return r
}

// endActive ends a target's judged watches (an operator took over).
func (d *Daemon) endActive(ctx context.Context, t *targets.Target, why string) error {
	ws, err := d.cfg.Store.ListWatches(ctx, store.WatchFilter{Target: t.Conf.Name, ActiveOnly: true})
	if err != nil {
		return err
	}
	for _, w := range ws {
		if !watch.Judged(w.Phase) {
			continue
		}
		if err := d.transit(ctx, t, w.ID, func(w store.Watch) (store.Watch, []watch.Effect) {
			return watch.End(w, why, d.clock.Now())
		}); err != nil {
			return err
		}
	}
	return nil
}

// SetOverride persists an override and announces it; the next Tick of
// every replica applies it.
func (c controller) SetOverride(ctx context.Context, o store.Override) (store.Override, error) {
	if o.Target != "*" {
		t, err := c.target(o.Target)
		if err != nil {
			return o, err
		}
		if o.Kind == store.OverrideForceRollback || o.Kind == store.OverrideMarkGood {
			ws, err := c.d.cfg.Store.ListWatches(ctx, store.WatchFilter{Target: o.Target, ActiveOnly: true})
			if err != nil {
				return o, err
			}
			active := false
			for _, w := range ws {
				active = active || watch.Judged(w.Phase)
			}
			if !active && o.Kind == store.OverrideMarkGood && o.Version != "" {
				// A known-bad version may be cleared with no deploy under watch.
				_, bad, err := c.d.knownBad(ctx, t, o.Version)
				if err != nil {
					return o, err
				}
				active = bad
			}
			if !active {
				return o, fmt.Errorf("%w: no deploy of %s is under watch; %s applies to the deploy being watched (use canaryd rollback to roll back now; mark-good --version V clears a rolled-back version)",
					api.ErrConflict, o.Target, o.Kind)
			}
		}
	}
	if err := c.d.cfg.Store.PutOverride(ctx, o); err != nil {
		return o, err
	}
	c.d.announceOverride(ctx, o, event.OverrideSet, fmt.Sprintf("override %s set on %s by %s: %s", o.Kind, o.Target, o.Actor, o.Reason))
	return o, nil
}

// DeleteOverride removes one (resume).
func (c controller) DeleteOverride(ctx context.Context, id string) error {
	all, err := c.d.cfg.Store.ListOverrides(ctx)
	if err != nil {
		return err
	}
	if err := c.d.cfg.Store.DeleteOverride(ctx, id); err != nil {
		return err
	}
	for _, o := range all {
		if o.ID == id {
			c.d.announceOverride(ctx, o, event.OverrideExpired, fmt.Sprintf("override %s on %s removed", o.Kind, o.Target))
		}
	}
	return nil
}
