package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
)

// Known-bad versions. A version canaryd (or an operator) rolled back stays
// bad for its target: deploying it again — a pipeline retry, CodeDeploy
// finishing its own shift after canaryd cleared the weights — is rolled
// back at once, and a rollout of it is refused, until an operator marks it
// good (override mark-good --version V), unless the target's known_bad is
// "watch". The memory is the incidents themselves (Incident.ClearedAt).

// knownBad returns the incident that rolled version back, when the target
// treats redeploys of rolled-back versions as bad and no operator cleared
// it since.
func (d *Daemon) knownBad(ctx context.Context, t *target, version string) (store.Incident, bool, error) {
	if t.conf.KnownBad == config.KnownBadWatch || version == "" {
		return store.Incident{}, false, nil
	}
	incs, err := d.store.ListIncidents(ctx, t.conf.Name, 0)
	if err != nil {
		return store.Incident{}, false, fmt.Errorf("list incidents of %s: %w", t.conf.Name, err)
	}
	for _, in := range incs { // newest first: the latest incident of the version decides
		if in.FromVersion != version || in.Outcome == "" {
			continue
		}
		return in, in.RolledBack() && in.ClearedAt.IsZero(), nil
	}
	return store.Incident{}, false, nil
}

// knownBadWhy is the explanation of a refusal or of an immediate rollback.
func knownBadWhy(in store.Incident) string {
	return fmt.Sprintf("version %s was rolled back by incident %s at %s; `canaryd override mark-good %s --version %s --reason ...` to allow it again",
		in.FromVersion, in.ID, in.OpenedAt.UTC().Format(time.RFC3339), in.Target, in.FromVersion)
}

// knownBadVerdict is the verdict a deploy of a known-bad version gets in
// place of the policy's: failing, from the incident that rolled it back.
func knownBadVerdict(in store.Incident, now time.Time) policy.Verdict {
	why := knownBadWhy(in)
	return policy.Verdict{Kind: policy.Failing, At: now, Summary: "failing: known-bad: " + why,
		Findings: []policy.Finding{{Rule: "known-bad", RuleKind: "known_bad", Breached: true, Enough: true,
			Version: in.FromVersion, Note: why}}}
}

// checkKnownBad looks up, once per watch, whether a baking watch's version
// is known-bad (a store error is retried next tick; the policy judges
// meanwhile).
func (d *Daemon) checkKnownBad(ctx context.Context, t *target, w store.Watch) *store.Incident {
	t.mu.Lock()
	e := t.evidence(w)
	checked, bad := e.badChecked, e.knownBad
	t.mu.Unlock()
	if checked || w.Phase != store.PhaseBaking {
		return bad
	}
	in, isBad, err := d.knownBad(ctx, t, w.NewVersion)
	if err != nil {
		d.log.Warn("known-bad check failed; retried next tick", zap.String("watch", w.ID), zap.Error(err))
		return nil
	}
	t.mu.Lock()
	e.badChecked = true
	if isBad {
		e.knownBad = &in
	}
	t.mu.Unlock()
	if isBad {
		d.log.Warn("deploy of a known-bad version", zap.String("target", w.Target), zap.String("watch", w.ID),
			zap.String("version", w.NewVersion), zap.String("incident", in.ID))
		return &in
	}
	return nil
}

// clearKnownBad applies the active mark-good overrides that name a
// version: the incidents that rolled it back are marked cleared, so the
// version may be deployed again. An override that names no version under
// watch is then used up (one that does is also the life cycle's, which
// uses it on that watch).
func (d *Daemon) clearKnownBad(ctx context.Context, active []store.Override, watches []store.Watch) []store.Override {
	kept := active[:0:0]
	for _, o := range active {
		if o.Kind != store.OverrideMarkGood || o.Version == "" || o.Target == "*" || !d.leases.Owns(o.Target) {
			kept = append(kept, o)
			continue
		}
		n, err := d.clearIncidents(ctx, o)
		if err != nil {
			d.log.Error("clear known-bad version", zap.String("override", o.ID), zap.Error(err))
			kept = append(kept, o)
			continue
		}
		watched := false
		for _, w := range watches {
			if w.Target == o.Target && w.NewVersion == o.Version && watch.Judged(w.Phase) {
				watched = true
			}
		}
		if watched {
			kept = append(kept, o)
			continue
		}
		if err := d.store.DeleteOverride(ctx, o.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			d.log.Error("use up mark-good override", zap.String("override", o.ID), zap.Error(err))
		}
		_, targets, _ := d.snapshot()
		oc := o
		d.note(ctx, targets[o.Target], watch.Note{Kind: event.OverrideUsed, Severity: event.Info, Target: o.Target, Override: &oc,
			Message: fmt.Sprintf("version %s of %s marked good by %s (%d incident(s) cleared): it may be deployed again", o.Version, o.Target, o.Actor, n)})
	}
	return kept
}

func (d *Daemon) clearIncidents(ctx context.Context, o store.Override) (int, error) {
	incs, err := d.store.ListIncidents(ctx, o.Target, 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, in := range incs {
		if in.FromVersion != o.Version || !in.ClearedAt.IsZero() || in.OpenedAt.After(o.CreatedAt) {
			continue
		}
		if _, err := d.store.UpdateIncident(ctx, in.ID, func(i *store.Incident) error {
			i.ClearedAt, i.ClearedBy = d.clock.Now(), o.Actor
			return nil
		}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
