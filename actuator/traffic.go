package actuator

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// ErrAliasMoved says the alias is not as a rollout left it: someone else
// moved it. The rollout must stop without touching it.
var ErrAliasMoved = errors.New("alias moved outside the rollout")

// TrafficShift is one step of a rollout: Weight (in (0, 1]) of the alias's
// traffic to NewVersion, the rest to KnownGood; at 1 the alias points at
// NewVersion alone.
type TrafficShift struct {
	Target     config.Target
	NewVersion string
	KnownGood  string
	Weight     float64
	// Revision is the alias RevisionId canaryd last saw (it set it, or the
	// deploy was started on it): the change is conditional on it.
	Revision string
}

// ShiftResult is the alias after a shift.
type ShiftResult struct {
	Weights  map[string]float64 // additional weights now (nil at 100 %)
	Revision string
	Already  bool // the alias was already there (a re-run after a crash)
}

// ShiftTraffic moves a rollout's traffic, conditional on the RevisionId
// (promise 2). The alias must route only between the known-good and the new
// version; anything else is ErrAliasMoved, and nothing is changed. A shift
// already in place (a crash between UpdateAlias and recording it) is
// reported as done. The fence is checked first: only the target's owner
// moves its traffic.
func (a *Actuator) ShiftTraffic(ctx context.Context, s TrafficShift, fence store.Fence) (ShiftResult, error) {
	if fence.Token != 0 {
		if err := a.cfg.Store.CheckFence(ctx, fence); err != nil {
			return ShiftResult{}, fmt.Errorf("shift traffic of %s: %w", s.Target.Name, err)
		}
	}
	cl := a.cfg.Lambda(s.Target.Name)
	if cl == nil {
		return ShiftResult{}, fmt.Errorf("shift traffic of %s: no Lambda client", s.Target.Name)
	}
	fn, alias := s.Target.Function, s.Target.Alias
	want := AliasState{Version: s.KnownGood, Weights: map[string]float64{s.NewVersion: s.Weight}}
	if s.Weight >= 1 {
		want = AliasState{Version: s.NewVersion}
	}
	cur, err := a.readAlias(ctx, cl, fn, alias)
	if err != nil {
		return ShiftResult{}, err
	}
	if sameRouting(cur, want) {
		return ShiftResult{Weights: cur.Weights, Revision: cur.RevisionID, Already: true}, nil
	}
	if v := movedTo(cur, s.NewVersion, s.KnownGood); v != "" || cur.RevisionID != s.Revision {
		return ShiftResult{}, fmt.Errorf("%w: %s:%s serves %s (revision %s, expected %s)", ErrAliasMoved, fn, alias,
			describeAlias(cur), cur.RevisionID, s.Revision)
	}
	in := &lambda.UpdateAliasInput{FunctionName: aws.String(fn), Name: aws.String(alias),
		FunctionVersion: aws.String(want.Version), RevisionId: aws.String(s.Revision),
		RoutingConfig: &lambdatypes.AliasRoutingConfiguration{AdditionalVersionWeights: maps.Clone(want.Weights)}}
	if in.RoutingConfig.AdditionalVersionWeights == nil {
		in.RoutingConfig.AdditionalVersionWeights = map[string]float64{}
	}
	var out *lambda.UpdateAliasOutput
	_, err = a.withRetry(ctx, func(int) error {
		var err error
		out, err = cl.UpdateAlias(ctx, in)
		return err
	})
	switch {
	case err == nil:
		return ShiftResult{Weights: want.Weights, Revision: aws.ToString(out.RevisionId)}, nil
	case Classify(err) == Precondition:
		// Our own earlier attempt may have landed; anything else moved it.
		if now, rerr := a.readAlias(ctx, cl, fn, alias); rerr == nil && sameRouting(now, want) {
			return ShiftResult{Weights: now.Weights, Revision: now.RevisionID, Already: true}, nil
		}
		return ShiftResult{}, fmt.Errorf("%w: %s:%s changed since revision %s", ErrAliasMoved, fn, alias, s.Revision)
	}
	return ShiftResult{}, fmt.Errorf("shift %s:%s to %g%% on version %s: %w", fn, alias, s.Weight*100, s.NewVersion, err)
}

func sameRouting(a, b AliasState) bool {
	return a.Version == b.Version && maps.Equal(nonEmpty(a.Weights), nonEmpty(b.Weights))
}

func nonEmpty(m map[string]float64) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	return m
}

func describeAlias(a AliasState) string {
	s := "version " + a.Version
	for v, w := range a.Weights {
		s += fmt.Sprintf(" + version %s at %g%%", v, w*100)
	}
	return s
}
