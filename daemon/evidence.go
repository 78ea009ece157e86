package daemon

import (
	"context"
	"time"

	"github.com/canaryd/canaryd/config"
	evseries "github.com/canaryd/canaryd/evidence"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
)

// This file feeds the evidence series the console and the postmortem draw
// (package evidence): one point per rule per metric period, kept in
// memory, written to the store only when a verdict turns failing or
// promote.

// recordEvidence adds one evaluation of a judged watch to its series; a
// watch that was not judged this tick (zero verdict) adds nothing.
func (d *Daemon) recordEvidence(ctx context.Context, t *targets.Target, w store.Watch, v policy.Verdict) {
	d.evid.Observe(ctx, w, grain(t.Conf), v)
}

// grain is how often a target's evidence can change: its metric period, or
// its most frequent probe when that is more often. A series keeps one
// point per grain per rule.
func grain(c config.Target) time.Duration {
	g := c.MetricPeriod.Duration
	for _, p := range c.Probes {
		if iv := p.Interval.Duration; iv > 0 && (g <= 0 || iv < g) {
			g = iv
		}
	}
	return g
}

// Evidence is the recorder of the watches' evidence series, for the admin
// API's charts.
func (d *Daemon) Evidence() *evseries.Recorder { return d.evid }
