package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
	"github.com/canaryd/canaryd/watcher"
)

// This file feeds the evidence of every judged watch: probe results as they
// come, CloudWatch periods in one batched cycle per metric period, and, when
// this process first sees a watch, its baseline and the periods since it
// began.

// setWatching remembers which watches the probe samples of each target
// feed (ws are the active watches of the targets this replica owns). The
// probes of every owned target run, watched or not: the results from
// before a deploy are the probe baseline of its watch (did the known-good
// version pass its health checks?).
func (d *Daemon) setWatching(ws []store.Watch) {
	_, targets, order := d.snapshot()
	watching := map[string][]store.Watch{}
	unsettled := map[string]bool{}
	for _, w := range ws {
		if w.Phase != store.PhasePromoted {
			unsettled[w.Target] = true
		}
		if !watch.Judged(w.Phase) || targets[w.Target] == nil {
			continue
		}
		watching[w.Target] = append(watching[w.Target], w)
	}
	d.mu.Lock()
	d.watching = watching
	prev := d.unsettled
	d.unsettled = unsettled
	prober := d.prober
	d.mu.Unlock()
	// Only the targets unsettled now or at the last tick change.
	now := d.clock.Now()
	for name := range unsettled {
		d.markSettled(targets[name], false, now)
	}
	for name := range prev {
		if !unsettled[name] {
			d.markSettled(targets[name], true, now)
		}
	}
	confs := make([]config.Target, 0, len(order))
	for _, name := range order {
		if d.leases.Owns(name) { // another replica probes the rest
			confs = append(confs, targets[name].conf)
		}
	}
	prober.SetActive(confs)
}

func (d *Daemon) markSettled(t *target, settled bool, now time.Time) {
	if t == nil {
		return // not configured (any more)
	}
	t.mu.Lock()
	t.setSettled(settled, now)
	t.mu.Unlock()
}

// addSample routes a probe sample to the histories of its target's watches.
func (d *Daemon) addSample(s sample.Sample) {
	d.mu.Lock()
	ws := d.watching[s.Target]
	t := d.targets[s.Target]
	d.mu.Unlock()
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.remember(s)
	for _, w := range ws {
		t.evidence(w).hist.Add(s)
	}
}

// readMetrics starts one batched CloudWatch cycle for every judged watch
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
		if t == nil || !watch.Judged(w.Phase) {
			continue
		}
		active = append(active, t.activeWatch(w))
		if p := t.conf.MetricPeriod.Duration; period == 0 || p < period {
			period = p
		}
	}
	if period == 0 {
		period = time.Minute
	}
	next := watch.NextMetricRead(now, period, false)
	cycle := func(ctx context.Context) {
		if len(active) > 0 {
			samples, stats := reader.Cycle(ctx, active)
			late := watch.NewestLate(samples, now, period)
			d.log.Debug("metric cycle", zap.Int("watches", stats.Watches), zap.Int("queries", stats.Queries),
				zap.Int("calls", stats.Calls), zap.Int("errors", stats.Errors), zap.Int("samples", len(samples)), zap.Bool("newest_late", late))
			d.feed(samples)
			next = watch.NextMetricRead(now, period, late)
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
func (d *Daemon) feed(samples []sample.Sample) {
	_, targets, _ := d.snapshot()
	d.mu.Lock()
	watching := d.watching
	d.mu.Unlock()
	byTarget := map[string][]sample.Sample{}
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
			if s.Outcome == sample.OutcomeSourceError {
				t.obsErr = "cloudwatch: " + s.Reason
			}
			for _, w := range watching[name] {
				t.evidence(w).hist.Add(s)
			}
		}
		t.mu.Unlock()
	}
}

// adopt prepares a watch this process has not prepared yet — a new
// deploy, or after a restart or a lease take-over: it reads the baseline
// and, when the watch began before the periods a cycle re-reads, the
// metric periods since it began, so the rules judge full windows at once.
func (d *Daemon) adopt(ctx context.Context, t *target, w store.Watch) {
	t.mu.Lock()
	e := t.evidence(w)
	if e.adopted {
		t.mu.Unlock()
		return
	}
	e.adopted = true
	t.mu.Unlock()
	d.mu.Lock()
	reader := d.reader
	d.mu.Unlock()
	work := func(ctx context.Context) {
		d.loadBaseline(ctx, reader, t, w)
		d.backfill(ctx, reader, t, w)
	}
	if d.cfg.Synchronous {
		work(ctx)
		return
	}
	d.plans.Add(1)
	go func() { defer d.plans.Done(); work(d.workCtx) }()
}

// loadBaseline reads the known-good baseline of a watch once, with the
// Duration statistics its latency rules need (policy.DurationStats), which
// the watch's metric cycles read from then on.
func (d *Daemon) loadBaseline(ctx context.Context, reader *watcher.MetricReader, t *target, w store.Watch) {
	samples, stats, err := reader.BaselineFor(ctx, watcher.ActiveWatch{Watch: w, Target: t.conf}, t.policy.DurationStats)
	if err != nil {
		d.log.Warn("baseline read failed; relative rules stay inconclusive for this watch", zap.String("target", w.Target),
			zap.String("watch", w.ID), zap.Error(err))
		return
	}
	cutoff := d.probeCutoff(w)
	t.mu.Lock()
	e := t.evidence(w)
	for _, p := range e.probeBaseline {
		if p.Time.Before(cutoff) {
			samples = append(samples, p)
		}
	}
	prepared := t.policy.PrepareBaseline(samples)
	// The prepared baseline is all Evaluate needs (a reload with other
	// rules re-reads the baseline: inherit); the samples are not kept.
	e.prepared, e.durationStats, e.probeBaseline = prepared, stats, nil
	e.hist.SetBaseline(prepared)
	t.mu.Unlock()
}

// probeCutoff is the time before which the target's probe results
// measured the known-good version: the last alias read that found it alone
// began then, and never later than a poll interval before the watch began
// (a deploy is seen within one when polls succeed, so the results between
// the alias moving and the deploy being seen, which measured the new
// version, stay out). Zero when no read found it since this process
// started: then the watch has no probe baseline.
func (d *Daemon) probeCutoff(w store.Watch) time.Time {
	if r := w.Rollout; r != nil && !r.TrafficAt.IsZero() {
		return r.TrafficAt // canaryd moved the traffic itself: it knows when
	}
	conf, _, _ := d.snapshot()
	d.mu.Lock()
	det := d.detector
	d.mu.Unlock()
	seen := det.SeenAlone(w.Target, w.KnownGood)
	if limit := w.DetectedAt.Add(-conf.Daemon.PollInterval.Duration); seen.After(limit) {
		return limit
	}
	return seen
}

// backfill reads the periods from the watch's start up to now when they are
// older than what a cycle re-reads (metric_lag periods).
func (d *Daemon) backfill(ctx context.Context, reader *watcher.MetricReader, t *target, w store.Watch) {
	period := t.conf.MetricPeriod.Duration
	now := d.clock.Now()
	if period <= 0 || now.Sub(w.DetectedAt) <= time.Duration(t.conf.MetricLag)*period {
		return
	}
	samples, err := reader.Read(ctx, t.activeWatch(w), w.DetectedAt, now)
	if err != nil {
		d.log.Warn("backfill of metric periods failed; windows fill as cycles read", zap.String("watch", w.ID), zap.Error(err))
		return
	}
	t.mu.Lock()
	h := t.evidence(w).hist
	for _, s := range samples {
		h.Add(s)
	}
	t.mu.Unlock()
	d.log.Info("watch adopted: metric periods since its start read back", zap.String("target", w.Target),
		zap.String("watch", w.ID), zap.Int("samples", len(samples)))
}
