package actuator

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// Manual-rollback errors, told apart with errors.Is.
var (
	ErrNoSuchVersion = errors.New("no such version")
	ErrNoKnownGood   = errors.New("no known-good version recorded")
)

// PlanManual builds the plan of `canaryd rollback TARGET [--to VERSION]`:
// it reads the alias for its current version and RevisionId (the
// condition of the alias change), defaults toVersion to the known-good
// version in the store, and refuses a version that does not exist. The plan
// ID is derived from the target and the clock to the second, so a
// double-submitted command resumes the same plan instead of running twice.
func (a *Actuator) PlanManual(ctx context.Context, t config.Target, toVersion string) (Plan, error) {
	if toVersion == "" {
		ts, err := a.cfg.Store.GetTarget(ctx, t.Name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Plan{}, fmt.Errorf("read state of target %s: %w", t.Name, err)
		}
		if ts.KnownGood == "" {
			return Plan{}, fmt.Errorf("target %s: %w; pass --to VERSION", t.Name, ErrNoKnownGood)
		}
		toVersion = ts.KnownGood
	}
	cl := a.cfg.Lambda(t.Name)
	if err := a.versionExists(ctx, cl, t.Function, toVersion); err != nil {
		return Plan{}, err
	}
	cur, err := a.readAlias(ctx, cl, t.Function, t.Alias)
	if err != nil {
		return Plan{}, err
	}
	in := PlanInput{
		IncidentID:  fmt.Sprintf("manual-%s-%s", t.Name, a.clk.Now().UTC().Format("20060102T150405Z")),
		FromVersion: badVersion(cur, toVersion),
		ToVersion:   toVersion,
		RevisionID:  cur.RevisionID,
		Weights:     cur.Weights,
		Trigger:     "manual",
	}
	p := BuildPlan(t, in)
	p.Observed = cur
	if in.FromVersion == toVersion && !t.DryRun {
		// Already there: the alias step will be a no-op; caches and hooks
		// still run, which is what an operator asking for it wants.
		p.AlertOnly, p.AlertReason = false, ""
	}
	return p, nil
}

// badVersion is the version a manual rollback moves away from: the alias's
// primary version, or when that is already the target, the split one.
func badVersion(cur AliasState, to string) string {
	if cur.Version != to {
		return cur.Version
	}
	others := make([]string, 0, len(cur.Weights))
	for v := range cur.Weights {
		if v != to {
			others = append(others, v)
		}
	}
	if len(others) == 0 {
		return to
	}
	sort.Strings(others)
	return others[0]
}

// publishedVersion reports whether v names a published version (digits).
func publishedVersion(v string) bool {
	if v == "" || len(v) > 10 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// versionExists checks a published version with GetFunctionConfiguration.
func (a *Actuator) versionExists(ctx context.Context, cl *lambda.Client, fn, version string) error {
	if !publishedVersion(version) {
		// $LATEST (or any name that is not a number) is not a version
		// one can roll back to: it changes under the alias.
		return fmt.Errorf("version %s of function %s: only a published (numeric) version can be rolled back to: %w", version, fn, ErrNoSuchVersion)
	}
	_, err := a.withRetry(ctx, func(int) error {
		_, err := cl.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{
			FunctionName: aws.String(fn), Qualifier: aws.String(version)})
		return err
	})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ResourceNotFoundException" {
		return fmt.Errorf("version %s of function %s: %w", version, fn, ErrNoSuchVersion)
	}
	if err != nil {
		return fmt.Errorf("check version %s of function %s: %w", version, fn, err)
	}
	return nil
}
