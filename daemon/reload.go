package daemon

import (
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
)

// Reload swaps in a new config (SIGHUP). Watches in progress keep their
// samples; an error keeps the old config running and says why.
func (d *Daemon) Reload(conf *config.Config) error {
	if err := d.apply(conf); err != nil {
		d.metrics.ConfigReloads.WithLabelValues("error").Inc()
		d.log.Error("config reload failed; keeping the running config", zap.Error(err))
		return err
	}
	d.metrics.ConfigReloads.WithLabelValues("ok").Inc()
	d.log.Info("config reloaded", zap.Int("targets", len(conf.Targets)))
	return nil
}
