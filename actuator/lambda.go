package actuator

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/canaryd/canaryd/store"
)

// aliasDetail is the journal detail of the lambda-alias step.
type aliasDetail struct {
	Function         string             `json:"function"`
	Alias            string             `json:"alias"`
	From             string             `json:"from"`
	To               string             `json:"to"`
	ObservedVersion  string             `json:"observed_version,omitempty"`
	ObservedWeights  map[string]float64 `json:"observed_weights,omitempty"`
	ObservedRevision string             `json:"observed_revision,omitempty"`
	ExpectedRevision string             `json:"expected_revision,omitempty"`
	NewRevision      string             `json:"new_revision,omitempty"`
	AlreadyReverted  bool               `json:"already_reverted,omitempty"`
	MovedTo          string             `json:"moved_to,omitempty"`
	Attempts         int                `json:"attempts,omitempty"`
	Rounds           int                `json:"rounds,omitempty"` // failed rounds before this one (brown-out)
}

func (d *aliasDetail) setRounds(n int) { d.Rounds = n }

// aliasRound points the alias back at the known-good version, clearing
// any traffic split, conditional on the RevisionId observed (promise 2). It
// never touches an alias that moved to a version that is neither the bad
// one nor the known-good one, and does nothing when the alias is already
// reverted (a re-run after a crash between UpdateAlias and the journal).
// It is one round of the alias step: runAlias repeats it through a
// brown-out.
func (a *Actuator) aliasRound(ctx context.Context, p Plan) stepOutcome {
	cl := a.cfg.Lambda(p.Target.Name)
	fn, alias := p.Target.Function, p.Target.Alias
	d := &aliasDetail{Function: fn, Alias: alias, From: p.Input.FromVersion, To: p.Input.ToVersion}
	cur, err := a.readAlias(ctx, cl, fn, alias)
	if err != nil {
		return failed(d, err)
	}
	d.ObservedVersion, d.ObservedWeights, d.ObservedRevision = cur.Version, cur.Weights, cur.RevisionID
	if out, decided := judgeAlias(d, cur); decided {
		return out
	}
	d.ExpectedRevision = p.Input.RevisionID
	if d.ExpectedRevision == "" {
		// No revision was recorded (manual plan built without one): the
		// alias just read passed the version check, condition on it.
		d.ExpectedRevision = cur.RevisionID
	}
	in := &lambda.UpdateAliasInput{
		FunctionName:    aws.String(fn),
		Name:            aws.String(alias),
		FunctionVersion: aws.String(d.To),
		RevisionId:      aws.String(d.ExpectedRevision),
		RoutingConfig:   &lambdatypes.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}},
	}
	var out *lambda.UpdateAliasOutput
	d.Attempts, err = a.withRetry(ctx, func(int) error {
		var err error
		out, err = cl.UpdateAlias(ctx, in)
		return err
	})
	switch {
	case err == nil:
		d.NewRevision = aws.ToString(out.RevisionId)
		return done(d)
	case Classify(err) == Precondition:
		return a.afterPrecondition(ctx, cl, d, err)
	}
	return failed(d, fmt.Errorf("update alias %s:%s to %s: %w", fn, alias, d.To, err))
}

// judgeAlias decides the step from the alias as read, when that alone
// decides it: already reverted (done) or moved to a newer deploy (aborted).
// Already reverted is the alias serving the known-good version alone,
// whoever put it there: our own earlier attempt, or CodeDeploy's
// auto-rollback after the codedeploy step stopped its deployment.
func judgeAlias(d *aliasDetail, cur AliasState) (stepOutcome, bool) {
	if servesOnly(cur, d.To) {
		d.AlreadyReverted = true
		return done(d), true
	}
	if v := movedTo(cur, d.From, d.To); v != "" {
		d.MovedTo = v
		return stepOutcome{status: store.StepAborted, detail: d,
			err: fmt.Errorf("alias moved to version %s (newer deploy); not clobbering", v)}, true
	}
	return stepOutcome{}, false
}

// afterPrecondition explains a PreconditionFailedException: the alias
// changed since it was observed. If it now serves the known-good version
// alone (our own earlier attempt landed, or CodeDeploy's auto-rollback
// did) the step is done; otherwise it is aborted and the plan stops.
func (a *Actuator) afterPrecondition(ctx context.Context, cl *lambda.Client, d *aliasDetail, cause error) stepOutcome {
	cur, err := a.readAlias(ctx, cl, d.Function, d.Alias)
	if err != nil {
		return stepOutcome{status: store.StepAborted, detail: d,
			err: fmt.Errorf("alias revision changed since observed (%v); not clobbering", cause)}
	}
	d.ObservedVersion, d.ObservedWeights, d.ObservedRevision = cur.Version, cur.Weights, cur.RevisionID
	if out, decided := judgeAlias(d, cur); decided {
		return out
	}
	return stepOutcome{status: store.StepAborted, detail: d, err: fmt.Errorf(
		"alias revision changed since observed (expected %s, now %s at version %s); not clobbering",
		d.ExpectedRevision, cur.RevisionID, cur.Version)}
}

// servesOnly reports whether the alias sends all its traffic to version v:
// it points at v and any additional version weighs nothing.
func servesOnly(cur AliasState, v string) bool {
	if cur.Version != v {
		return false
	}
	for _, w := range cur.Weights {
		if w != 0 {
			return false
		}
	}
	return true
}

// movedTo returns a version the alias routes to that is neither from nor
// to, or "" when the alias is still within the deploy being rolled back.
func movedTo(cur AliasState, from, to string) string {
	vs := []string{cur.Version}
	for v := range cur.Weights {
		vs = append(vs, v)
	}
	sort.Strings(vs[1:])
	for _, v := range vs {
		if v != from && v != to {
			return v
		}
	}
	return ""
}

// readAlias reads an alias with the step retry policy.
func (a *Actuator) readAlias(ctx context.Context, cl *lambda.Client, fn, alias string) (AliasState, error) {
	var cur AliasState
	_, err := a.withRetry(ctx, func(int) error {
		out, err := cl.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(fn), Name: aws.String(alias)})
		if err != nil {
			return err
		}
		cur = AliasState{Version: aws.ToString(out.FunctionVersion), RevisionID: aws.ToString(out.RevisionId)}
		if out.RoutingConfig != nil && len(out.RoutingConfig.AdditionalVersionWeights) > 0 {
			cur.Weights = out.RoutingConfig.AdditionalVersionWeights
		}
		return nil
	})
	if err != nil {
		return cur, fmt.Errorf("get alias %s:%s: %w", fn, alias, err)
	}
	return cur, nil
}
