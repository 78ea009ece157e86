package daemon

import (
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
)

// watched reports whether a watch is being judged (not rolling back).
func watched(w store.Watch) bool {
	return w.Phase == store.PhaseBaking || w.Phase == store.PhasePromoted
}

// setWatching tells the prober which targets are under watch and remembers
// which watches their probe samples feed.
func (d *Daemon) setWatching(ws []store.Watch) {
	_, targets, _ := d.snapshot()
	watching := map[string][]string{}
	var active []string
	for _, w := range ws {
		if !watched(w) || targets[w.Target] == nil {
			continue
		}
		if _, seen := watching[w.Target]; !seen {
			active = append(active, w.Target)
		}
		watching[w.Target] = append(watching[w.Target], w.ID)
	}
	d.mu.Lock()
	d.watching = watching
	prober := d.prober
	d.mu.Unlock()
	confs := make([]config.Target, 0, len(active))
	for _, name := range active {
		confs = append(confs, targets[name].conf)
	}
	prober.SetActive(confs)
}

// addSample routes a sample to the histories of its target's watches.
func (d *Daemon) addSample(s sample.Sample) {
	d.mu.Lock()
	ids := d.watching[s.Target]
	t := d.targets[s.Target]
	d.mu.Unlock()
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		t.history(id).Add(s)
	}
}

// onWatch is called by the detector when a deploy starts a watch.
func (d *Daemon) onWatch(w store.Watch, superseded *store.Watch) {
	ctx := d.workCtx
	_, targets, _ := d.snapshot()
	t := targets[w.Target]
	msg := "deploy detected: version " + w.NewVersion + " (known-good " + orDash(w.KnownGood) + ", via " + w.Source + ")"
	if superseded != nil {
		msg += "; supersedes watch " + superseded.ID + " of version " + superseded.NewVersion
		d.event(ctx, store.Event{Target: w.Target, WatchID: superseded.ID, Type: "superseded", Message: "superseded by deploy of version " + w.NewVersion})
	}
	d.event(ctx, store.Event{Target: w.Target, WatchID: w.ID, Type: "watch_started", Message: msg})
	d.send(ctx, t, notify.Event{Type: event.WatchStarted, Severity: event.Info, WatchID: w.ID,
		KnownGood: w.KnownGood, NewVersion: w.NewVersion, Message: "Watching " + msg})
	if t != nil {
		d.adopt(ctx, t, w)
	}
}

// onWatchEnd is called when the alias went back to known-good by hand.
func (d *Daemon) onWatchEnd(w store.Watch) {
	d.event(d.workCtx, store.Event{Target: w.Target, WatchID: w.ID, Type: "ended", Message: w.Reason})
}

// onStep measures the time from trip to alias reverted. The journal itself
// is the record of the steps (the postmortem reads it).
func (d *Daemon) onStep(e store.JournalEntry) {
	if e.Step != 0 || e.Status != store.StepDone {
		return
	}
	if inc, err := d.cfg.Store.GetIncident(d.workCtx, e.PlanID); err == nil {
		d.metrics.TripToRevert.Observe(e.Time.Sub(inc.OpenedAt).Seconds())
	}
}

func orDash(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
