package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
)

// markerEvery is how often the store's marker is checked: a store that
// comes back empty (Redis restarted without persistence, FLUSHALL) is
// noticed within it. Every tick (the daemon's default tick is a second):
// until the loss is noticed, trips act without the pauses the store lost
// and writes land in the empty store unnoticed, and the check costs one
// read.
const markerEvery = time.Second

// checkMarker reads the store's marker. The first read remembers it; a
// later read that finds a different or a new one means the store lost its
// data: on-call is told once per loss, and the pauses in force at the last
// check of the same store are written back (restorePauses). Targets the store no longer knows
// are then judged by their alias's history, never adopted blindly (the
// detector's first sighting).
func (d *Daemon) checkMarker(ctx context.Context) {
	now := d.clock.Now()
	if !d.markerAt.IsZero() && now.Sub(d.markerAt) < markerEvery {
		return
	}
	m, created, err := d.cfg.Store.Marker(ctx)
	if err != nil {
		d.log.Warn("read store marker", zap.Error(err))
		return
	}
	d.markerAt = now
	prev := d.marker
	d.marker = m.ID
	if prev == "" || prev == m.ID {
		// The overrides' last read came before this one of an unchanged
		// marker: its pauses are the same store's.
		d.pauses = d.overrides.Pauses()
	}
	switch {
	case prev == "" && created:
		d.log.Info("the store is new (first start, or its data was lost before this start)", zap.String("marker", m.ID))
	case prev != "" && prev != m.ID:
		d.lostAt = now
		d.storeLost(ctx, prev, m.ID, d.restorePauses(ctx))
		d.runner.Replant(ctx)
		// The leases went with the data: taken again right after this
		// (refreshLeases), as a take-over, they resume what the store
		// holds now — an incident whose write reached the empty store
		// while the writes after it (the trip's watch, the override's
		// claim) did not, which nothing else would run.
		d.leases.Lost()
	}
}

// sweepLost runs, for daemon.lost_sweep (a minute; only tests and chaos
// experiments change it) after the store lost its data, the unfinished
// incidents of the targets this replica owns that other replicas record
// again (runner.ResumeLost): each live replica records its own at its
// first marker check that reaches the store, a tick or two after the store
// is back (a tick that lasts stuckAfter fails /readyz). Cheap: the store
// is almost empty then.
func (d *Daemon) sweepLost(ctx context.Context) {
	conf, _, _ := d.snapshot()
	if d.lostAt.IsZero() || d.clock.Now().Sub(d.lostAt) >= conf.Daemon.LostSweep.Duration {
		return
	}
	d.runner.ResumeLost(ctx, d.leases.Names(), d.lostAt)
}

// orphanSweep is how often the owner looks for unfinished incidents of
// its targets that nothing runs (runner.ResumeOrphans), and orphanAge how
// old one must be: an operator's rollback being prepared, or a replica
// recording its incidents again after a loss, is younger. Both are the
// defaults of daemon.orphan_sweep and daemon.orphan_age, which only tests
// and chaos experiments set (the daemon's tests step the clock by these).
const (
	orphanSweep = config.DefaultOrphanSweep
	orphanAge   = config.DefaultOrphanAge
)

// sweepOrphans runs, every daemon.orphan_sweep (orphanSweep), the
// unfinished incidents of the targets this replica owns that were opened
// more than daemon.orphan_age (orphanAge) ago and run nowhere here: the
// backstop of sweepLost's minute. It reads a few incidents per target, in
// the background (at 10,000 targets, 10,000 reads: not in a tick).
func (d *Daemon) sweepOrphans(ctx context.Context) {
	conf, _, _ := d.snapshot()
	now := d.clock.Now()
	if now.Sub(d.orphansAt) < conf.Daemon.OrphanSweep.Duration {
		return
	}
	d.orphansAt = now
	names := d.leases.Names()
	before := now.Add(-conf.Daemon.OrphanAge.Duration)
	d.runner.Background(ctx, func(ctx context.Context) {
		d.runner.ResumeOrphans(ctx, names, before)
	})
}

// restorePauses writes back, after the store lost its data, the pauses in
// force at the last check of the same store: a paused target must not go
// back to rolling back on its own because Redis restarted empty. (A pause
// an operator removed in the seconds before the loss comes back too: the
// page names every one.) Forced rollbacks and mark-goods are not: they
// act once, on a watch the store lost. It returns what it wrote back.
func (d *Daemon) restorePauses(ctx context.Context) []store.Override {
	var back []store.Override
	for _, o := range d.pauses {
		if !o.Active(d.clock.Now()) {
			continue
		}
		if err := d.cfg.Store.PutOverride(ctx, o); err != nil {
			d.log.Error("write back a pause lost with the store", zap.String("override", o.ID), zap.Error(err))
			continue
		}
		back = append(back, o)
	}
	return back
}

func (d *Daemon) storeLost(ctx context.Context, before, after string, pauses []store.Override) {
	kept := "none was in force"
	if len(pauses) > 0 {
		var names []string
		for _, o := range pauses {
			names = append(names, fmt.Sprintf("%s on %s by %s", o.ID, o.Target, o.Actor))
		}
		kept = "written back: " + strings.Join(names, ", ")
	}
	msg := fmt.Sprintf("canaryd's store lost its data (marker %s, now %s): watches, incidents, journals, operators' forced rollbacks "+
		"and mark-goods, and known-good versions recorded before %s are gone. Known-good versions are derived again from each "+
		"alias's traffic in CloudWatch; set again the forced rollbacks and mark-goods still wanted. Pauses in force before the "+
		"loss: %s. Check the store's persistence (README: Redis persistence)", before, after, d.clock.Now().UTC().Format(time.RFC3339), kept)
	d.log.Error(msg)
	d.metrics.StoreLost.Inc()
	conf, ts, _ := d.snapshot()
	for _, tc := range conf.Targets {
		d.effects.Note(ctx, ts[tc.Name], watch.Note{Kind: event.StoreLost, Alert: event.StoreLost, Severity: event.Critical,
			Target: tc.Name, Message: msg})
	}
}
