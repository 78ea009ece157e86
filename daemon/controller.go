package daemon

import (
	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/control"
	"github.com/canaryd/canaryd/targets"
)

// Controller returns the daemon's face for the admin API.
func (d *Daemon) Controller() api.Controller {
	return control.New(control.Config{Store: d.cfg.Store, Clock: d.clock, Daemon: facade{d}, Leases: d.leases,
		Rollbacks: d.runner, Overrides: d.overrides, DryRun: d.cfg.DryRun})
}

// facade is the daemon as the controller sees it (control.Daemon).
type facade struct{ d *Daemon }

func (f facade) Targets() (*config.Config, map[string]*targets.Target, []string) {
	return f.d.snapshot()
}

func (f facade) Detector() control.Detector { return f.d.current().detector }

func (f facade) Planner() control.Planner { return f.d.current().act }

// Traces is the watches' recorded replay traces for the admin API (nil
// without daemon.trace_dir).
func (d *Daemon) Traces() api.TraceSource {
	if d.traces == nil {
		return nil
	}
	return d.traces
}
