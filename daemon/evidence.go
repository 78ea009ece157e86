package daemon

import (
	"context"

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
	d.evid.Observe(ctx, w, t.Grain(), v)
}

// Evidence is the recorder of the watches' evidence series, for the admin
// API's charts.
func (d *Daemon) Evidence() *evseries.Recorder { return d.evid }
