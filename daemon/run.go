package daemon

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// Run resumes unfinished work, then ticks until ctx ends. It returns after
// running plans have finished or the shutdown bound has passed; a plan cut
// short resumes from its journal on the next start.
func (d *Daemon) Run(ctx context.Context) error {
	sweeps := cron.New(cron.WithParser(config.CronParser), cron.WithLocation(time.UTC))
	if err := d.scheduleSweep(ctx, sweeps); err != nil {
		return err
	}
	sweeps.Start()
	defer sweeps.Stop()

	ticker := d.clock.NewTicker(d.cfg.TickEvery)
	defer ticker.Stop()
	d.Tick(ctx)
	for {
		select {
		case <-ctx.Done():
			return d.shutdown()
		case <-ticker.Chan():
			d.Tick(ctx)
		}
	}
}

func (d *Daemon) scheduleSweep(ctx context.Context, c *cron.Cron) error {
	conf, _, _ := d.snapshot()
	_, err := c.AddFunc(conf.Daemon.SweepCron, func() {
		d.mu.Lock()
		det := d.detector
		d.mu.Unlock()
		st := det.Sweep(ctx)
		d.log.Debug("sweep done", zap.Any("stats", st))
	})
	return err
}

func (d *Daemon) shutdown() error {
	conf, _, _ := d.snapshot()
	bound := conf.Daemon.ShutdownTimeout.Duration
	done := make(chan struct{})
	go func() { d.plans.Wait(); close(done) }()
	select {
	case <-done:
	case <-d.clock.After(bound):
		d.log.Warn("shutdown bound reached with plans still running; they resume from the journal on restart",
			zap.Duration("bound", bound))
	}
	d.cancelWork()
	d.mu.Lock()
	n := d.notifier
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = n.Close(ctx)
	return nil
}

// Tick does one round of the daemon's work: leases, overrides, deploy
// detection, probes, metrics when a period is due, then a verdict for every
// active watch. Tests call it step by step with a fake clock.
func (d *Daemon) Tick(ctx context.Context) {
	d.refreshLeases(ctx)
	if !d.resumed {
		// Unfinished plans resume once leases are known: only the owner
		// of a target may act on it.
		d.resumed = true
		d.resume(ctx)
	}
	overrides := d.overrides(ctx)
	d.mu.Lock()
	det, prober := d.detector, d.prober
	d.mu.Unlock()
	det.Tick(ctx)
	watches, err := d.activeWatches(ctx)
	if err != nil {
		d.log.Error("list active watches", zap.Error(err))
		return
	}
	watches = d.ownedWatches(watches)
	d.metrics.ActiveWatches.Set(float64(len(watches)))
	d.setWatching(watches)
	prober.Tick(ctx)
	if d.cfg.Synchronous {
		prober.Wait()
	}
	d.readMetrics(ctx, watches)
	for _, w := range watches {
		if err := d.step(ctx, w, overrides); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("watch step failed", zap.String("target", w.Target), zap.String("watch", w.ID), zap.Error(err))
		}
	}
	d.gc(watches)
}

// gc drops in-memory samples of watches that are no longer active.
func (d *Daemon) gc(active []store.Watch) {
	keep := map[string]bool{}
	for _, w := range active {
		keep[w.ID] = true
	}
	_, targets, _ := d.snapshot()
	for _, t := range targets {
		t.forget(keep)
	}
	d.mu.Lock()
	for k := range d.alerted {
		if !keep[strings.TrimPrefix(k, "hold|")] {
			delete(d.alerted, k)
		}
	}
	d.mu.Unlock()
}
