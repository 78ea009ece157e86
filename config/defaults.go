package config

import (
	"fmt"
	"os"
	"time"
)

// Defaults, applied once at load time.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultPollInterval    = 15 * time.Second
	DefaultSweepCron       = "@every 5m"
	DefaultShutdownTimeout = 20 * time.Second
	DefaultBakeTime        = 10 * time.Minute
	DefaultMetricPeriod    = time.Minute
	DefaultMetricLag       = 3
	DefaultBaselineWindow  = 30 * time.Minute
	// DefaultShapeWindow is a day: compare_errors tempers at an upper
	// bound on its bursts' 1/k, which a baseline's half hour leaves loose.
	DefaultShapeWindow = 24 * time.Hour
	// MaxShapeWindow is CloudWatch's retention of one-minute datapoints.
	MaxShapeWindow = 15 * 24 * time.Hour
	// DefaultBaselineHorizon is how long after the deploy a trip against
	// the pre-deploy baseline rolls back (target.baseline_horizon). Later,
	// the known-good's own drift with the time of day and its load is past
	// what min_effect and the baseline's trend allow too often (README,
	// "Decision quality": good/latency-drift).
	DefaultBaselineHorizon = 30 * time.Minute
	DefaultProbeTimeout    = 5 * time.Second
	DefaultProbeInterval   = 10 * time.Second
	DefaultMaxBodyBytes    = 64 << 10
	DefaultMaxRedirects    = 3
	DefaultRuleWindow      = 5 * time.Minute
	DefaultMinInvocations  = 50
	DefaultMinSamples      = 3
	// DefaultWarmup is the time constant of the new version's cold starts
	// that latency rules allow for: a share e^(-t/40s) of its invocations
	// may be slow t after the deploy.
	DefaultWarmup = 40 * time.Second
	// DefaultErrorsMinEffect and DefaultLatencyMinEffect are the margins
	// compare_errors and compare_latency tolerate when the file does not
	// write min_effect: the known-good's own drift between its baseline
	// and the watch (time of day, load). With none, a drifting known-good
	// reads as a regression: on the quality benchmark a config without
	// min_effect rolled back a good deploy whose latency rose with its
	// load (README, "Decision quality"). A written 0 is kept.
	// compare_latency's margin grows with the time since the deploy on
	// top of this one (policy: driftAt), so its start can be small.
	DefaultErrorsMinEffect  = 0.05
	DefaultLatencyMinEffect = 0.05
	// DefaultConfidence is a statistical rule's 1 - α, α its
	// false-rollback probability over a whole watch: 2e-4, so that a
	// target with five statistical rules stays at 1e-3 per deploy.
	DefaultConfidence    = 0.9998
	DefaultLeaseTTL      = 15 * time.Second
	DefaultHookTimeout   = 10 * time.Second
	DefaultExecTimeout   = 60 * time.Second
	DefaultVerifyWindow  = 2 * time.Minute
	DefaultNotifyTimeout = 10 * time.Second
	DefaultTraceKeep     = 50 // daemon.trace_keep: traces kept per target
	// DefaultOrphanSweep is how often the lease owner looks for the
	// unfinished incidents of its targets that nothing runs, and
	// DefaultOrphanAge how old one must be: an operator's rollback being
	// prepared, or a replica recording its incidents again after a store
	// loss, is younger (daemon.orphan_sweep, daemon.orphan_age: for tests).
	DefaultOrphanSweep = 5 * time.Minute
	DefaultOrphanAge   = time.Minute
	// DefaultLostSweep is how long after a replica noticed that the store
	// lost its data it runs the incidents other replicas record again
	// (daemon.lost_sweep: for tests).
	DefaultLostSweep = time.Minute
)

// Bounds of the test keys daemon.orphan_sweep, orphan_age and lost_sweep:
// at least a tick (a second by default), at most an hour.
const (
	minOrphanDur = time.Second
	maxOrphanDur = time.Hour
)

// applyDefaults fills in unset keys. Where zero is a meaningful value
// (retries, verify window) the default applies only if the key is absent.
func applyDefaults(c *Config, pos positions) {
	d := &c.Daemon
	setStr(&d.Listen, DefaultListen)
	setStr(&d.LogLevel, "info")
	setDur(&d.PollInterval, DefaultPollInterval)
	setStr(&d.SweepCron, DefaultSweepCron)
	setDur(&d.ShutdownTimeout, DefaultShutdownTimeout)
	if d.ReplicaID == "" {
		if h, err := os.Hostname(); err == nil {
			d.ReplicaID = h
		} else {
			d.ReplicaID = "canaryd"
		}
	}
	setInt(&d.MaxConcurrentAWS, 16)
	if d.MaxPollRate == 0 {
		d.MaxPollRate = 10
	}
	setInt(&d.TraceKeep, DefaultTraceKeep)
	// The test keys: a written "0s" is kept, and refused (it does not
	// mean "off").
	for _, k := range []struct {
		key string
		p   *Duration
		def time.Duration
	}{
		{"daemon.orphan_sweep", &d.OrphanSweep, DefaultOrphanSweep},
		{"daemon.orphan_age", &d.OrphanAge, DefaultOrphanAge},
		{"daemon.lost_sweep", &d.LostSweep, DefaultLostSweep},
	} {
		if !pos.written(k.key) {
			k.p.Duration = k.def
		}
	}

	setInt(&c.AWS.MaxAttempts, 5)
	setDur(&c.AWS.MaxBackoff, 20*time.Second)
	setStr(&c.AWS.RetryMode, "adaptive")

	setStr(&c.Store.Backend, "bolt")
	setStr(&c.Store.Path, "canaryd.db")
	setStr(&c.Store.Redis.KeyPrefix, "canaryd:")
	setDur(&c.Store.LeaseTTL, DefaultLeaseTTL)

	for i := range c.Notifiers {
		n := &c.Notifiers[i]
		setDur(&n.Timeout, DefaultNotifyTimeout)
		if !pos.written(fmt.Sprintf("notifier[%d].retries", i)) {
			n.Retries = 5
		}
		if n.Type == NotifierSNS {
			setStr(&n.Region, c.AWS.Region)
		}
	}
	for i := range c.Targets {
		defaultTarget(c, &c.Targets[i], pos, fmt.Sprintf("target[%d]", i))
	}
}

func defaultTarget(c *Config, t *Target, pos positions, path string) {
	setStr(&t.Region, c.AWS.Region)
	setStr(&t.RoleARN, c.AWS.RoleARN)
	setStr(&t.ExternalID, c.AWS.ExternalID)
	// A key the file wrote keeps its value, zero included: it means none
	// where the key allows it (warmup = "0s": no cold-start allowance),
	// and where it does not (metric_lag, min_invocations, min_samples)
	// validation names the key.
	applyTargetDefaults(t, func(key string) bool { return pos.written(path + "." + key) })
	if !pos.written(path + ".baseline_horizon") { // "0s": for the whole watch
		t.BaselineHorizon.Duration = DefaultBaselineHorizon
	}
	for i := range t.Rules {
		r := &t.Rules[i]
		if pos.written(fmt.Sprintf("%s.rule[%d].min_effect", path, i)) {
			continue // 0: no margin
		}
		switch r.Kind {
		case RuleCompareErrors:
			r.MinEffect = DefaultErrorsMinEffect
		case RuleCompareLatency:
			r.MinEffect = DefaultLatencyMinEffect
		}
	}
	for i := range t.Actions.Webhooks {
		if !pos.written(fmt.Sprintf("%s.actions.webhook[%d].retries", path, i)) {
			t.Actions.Webhooks[i].Retries = 3
		}
	}
	if len(t.Probes) > 0 && !pos.written(path+".actions.verify.window") {
		t.Actions.Verify.Window.Duration = DefaultVerifyWindow
	}
}

// ApplyTargetDefaults fills in the unset keys of a Target built in code
// (tests, tools) the way Load does for a file, except what needs the rest
// of the file (region and role from [aws]) or knowing whether a key was
// written (zero retries, zero verify window, baseline_horizon, the compare
// rules' min_effect: a Target built in code means what it says). Load
// calls the same code.
func ApplyTargetDefaults(t *Target) {
	applyTargetDefaults(t, func(string) bool { return false })
	for i := range t.Actions.Webhooks {
		setInt(&t.Actions.Webhooks[i].Retries, 3)
	}
	if len(t.Probes) > 0 {
		setDur(&t.Actions.Verify.Window, DefaultVerifyWindow)
	}
}

// applyTargetDefaults fills in t's unset keys; written reports whether
// the file wrote a key (relative to the target: "metric_lag",
// "rule[0].warmup"), whose zero is then kept.
func applyTargetDefaults(t *Target, written func(key string) bool) {
	setDur(&t.BakeTime, DefaultBakeTime)
	if t.KnownBad == "" {
		t.KnownBad = KnownBadRollback
	}
	setDur(&t.MetricPeriod, DefaultMetricPeriod)
	if !written("metric_lag") {
		setInt(&t.MetricLag, DefaultMetricLag)
	}
	setDur(&t.BaselineWindow, DefaultBaselineWindow)
	setDur(&t.ShapeWindow, max(DefaultShapeWindow, t.BaselineWindow.Duration))
	for i := range t.Probes {
		p := &t.Probes[i]
		setStr(&p.Method, "GET")
		setDur(&p.Timeout, DefaultProbeTimeout)
		setDur(&p.Interval, DefaultProbeInterval)
		if p.MaxBodyBytes == 0 {
			p.MaxBodyBytes = DefaultMaxBodyBytes
		}
		setInt(&p.MaxRedirects, DefaultMaxRedirects)
	}
	for i := range t.Rules {
		defaultRule(&t.Rules[i], func(key string) bool { return written(fmt.Sprintf("rule[%d].%s", i, key)) })
	}
	for i := range t.Actions.Redis {
		setInt(&t.Actions.Redis[i].BatchSize, 500)
	}
	for i := range t.Actions.Webhooks {
		setDur(&t.Actions.Webhooks[i].Timeout, DefaultHookTimeout)
	}
	for i := range t.Actions.Exec {
		setDur(&t.Actions.Exec[i].Timeout, DefaultExecTimeout)
	}
	if cd := t.CodeDeploy; cd != nil && cd.AutoRollback == nil {
		yes := true
		cd.AutoRollback = &yes
	}
	if r := t.Rollout; r != nil {
		setDur(&r.StallAfter, DefaultStallAfter)
		for _, h := range []*TrafficHook{r.PreTraffic, r.PostTraffic} {
			if h == nil {
				continue
			}
			// each kind given, so that a hook giving two is told that, not
			// also of a timeout it did not set
			if h.Webhook != nil {
				setDur(&h.Webhook.Timeout, DefaultHookTimeout)
			}
			if h.Exec != nil {
				setDur(&h.Exec.Timeout, DefaultExecTimeout)
			}
			if h.Lambda != nil {
				setDur(&h.Lambda.Timeout, DefaultLambdaHookTimeout)
			}
		}
	}
}

// defaultRule fills in a rule's unset keys: the one place rule defaults
// live (policy.Compile trusts them), but for the compare rules' min_effect,
// which only a file's rules get (defaultTarget: a zero in a Target built
// in code is no margin).
func defaultRule(r *Rule, written func(key string) bool) {
	// Keys the file wrote keep their value, zero included.
	defInt := func(key string, p *int, v int) {
		if !written(key) {
			setInt(p, v)
		}
	}
	setStr(&r.Op, ">")
	setStr(&r.MissingData, MissingIgnore)
	setDur(&r.Window, DefaultRuleWindow)
	defInt("min_samples", &r.MinSamples, DefaultMinSamples)
	if r.Breaches == 0 && r.OfWindows == 0 {
		r.Breaches, r.OfWindows = 1, 1
	}
	setInt(&r.OfWindows, r.Breaches)
	setInt(&r.Breaches, r.OfWindows)
	switch r.Kind {
	case RuleErrorRate, RuleCompareErrors, RuleThrottles:
		defInt("min_invocations", &r.MinInvocations, DefaultMinInvocations)
	case RuleLatency, RuleCompareLatency:
		defInt("min_invocations", &r.MinInvocations, DefaultMinInvocations)
		setStr(&r.Stat, "p99")
		if !written("warmup") {
			setDur(&r.Warmup, DefaultWarmup)
		}
	case RuleMetric:
		setStr(&r.Stat, "Average")
	}
	if Statistical(r.Kind) && r.Confidence == 0 {
		r.Confidence = DefaultConfidence
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if p.Duration == 0 {
		p.Duration = v
	}
}
