package daemon

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/watch"
)

// markerEvery is how often the store's marker is checked: a store that
// comes back empty (Redis restarted without persistence, FLUSHALL) is
// noticed within it.
const markerEvery = 10 * time.Second

// checkMarker reads the store's marker. The first read remembers it; a
// later read that finds a different or a new one means the store lost its
// data: on-call is told once per loss. Targets the store no longer knows
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
	switch {
	case prev == "" && created:
		d.log.Info("the store is new (first start, or its data was lost before this start)", zap.String("marker", m.ID))
	case prev != "" && prev != m.ID:
		d.storeLost(ctx, prev, m.ID)
		d.runner.Replant(ctx)
		// The leases went with the data: taken again right after this
		// (refreshLeases), as a take-over, they resume what the store
		// holds now — an incident whose write reached the empty store
		// while the writes after it (the trip's watch, the override's
		// claim) did not, which nothing else would run.
		d.leases.Lost()
	}
}

func (d *Daemon) storeLost(ctx context.Context, before, after string) {
	msg := fmt.Sprintf("canaryd's store lost its data (marker %s, now %s): watches, incidents, journals, operators' overrides "+
		"(pauses, forced rollbacks, mark-goods) and known-good versions recorded before %s are gone. Known-good versions are "+
		"derived again from each alias's traffic in CloudWatch; set again the overrides still wanted; "+
		"check the store's persistence (README: Redis persistence)", before, after, d.clock.Now().UTC().Format(time.RFC3339))
	d.log.Error(msg)
	d.metrics.StoreLost.Inc()
	conf, ts, _ := d.snapshot()
	for _, tc := range conf.Targets {
		d.effects.Note(ctx, ts[tc.Name], watch.Note{Kind: event.StoreLost, Alert: event.StoreLost, Severity: event.Critical,
			Target: tc.Name, Message: msg})
	}
}
