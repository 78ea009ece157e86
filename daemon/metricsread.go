package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watcher"
)

// metricDelay is how long after a period ends the cycle reads it: Lambda's
// datapoints are usually readable within seconds; the periods re-read on
// later cycles (metric_lag) catch what arrives later still.
const metricDelay = 5 * time.Second

// readMetrics starts one batched CloudWatch cycle for every watched deploy
// when a period has ended; the samples reach their watches when it is done.
// One cycle runs at a time, in the background unless Synchronous.
func (d *Daemon) readMetrics(ctx context.Context, ws []store.Watch) {
	now := d.clock.Now()
	d.mu.Lock()
	due := !now.Before(d.nextMetrics) && !d.cycling
	reader := d.reader
	if due {
		d.cycling = true
	}
	d.mu.Unlock()
	if !due {
		return
	}
	_, targets, _ := d.snapshot()
	var active []watcher.ActiveWatch
	period := time.Duration(0)
	for _, w := range ws {
		t := targets[w.Target]
		if t == nil || !watched(w) {
			continue
		}
		active = append(active, watcher.ActiveWatch{Watch: w, Target: t.conf})
		if p := t.conf.MetricPeriod.Duration; period == 0 || p < period {
			period = p
		}
	}
	if period == 0 {
		period = time.Minute
	}
	next := now.Truncate(period).Add(period + metricDelay)
	cycle := func(ctx context.Context) {
		if len(active) > 0 {
			samples, stats := reader.Cycle(ctx, active)
			d.log.Debug("metric cycle", zap.Int("watches", stats.Watches), zap.Int("queries", stats.Queries),
				zap.Int("calls", stats.Calls), zap.Int("errors", stats.Errors), zap.Int("samples", len(samples)))
			d.feed(samples)
			if !stats.RetryAt.IsZero() && stats.RetryAt.After(now) && stats.RetryAt.Before(next) {
				next = stats.RetryAt
			}
		}
		d.mu.Lock()
		d.nextMetrics, d.cycling = next, false
		d.mu.Unlock()
	}
	if d.cfg.Synchronous {
		cycle(ctx)
		return
	}
	d.plans.Add(1)
	go func() { defer d.plans.Done(); cycle(d.workCtx) }()
}

// feed adds metric samples to the watches of their targets and notes
// observation errors for status.
func (d *Daemon) feed(samples []watcher.Sample) {
	_, targets, _ := d.snapshot()
	d.mu.Lock()
	probed := d.probed
	d.mu.Unlock()
	byTarget := map[string][]watcher.Sample{}
	for _, s := range samples {
		byTarget[s.Target] = append(byTarget[s.Target], s)
	}
	for name, ss := range byTarget {
		t := targets[name]
		if t == nil {
			continue
		}
		t.mu.Lock()
		t.obsErr = ""
		for _, s := range ss {
			if s.Outcome == watcher.OutcomeSourceError {
				t.obsErr = "cloudwatch: " + s.Reason
			}
			for _, id := range probed[name] {
				t.history(id).Add(s)
			}
		}
		t.mu.Unlock()
	}
}

// loadBaseline reads the known-good baseline of a new watch once, in the
// background: a slow or throttled read must not hold up the tick.
func (d *Daemon) loadBaseline(ctx context.Context, t *target, w store.Watch) {
	d.mu.Lock()
	reader := d.reader
	d.mu.Unlock()
	d.plans.Add(1)
	go func() {
		defer d.plans.Done()
		samples, err := reader.Baseline(ctx, w, t.conf)
		if err != nil {
			d.log.Warn("baseline read failed; relative rules wait for it", zap.String("target", w.Target),
				zap.String("watch", w.ID), zap.Error(err))
			return
		}
		prepared := t.policy.PrepareBaseline(samples)
		t.mu.Lock()
		t.baseline[w.ID], t.prepared[w.ID] = samples, prepared
		t.mu.Unlock()
	}()
}
