// Package knownbad remembers the versions canaryd (or an operator) rolled
// back. A rolled-back version stays bad for its target: deploying it again
// — a pipeline retry, CodeDeploy finishing its own shift after canaryd
// cleared the weights — is rolled back at once, and a rollout of it is
// refused, until an operator marks it good (`canaryd override mark-good T
// --version V`), unless the target's known_bad is "watch". The memory is
// the incidents themselves (store.Incident.ClearedAt): nothing else to
// keep consistent across crashes and replicas.
package knownbad

import (
	"context"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// Lookup returns the latest incident that rolled version of target back,
// and whether that makes the version bad now (rolled back, and no operator
// cleared it since). An empty version is never bad.
func Lookup(ctx context.Context, s store.Store, target, version string) (store.Incident, bool, error) {
	if version == "" {
		return store.Incident{}, false, nil
	}
	incs, err := s.ListIncidents(ctx, target, 0)
	if err != nil {
		return store.Incident{}, false, fmt.Errorf("list incidents of %s: %w", target, err)
	}
	for _, in := range incs { // newest first: the latest incident of the version decides
		if in.FromVersion != version || in.Outcome == "" {
			continue
		}
		return in, in.RolledBack() && in.ClearedAt.IsZero(), nil
	}
	return store.Incident{}, false, nil
}

// ForTarget is Lookup for target t: a target whose known_bad is "watch"
// treats a redeploy of a rolled-back version as any other deploy (never
// bad).
func ForTarget(ctx context.Context, s store.Store, t config.Target, version string) (store.Incident, bool, error) {
	if t.KnownBad == config.KnownBadWatch {
		return store.Incident{}, false, nil
	}
	return Lookup(ctx, s, t.Name, version)
}

// Why explains a refusal or an immediate rollback, with the command that
// allows the version again.
func Why(in store.Incident) string {
	return fmt.Sprintf("version %s was rolled back by incident %s at %s; `canaryd override mark-good %s --version %s --reason ...` to allow it again",
		in.FromVersion, in.ID, in.OpenedAt.UTC().Format(time.RFC3339), in.Target, in.FromVersion)
}

// Verdict is the verdict a deploy of a known-bad version gets in place of
// the policy's: failing, from the incident that rolled it back.
func Verdict(in store.Incident, now time.Time) policy.Verdict {
	why := Why(in)
	return policy.Verdict{Kind: policy.Failing, At: now, Summary: "failing: known-bad: " + why,
		Findings: []policy.Finding{{Rule: "known-bad", RuleKind: "known_bad", Breached: true, Enough: true,
			Version: in.FromVersion, Note: why}}}
}

// Clears reports whether override o clears a known-bad version: a
// mark-good of one target that names the version.
func Clears(o store.Override) bool {
	return o.Kind == store.OverrideMarkGood && o.Version != "" && o.Target != "*"
}

// Clear marks cleared, at now and by o's actor, the incidents of o's
// target that rolled o's version back before o was created, and returns
// how many it cleared.
func Clear(ctx context.Context, s store.Store, o store.Override, now time.Time) (int, error) {
	incs, err := s.ListIncidents(ctx, o.Target, 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, in := range incs {
		if in.FromVersion != o.Version || !in.ClearedAt.IsZero() || in.OpenedAt.After(o.CreatedAt) {
			continue
		}
		if _, err := s.UpdateIncident(ctx, in.ID, func(i *store.Incident) error {
			i.ClearedAt, i.ClearedBy = now, o.Actor
			return nil
		}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
