package watcher

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// The concurrency's use. Lambda throttles a request that finds the
// concurrency its function draws on all taken: the function's reserved
// concurrency, or else the account's unreserved pool, which every function
// without a reservation shares. A throttles rule judging a share of the
// requests allows the known-good's capacity (policy's capacity.go), which
// without more is the most it served in a minute; how much of its limit
// those minutes used says how much more it could serve. So for such a
// rule the baseline window and the shape history carry, per period, the
// Maximum of ConcurrentExecutions (the function's, when it has a
// reservation) or of UnreservedConcurrentExecutions (the account's pool)
// over that limit, as alias-level sample.MetricConcurrencyUse samples.
// The limit is read once a watch (lambda:GetFunctionConcurrency, and
// lambda:GetAccountSettings without a reservation); a failed read (no
// permission) is logged and leaves the rule with the most the known-good
// served, as before.

// ReadsConcurrency reports whether a target has a rule that reads the
// concurrency's use: throttles as a share of requests against a threshold.
func ReadsConcurrency(t config.Target) bool {
	for _, r := range t.Rules {
		if r.Kind == config.RuleThrottles && r.Threshold < 1 && r.Baseline != "ratio" {
			return true
		}
	}
	return false
}

// ConcurrencyLimit is the concurrency limit a function draws on: its
// reserved concurrency (Reserved), or else the account's unreserved pool.
type ConcurrencyLimit struct {
	Limit    int
	Reserved bool
	// Action is the IAM action of the read that failed (ReadConcurrencyLimit).
	Action string
}

// ReadConcurrencyLimit reads the concurrency limit t's function draws on
// (lambda:GetFunctionConcurrency, and lambda:GetAccountSettings without a
// reservation). On error, Action names the call that failed.
func ReadConcurrencyLimit(ctx context.Context, client *lambda.Client, t config.Target) (ConcurrencyLimit, error) {
	fn := FunctionName(t.Function)
	fc, err := client.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(fn)})
	if err != nil {
		return ConcurrencyLimit{Action: "lambda:GetFunctionConcurrency"}, fmt.Errorf("GetFunctionConcurrency %s: %w", fn, err)
	}
	if rc := fc.ReservedConcurrentExecutions; rc != nil {
		if *rc <= 0 {
			return ConcurrencyLimit{Action: "lambda:GetFunctionConcurrency"}, fmt.Errorf("function %s has a reserved concurrency of 0: it cannot run", fn)
		}
		return ConcurrencyLimit{Limit: int(*rc), Reserved: true}, nil
	}
	as, err := client.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		return ConcurrencyLimit{Action: "lambda:GetAccountSettings"}, fmt.Errorf("GetAccountSettings: %w", err)
	}
	if as.AccountLimit == nil || as.AccountLimit.UnreservedConcurrentExecutions == nil || *as.AccountLimit.UnreservedConcurrentExecutions <= 0 {
		return ConcurrencyLimit{Action: "lambda:GetAccountSettings"}, fmt.Errorf("GetAccountSettings: no unreserved concurrency in the account's limit")
	}
	return ConcurrencyLimit{Limit: int(*as.AccountLimit.UnreservedConcurrentExecutions)}, nil
}

// readConcurrency reads the concurrency's use over [from, to) for a
// target that reads it (readsConcurrency), nil when it does not, when the
// reader has no Lambda client, or when a read fails (logged).
func (r *MetricReader) readConcurrency(ctx context.Context, aw ActiveWatch, from, to time.Time) []sample.Sample {
	t := aw.Target
	if r.cfg.LambdaClients == nil || !ReadsConcurrency(t) || !from.Before(to) {
		return nil
	}
	client := r.cfg.LambdaClients(t.Name)
	if client == nil {
		return nil
	}
	warn := func(err error) {
		r.cfg.Logger.Warn("concurrency read failed; the throttles rule takes the most the known-good served in a minute as its capacity",
			zap.String("target", t.Name), zap.String("watch", aw.Watch.ID), zap.Error(err))
	}
	lim, err := ReadConcurrencyLimit(ctx, client, t)
	if err != nil {
		warn(err)
		return nil
	}
	pl := watchPlan{series: []series{lim.series(t)}}
	out, err := r.readRange(ctx, aw, &pl, from, to)
	if err != nil {
		warn(err)
		return nil
	}
	if !lim.Reserved {
		r.mu.Lock()
		r.pools[aw.Watch.ID] = poolRead{limit: lim.Limit, at: r.cfg.Clock.Now()}
		r.mu.Unlock()
	}
	return out
}

// series is the query of the function's use of the limit, as a share.
func (l ConcurrencyLimit) series(t config.Target) series {
	name, dims, metric := "UnreservedConcurrentExecutions", []types.Dimension(nil), sample.MetricPoolUse
	if l.Reserved {
		name, metric = "ConcurrentExecutions", sample.MetricConcurrencyUse
		dims = []types.Dimension{{Name: aws.String("FunctionName"), Value: aws.String(FunctionName(t.Function))}}
	}
	return series{metric: metric, scale: float64(l.Limit), stat: &types.MetricStat{
		Metric: &types.Metric{Namespace: aws.String(lambdaNamespace), MetricName: aws.String(name), Dimensions: dims},
		Period: aws.Int32(int32(targetPeriod(t) / time.Second)), Stat: aws.String("Maximum"),
	}}
}

// poolRead is the account's unreserved concurrency read for a watch's
// baseline (readConcurrency), which its cycles then read the use of: a
// period with the pool exhausted (another function's demand) is not
// judged by the throttles rule (policy's poolOf). A reservation
// is the function's own: its use at the limit is the function's doing,
// and only the baseline's tells the capacity.
type poolRead struct {
	limit int
	at    time.Time
}

// poolSeries is the query of the account's unreserved pool's use that a
// watch's cycles read, none without a pool limit.
func poolSeries(t config.Target, limit int) []series {
	if limit <= 0 {
		return nil
	}
	return []series{ConcurrencyLimit{Limit: limit}.series(t)}
}

// poolKeep is how long a watch's pool limit is kept while the watch is not
// among a cycle's (its baseline may be read before its first cycle).
const poolKeep = time.Hour

// prunePools forgets the pool limits of watches no longer active. Called
// with r.mu held.
func (r *MetricReader) prunePools(active map[string]bool, now time.Time) {
	for id, p := range r.pools {
		if !active[id] && now.Sub(p.at) > poolKeep {
			delete(r.pools, id)
		}
	}
}
