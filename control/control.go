// Package control is the admin API's face of a running daemon
// (api.Controller): status, deploy announcements, rollouts, manual
// rollbacks and overrides. It checks requests and answers with the API's
// errors; the daemon's parts do the work: the detector starts watches and
// rollouts, the runner runs a manual rollback's plan, the store keeps
// overrides.
package control

import (
	"context"
	"fmt"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watcher"
)

// Daemon is the running daemon as the controller sees it. What it returns
// is what is in force now: a config reload replaces it.
type Daemon interface {
	// Targets returns the config in force and its targets, by name and in
	// config order.
	Targets() (*config.Config, map[string]*targets.Target, []string)
	// Detector starts watches and rollouts (watcher.Detector).
	Detector() Detector
	// Planner plans manual rollbacks (actuator.Actuator).
	Planner() Planner
}

// Overrides reads and announces overrides (overrides.Keeper).
type Overrides interface {
	// InForce returns the overrides in force: all of them (target empty)
	// or those that apply to target.
	InForce(ctx context.Context, target string) ([]store.Override, error)
	// Announce tells every target o applies to what happened to it
	// (history, log and alerts: promise 7).
	Announce(ctx context.Context, o store.Override, kind event.Kind, msg string)
}

// Detector starts watches (watcher.Detector).
type Detector interface {
	Announce(ctx context.Context, target, version string) (watcher.AnnounceResult, error)
	StartRollout(ctx context.Context, target, version string, steps []store.RolloutStep) (watcher.AnnounceResult, error)
}

// Planner plans a manual rollback of t to toVersion (the known-good one
// when empty) (actuator.Actuator).
type Planner interface {
	PlanManual(ctx context.Context, t config.Target, toVersion string) (actuator.Plan, error)
}

// Rollbacks opens and runs manual rollbacks (runner.Runner).
type Rollbacks interface {
	// OpenManual opens the incident of plan (effects.IncidentOpenError
	// while another one of the target is open).
	OpenManual(ctx context.Context, t *targets.Target, plan actuator.Plan) (store.Incident, error)
	// RunManual runs its plan and waits for it, not long
	// (runner.ErrStillRunning).
	RunManual(ctx context.Context, t *targets.Target, inc store.Incident, plan actuator.Plan, fence store.Fence) (actuator.Result, error)
}

// Leases are the targets this replica owns (lease.Table).
type Leases interface {
	Names() map[string]bool
	Fence(target string) (store.Fence, bool)
}

// Config is what a Controller is built from.
type Config struct {
	Store     store.Store
	Clock     clockwork.Clock
	Daemon    Daemon
	Leases    Leases
	Rollbacks Rollbacks
	Overrides Overrides
	// DryRun is the --dry-run flag: alert-only on top of the config.
	DryRun bool
}

// Controller implements api.Controller.
type Controller struct{ cfg Config }

var _ api.Controller = (*Controller)(nil)

// New builds a Controller.
func New(c Config) *Controller { return &Controller{cfg: c} }

// target is the runtime of a configured target, or api.ErrUnknownTarget.
func (c *Controller) target(name string) (*targets.Target, error) {
	_, ts, _ := c.cfg.Daemon.Targets()
	t := ts[name]
	if t == nil {
		return nil, fmt.Errorf("target %q: %w", name, api.ErrUnknownTarget)
	}
	return t, nil
}
