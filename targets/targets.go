// Package targets is the runtime of the configured targets: for each, its
// config, its life-cycle settings, the memory of its watches' evidence
// (observe.Memory, which holds its compiled policy) and its AWS clients.
// A config reload builds them all again; the evidence of a target that
// stays is carried over (observe.Memory.Inherit), so watches in progress
// lose nothing.
package targets

import (
	"context"
	"time"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/observe"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/watch"
)

// Target is the runtime of one configured target.
type Target struct {
	Conf      config.Target
	Memory    *observe.Memory
	Lifecycle watch.Config
	Clients   awsclient.Clients // reads: [aws] retry_mode (adaptive by default)
	Actors    awsclient.Clients // rollback steps: standard retries, never slowed by client-side rate limiting
}

// New is the runtime of t judged by p, without AWS clients; dryRun says
// whether the target is alert-only (by flag or config).
func New(t config.Target, p *policy.Policy, dryRun bool) *Target {
	lc := watch.Config{RollbackWindow: t.RollbackWindow.Duration, DryRun: dryRun, DataLag: dataLag(t)}
	if r := t.Rollout; r != nil {
		lc.PreHook, lc.PostHook, lc.RolloutStall = r.PreTraffic != nil, r.PostTraffic != nil, r.StallAfter.Duration
	}
	return &Target{Conf: t, Memory: observe.NewMemory(t, p), Lifecycle: lc}
}

// Build compiles t's policy and loads its clients from o (through cache):
// reads with o's retry mode, rollback steps with standard retries.
func Build(ctx context.Context, t config.Target, dryRun bool, o awsclient.Options, cache ClientCache) (*Target, error) {
	p, err := policy.Compile(t)
	if err != nil {
		return nil, err
	}
	rt := New(t, p, dryRun)
	if rt.Clients, err = cache.Load(ctx, o); err != nil {
		return nil, err
	}
	o.RetryMode = "standard"
	if rt.Actors, err = cache.Load(ctx, o); err != nil {
		return nil, err
	}
	return rt, nil
}

// dataLag is how long after a rollout step's hold its last evidence
// arrives: a metric period and the cycle's delay when a rule reads
// CloudWatch, the longest probe interval when only probes judge.
func dataLag(t config.Target) time.Duration {
	var lag time.Duration
	for _, r := range t.Rules {
		if r.Kind != config.RuleProbe {
			return t.MetricPeriod.Duration + watch.MetricDelay
		}
	}
	for _, p := range t.Probes {
		lag = max(lag, p.Interval.Duration)
	}
	return lag
}

// Grain is how often the target's evidence can change: its metric period,
// or its most frequent probe when that is more often. An evidence series
// keeps one point per grain per rule.
func (t *Target) Grain() time.Duration {
	g := t.Conf.MetricPeriod.Duration
	for _, p := range t.Conf.Probes {
		if iv := p.Interval.Duration; iv > 0 && (g <= 0 || iv < g) {
			g = iv
		}
	}
	return g
}

// ClientCache builds clients once per distinct set of options: targets in
// one account and region share clients, and so share CloudWatch calls (the
// reader batches per client) and the retryers' token buckets. One cache
// serves one build of every target.
type ClientCache map[string]awsclient.Clients

// Load returns the clients of o, building them the first time.
func (c ClientCache) Load(ctx context.Context, o awsclient.Options) (awsclient.Clients, error) {
	key := o.Region + "|" + o.RoleARN + "|" + o.ExternalID + "|" + o.EndpointURL + "|" + o.RetryMode
	if cl, ok := c[key]; ok {
		return cl, nil
	}
	cfg, err := awsclient.Load(ctx, o)
	if err != nil {
		return awsclient.Clients{}, err
	}
	cl := awsclient.New(cfg)
	c[key] = cl
	return cl, nil
}

// ClientOf looks a target's client up by name (nil for an unknown
// target), in the shape the watcher and actuator take.
func ClientOf[C any](ts map[string]*Target, get func(*Target) C) func(string) C {
	return func(name string) C {
		if t := ts[name]; t != nil {
			return get(t)
		}
		var zero C
		return zero
	}
}
