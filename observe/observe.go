// Package observe feeds the evidence of every watch this process judges:
// probe results as they come, CloudWatch periods in one batched cycle per
// metric period, and, when this process first sees a watch (a new deploy,
// a restart, a lease taken over), its baseline and the periods since it
// began. Each configured target's evidence lives in its Memory; the
// Observer routes samples to the memories and schedules the reads.
package observe

import (
	"context"
	"time"

	"sync"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
	"github.com/canaryd/canaryd/watcher"
)

// Parts are what the Observer reads through, as of now (a config reload
// replaces them all).
type Parts struct {
	Memories map[string]*Memory // by target name
	Order    []string           // target names in config order
	Reader   *watcher.MetricReader
	Prober   *watcher.Prober
	Detector *watcher.Detector
}

// Config is what an Observer is built from.
type Config struct {
	Clock  clockwork.Clock
	Logger *zap.Logger
	// Parts returns the parts in force.
	Parts func() Parts
	// Owns reports whether this replica owns a target (it probes and
	// judges only those).
	Owns func(target string) bool
	// Background runs work, off the caller's goroutine on a context that
	// outlives one tick and is tracked for shutdown, or in place on ctx
	// (tests stepping the daemon with a fake clock); nil: in place.
	Background func(ctx context.Context, work func(context.Context))
	// Traces, when set, writes each judged watch's trace (record.go).
	Traces *TraceRecorder
}

// Observer routes samples to the watches they are evidence for.
type Observer struct {
	cfg Config

	mu       sync.Mutex
	watching map[string][]store.Watch // target -> its judged watches (fed by probes and metrics)
	// unsettled: the targets with an active watch that is not promoted, as
	// of the last SetWatching.
	unsettled   map[string]bool
	nextMetrics time.Time
	cycling     bool // a metric cycle is running
}

// New builds an Observer.
func New(cfg Config) *Observer {
	return &Observer{cfg: cfg, watching: map[string][]store.Watch{}}
}

func (o *Observer) background(ctx context.Context, work func(context.Context)) {
	if o.cfg.Background == nil {
		work(ctx)
		return
	}
	o.cfg.Background(ctx, work)
}

// SetWatching remembers which watches the probe samples of each target
// feed (ws are the active watches of the targets this replica owns), and
// tells the prober which targets to probe: every owned one, watched or
// not, since the results from before a deploy are the probe baseline of
// its watch (did the known-good version pass its health checks?).
func (o *Observer) SetWatching(ws []store.Watch) {
	p := o.cfg.Parts()
	watching := map[string][]store.Watch{}
	unsettled := map[string]bool{}
	for _, w := range ws {
		if w.Phase != store.PhasePromoted {
			unsettled[w.Target] = true
		}
		if !watch.Judged(w.Phase) || p.Memories[w.Target] == nil {
			continue
		}
		watching[w.Target] = append(watching[w.Target], w)
	}
	o.mu.Lock()
	o.watching = watching
	o.cfg.Traces.Keep(ws)
	prev := o.unsettled
	o.unsettled = unsettled
	o.mu.Unlock()
	// Only the targets unsettled now or at the last call change.
	now := o.cfg.Clock.Now()
	for name := range unsettled {
		if m := p.Memories[name]; m != nil {
			m.SetSettled(false, now)
		}
	}
	for name := range prev {
		if m := p.Memories[name]; m != nil && !unsettled[name] {
			m.SetSettled(true, now)
		}
	}
	confs := make([]config.Target, 0, len(p.Order))
	for _, name := range p.Order {
		if o.cfg.Owns(name) { // another replica probes the rest
			confs = append(confs, p.Memories[name].conf)
		}
	}
	p.Prober.SetActive(confs)
	// A version that began to take traffic and has had no probe since is
	// probed at once (watcher.Prober.Expedite): its first result comes at
	// the next tick, not up to an interval later.
	for name, ws := range watching {
		for _, w := range ws {
			p.Prober.Expedite(p.Memories[name].conf, watch.JudgedFrom(w))
		}
	}
}

// AddSample routes a probe result to the histories of its target's
// watches and to the target's probe memory.
func (o *Observer) AddSample(s sample.Sample) {
	o.mu.Lock()
	ws := o.watching[s.Target]
	o.mu.Unlock()
	m := o.cfg.Parts().Memories[s.Target]
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remember(s)
	now := o.cfg.Clock.Now()
	for _, w := range ws {
		m.evidence(w).hist.Add(s)
		o.cfg.Traces.Samples(w, m.deliveredAt(w, now), s)
	}
}

// ReadMetrics starts one batched CloudWatch cycle for every judged watch
// in ws when a period has ended; the samples reach their watches when it
// is done. One cycle runs at a time, in the background.
func (o *Observer) ReadMetrics(ctx context.Context, ws []store.Watch) {
	now := o.cfg.Clock.Now()
	o.mu.Lock()
	due := !now.Before(o.nextMetrics) && !o.cycling
	if due {
		o.cycling = true
	}
	o.mu.Unlock()
	if !due {
		return
	}
	p := o.cfg.Parts()
	var active []watcher.ActiveWatch
	period := time.Duration(0)
	for _, w := range ws {
		m := p.Memories[w.Target]
		if m == nil || !watch.Judged(w.Phase) {
			continue
		}
		active = append(active, m.activeWatch(w))
		if per := m.conf.MetricPeriod.Duration; period == 0 || per < period {
			period = per
		}
	}
	if period == 0 {
		period = time.Minute
	}
	next := watch.NextMetricRead(now, period, false)
	o.background(ctx, func(ctx context.Context) {
		if len(active) > 0 {
			samples, stats := p.Reader.Cycle(ctx, active)
			late := watch.NewestLate(samples, now, period)
			o.cfg.Logger.Debug("metric cycle", zap.Int("watches", stats.Watches), zap.Int("queries", stats.Queries),
				zap.Int("calls", stats.Calls), zap.Int("errors", stats.Errors), zap.Int("samples", len(samples)), zap.Bool("newest_late", late))
			o.Feed(samples, now)
			next = watch.NextMetricRead(now, period, late)
			if !stats.RetryAt.IsZero() && stats.RetryAt.After(now) && stats.RetryAt.Before(next) {
				next = stats.RetryAt
			}
		}
		// A cycle that answered late (a slow or throttled CloudWatch) is
		// followed by none at the instant it answered, which replay
		// reproduces: its next read is after the answer ("answered").
		if answered := o.cfg.Clock.Now(); !next.After(answered) {
			next = answered.Add(time.Nanosecond)
		}
		o.mu.Lock()
		o.nextMetrics, o.cycling = next, false
		o.mu.Unlock()
	})
}

// Feed adds metric samples, read by the cycle that began at at, to the
// watches of their targets and notes observation errors for status. Their
// traces record when the cycle began, which is when replay reads them, and
// when they reached the watch, if later (a slow or throttled CloudWatch):
// replay judges them from then on, as the daemon does.
func (o *Observer) Feed(samples []sample.Sample, at time.Time) {
	memories := o.cfg.Parts().Memories
	o.mu.Lock()
	watching := o.watching
	o.mu.Unlock()
	byTarget := map[string][]sample.Sample{}
	for _, s := range samples {
		byTarget[s.Target] = append(byTarget[s.Target], s)
	}
	for name, ss := range byTarget {
		m := memories[name]
		if m == nil {
			continue
		}
		m.mu.Lock()
		m.obsErr = ""
		for _, s := range ss {
			if s.Outcome == sample.OutcomeSourceError {
				m.obsErr = "cloudwatch: " + s.Reason
			}
			for _, w := range watching[name] {
				m.evidence(w).hist.Add(s)
			}
		}
		now := o.cfg.Clock.Now()
		for _, w := range watching[name] {
			o.cfg.Traces.Read(w, at, m.deliveredAt(w, now), ss...)
		}
		m.mu.Unlock()
	}
}

// Adopt prepares a watch this process has not prepared yet — a new
// deploy, or after a restart or a lease take-over. At once it gives the
// watch its probe baseline (the known-good's probe results from before the
// deploy: those the watch's record keeps, else this process's, from
// memory), so that the probe rules judge against the
// known-good from the first verdict on; then, in the background, it reads
// the CloudWatch baseline, which completes it, and, when the watch began
// before the periods a cycle re-reads, the metric periods since it began,
// so the rules judge full windows at once.
func (o *Observer) Adopt(ctx context.Context, w store.Watch) {
	p := o.cfg.Parts()
	m := p.Memories[w.Target]
	if m == nil {
		return
	}
	m.mu.Lock()
	adopted := m.evidence(w).adopted
	m.mu.Unlock()
	if adopted {
		return // every tick asks: the detector is read only for a new adoption
	}
	// The probe baseline the watch's record keeps (the one the process
	// that saw the deploy had), else the probe results this process has.
	stored, ok, err := storedProbes(w)
	if err != nil {
		o.cfg.Logger.Warn("the watch's stored probe baseline is unreadable; using this process's probe results",
			zap.String("target", w.Target), zap.String("watch", w.ID), zap.Error(err))
	}
	var cutoff time.Time
	if !ok {
		cutoff = probeCutoff(p, w)
	}
	m.mu.Lock()
	e := m.evidence(w)
	if e.adopted {
		m.mu.Unlock()
		return
	}
	e.adopted = true
	if ok {
		e.useProbes(stored)
	} else {
		e.cutProbes(cutoff)
	}
	probes := e.probeBaseline
	// Until CloudWatch answers (or for good when the read fails), the
	// known-good's probe results are the watch's baseline: for the metric
	// rules it is no baseline at all (policy: relative rules inconclusive).
	e.prepared = m.policy.PrepareBaselineSince(probes, w.BaselineSince)
	e.hist.SetProvisionalBaseline(e.prepared)
	m.mu.Unlock()
	o.cfg.Traces.Baseline(w, o.cfg.Clock.Now(), probes)
	o.background(ctx, func(ctx context.Context) {
		o.loadBaseline(ctx, p, m, w, e, probes)
		o.backfill(ctx, p.Reader, m, w)
	})
}

// loadBaseline reads the known-good's CloudWatch baseline of a watch once,
// with the Duration statistics its latency rules need
// (policy.DurationStats), which the watch's metric cycles read from then
// on, and prepares the watch's whole baseline from it and the probe
// results Adopt applied. A failed read leaves the probe baseline in force.
// e is the evidence Adopt prepared: if the watch's evidence was rebuilt
// since (a rollout's first weight set), the rebuilt one is adopted on its
// own and this read is dropped.
func (o *Observer) loadBaseline(ctx context.Context, p Parts, m *Memory, w store.Watch, e *evidence, probes []sample.Sample) {
	statsFor := func(base []sample.Sample) watcher.BaselineStats {
		return watcher.BaselineStats{Stats: m.policy.DurationStatsSince(base, w.BaselineSince),
			History: m.policy.HistoryStatsSince(base, w.BaselineSince)}
	}
	samples, stats, err := p.Reader.BaselineFor(ctx, watcher.ActiveWatch{Watch: w, Target: m.conf}, statsFor)
	if err != nil {
		m.mu.Lock()
		if m.watches[w.ID] == e {
			e.hist.SetBaseline(e.prepared) // no other is coming: fold with the probe baseline
		}
		m.mu.Unlock()
		o.cfg.Logger.Warn("baseline read failed; relative rules stay inconclusive for this watch", zap.String("target", w.Target),
			zap.String("watch", w.ID), zap.Int("probe_baseline", len(probes)), zap.Error(err))
		return
	}
	prepared := m.policy.PrepareBaselineSince(append(samples, probes...), w.BaselineSince) // samples[:len] stay CloudWatch's, for the trace
	m.mu.Lock()
	if m.watches[w.ID] != e {
		m.mu.Unlock()
		return
	}
	// The prepared baseline is all Evaluate needs; the CloudWatch samples
	// are not kept (a reload with other rules re-reads them: Inherit), the
	// probe results are, compactly, since nothing can read them again.
	e.prepared, e.durationStats = prepared, stats
	e.keepProbes()
	e.hist.SetBaseline(prepared)
	m.mu.Unlock()
	o.cfg.Traces.Baseline(w, o.cfg.Clock.Now(), samples)
}

// probeCutoff is the time before which the target's probe results
// measured the known-good version (Detector.KnownGoodCutoff), or, for a
// rollout, when its first weight was set.
func probeCutoff(p Parts, w store.Watch) time.Time {
	if r := w.Rollout; r != nil && !r.TrafficAt.IsZero() {
		return r.TrafficAt // canaryd moved the traffic itself: it knows when
	}
	return p.Detector.KnownGoodCutoff(w.Target, w.KnownGood, w.DetectedAt)
}

// backfill reads the periods from the watch's start up to now when they are
// older than what a cycle re-reads (metric_lag periods).
func (o *Observer) backfill(ctx context.Context, reader *watcher.MetricReader, m *Memory, w store.Watch) {
	period := m.conf.MetricPeriod.Duration
	now := o.cfg.Clock.Now()
	if period <= 0 || now.Sub(w.DetectedAt) <= time.Duration(m.conf.MetricLag)*period {
		return
	}
	samples, err := reader.Read(ctx, m.activeWatch(w), w.DetectedAt, now)
	if err != nil {
		o.cfg.Logger.Warn("backfill of metric periods failed; windows fill as cycles read", zap.String("watch", w.ID), zap.Error(err))
		return
	}
	m.mu.Lock()
	h := m.evidence(w).hist
	for _, s := range samples {
		h.Add(s)
	}
	m.mu.Unlock()
	o.cfg.Traces.Samples(w, now, samples...)
	o.cfg.Logger.Info("watch adopted: metric periods since its start read back", zap.String("target", w.Target),
		zap.String("watch", w.ID), zap.Int("samples", len(samples)))
}

// Transition records a judged watch's change of phase in its trace.
func (o *Observer) Transition(w store.Watch, now time.Time, to store.Phase, why string) {
	if watch.Judged(w.Phase) && to != w.Phase {
		o.cfg.Traces.Transition(w, now, to, why)
	}
}

// NextMetrics is when the next metric cycle is due.
func (o *Observer) NextMetrics() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.nextMetrics
}

// Watching is how many targets have judged watches fed by their probes.
func (o *Observer) Watching() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.watching)
}
