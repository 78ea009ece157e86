package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/effects"
	"github.com/canaryd/canaryd/knownbad"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
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
	go d.runEvents(ctx)  // deploy events ([events]), events.go
	go d.stalls.Run(ctx) // how long this process stands still (probes that fail meanwhile are not evidence)

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
		st := d.current().detector.SweepMissed(ctx) // the aliases polls missed, paced (watcher.Detector.SweepMissed)
		d.log.Debug("sweep done", zap.Any("stats", st))
	})
	return err
}

func (d *Daemon) shutdown() error {
	conf, _, _ := d.snapshot()
	bound := conf.Daemon.ShutdownTimeout.Duration
	if !d.runner.Shutdown(bound) {
		d.log.Warn("shutdown bound reached with plans still running; they resume from the journal on restart",
			zap.Duration("bound", bound))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = d.current().notifier.Close(ctx)
	return nil
}

// Tick does one round of the daemon's work: leases, overrides, deploy
// detection, probes, metrics when a period is due, then one step of the
// life cycle for every active watch. Tests call it step by step with a
// fake clock.
func (d *Daemon) Tick(ctx context.Context) {
	d.loop.begin(d.clock.Now())
	defer func() { d.metrics.observeTick(d.loop.end(d.clock.Now()), d.cfg.TickEvery) }()
	d.checkMarker(ctx)
	taken := d.refreshLeases(ctx)
	if !d.resumed {
		// Unfinished plans resume once leases are known: only the owner
		// of a target may act on it.
		d.resumed = true
		taken = d.leases.Names()
	}
	if len(taken) > 0 {
		d.runner.Resume(ctx, taken)
		// What a crash or a dead replica left undelivered.
		d.box.Redeliver(ctx, func(target string) bool { return taken[target] }, 0)
	} else {
		d.sweepLost(ctx)
		d.sweepOrphans(ctx)
	}
	d.box.RedeliverDue(ctx, d.leases.Owns)
	d.runner.ResumeManual(ctx)
	overrides := d.overrides.Refresh(ctx)
	p := d.current()
	p.detector.Tick(ctx)
	watches, err := d.store.Active(ctx, d.clock.Now())
	if err != nil {
		d.log.Error("list active watches", zap.Error(err))
		return
	}
	watches = d.leases.Keep(watches)
	overrides = d.overrides.ClearKnownBad(ctx, overrides, watches, d.leases.Owns)
	d.metrics.observeWatches(watches)
	d.obs.SetWatching(watches)
	p.prober.Tick(ctx)
	if d.cfg.Synchronous {
		p.prober.Wait()
	}
	d.obs.ReadMetrics(ctx, watches)
	for _, w := range watches {
		if err := d.step(ctx, w, overrides); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("watch step failed", zap.String("target", w.Target), zap.String("watch", w.ID), zap.Error(err))
		}
	}
	d.gc(watches)
}

// step advances one active watch: the policy judges it (when it is baking
// or promoted), the life cycle decides, the effects are applied.
func (d *Daemon) step(ctx context.Context, w store.Watch, ovs []store.Override) error {
	_, ts, _ := d.snapshot()
	t := ts[w.Target]
	if t == nil {
		return nil // target removed from config: leave its watch alone
	}
	tick := watch.Tick{Now: d.clock.Now(), Overrides: ovs}
	if watch.Judged(w.Phase) {
		d.obs.Adopt(ctx, w)
		tick.Verdict = t.Memory.Evaluate(w, tick.Now)
		if bad := d.checkKnownBad(ctx, t, w); bad != nil {
			tick.Verdict = knownbad.Verdict(*bad, tick.Now)
		}
		d.metrics.Verdicts.WithLabelValues(w.Target, string(tick.Verdict.Kind)).Inc()
	}
	next, effs := watch.Next(t.Lifecycle, w, tick)
	err := d.effects.Apply(ctx, t, w, effs)
	d.recordEvidence(ctx, t, w, tick.Verdict) // after the effects: a chart never delays a rollback
	if err == nil {
		d.obs.Transition(w, tick.Now, next.Phase, next.Reason) // its trace (daemon.trace_dir)
	}
	if errors.Is(err, effects.ErrStale) {
		d.store.Invalidate() // read it again next tick
		return nil
	}
	return err
}

// gc drops the evidence of watches that are no longer active.
func (d *Daemon) gc(active []store.Watch) {
	keep := map[string]bool{}
	for _, w := range active {
		keep[w.ID] = true
	}
	_, ts, _ := d.snapshot()
	for _, t := range ts {
		t.Memory.Forget(keep)
	}
}
