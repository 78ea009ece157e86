package daemon

import (
	"context"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/control"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
)

// Controller returns the daemon's face for the admin API.
func (d *Daemon) Controller() api.Controller {
	return control.New(control.Config{Store: d.cfg.Store, Clock: d.clock, Daemon: facade{d}, Leases: d.leases,
		Rollbacks: d.runner, DryRun: d.cfg.DryRun})
}

// facade is the daemon as the controller sees it (control.Daemon).
type facade struct{ d *Daemon }

func (f facade) Targets() (*config.Config, map[string]*targets.Target, []string) {
	return f.d.snapshot()
}

func (f facade) Detector() control.Detector {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	return f.d.detector
}

func (f facade) Planner() control.Planner {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	return f.d.act
}

func (f facade) InForce(ctx context.Context, target string) ([]store.Override, error) {
	return f.d.inForce(ctx, target)
}

func (f facade) AnnounceOverride(ctx context.Context, o store.Override, kind event.Kind, msg string) {
	f.d.announceOverride(ctx, o, kind, msg)
}
