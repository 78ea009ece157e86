// Package config loads and validates canaryd's config.toml.
//
// The types in this file are the shape of the file; every other package
// receives the parts it needs (a Target, a Rule, a Notifier) after Load has
// applied defaults, resolved secrets and validated them. Config is immutable
// after Load: nothing on a request path fills in defaults.
package config

import (
	"fmt"
	"time"
)

// Config is the whole of config.toml.
type Config struct {
	Daemon    Daemon     `toml:"daemon"`
	AWS       AWS        `toml:"aws"`
	Store     Store      `toml:"store"`
	Notifiers []Notifier `toml:"notifier"`
	Targets   []Target   `toml:"target"`
	Events    Events     `toml:"events"` // optional: deploy detection from EventBridge events (events.go)

	// Path is the file the config was loaded from ("" when loaded from bytes).
	Path string `toml:"-"`
	// Warnings lists what loads but has no effect (rule knobs the
	// statistical tests no longer use) or has a better way to be written
	// (a rule relative to the known-good where a compare rule asks the
	// same question with more power), for `canaryd check` and the
	// daemon's log to show.
	Warnings []Problem `toml:"-"`
}

// Daemon holds process-wide settings.
type Daemon struct {
	Listen           string   `toml:"listen"`             // admin API address, default "127.0.0.1:8080"
	TLSCertFile      string   `toml:"tls_cert_file"`      // optional: serve the admin API over TLS
	TLSKeyFile       string   `toml:"tls_key_file"`       //
	AdminTokenEnv    string   `toml:"admin_token_env"`    // env var holding the bearer token
	AdminTokenFile   string   `toml:"admin_token_file"`   // or a file holding it
	AdminToken       Secret   `toml:"-"`                  // resolved from the two above
	LogLevel         string   `toml:"log_level"`          // debug|info|warn|error, default info
	DryRun           bool     `toml:"dry_run"`            // alert only: plans are journaled, never executed
	PollInterval     Duration `toml:"poll_interval"`      // alias poll, default 15s
	SweepCron        string   `toml:"sweep_cron"`         // robfig/cron spec for the safety-net sweep of missed aliases (Detector.SweepMissed), default "@every 5m"
	ShutdownTimeout  Duration `toml:"shutdown_timeout"`   // bound on graceful shutdown, default 20s
	ReplicaID        string   `toml:"replica_id"`         // default: hostname
	MaxConcurrentAWS int      `toml:"max_concurrent_aws"` // bound on in-flight AWS calls, default 16
	MaxPollRate      float64  `toml:"max_poll_rate"`      // alias reads per second over all targets, default 10 (Lambda's control-plane quota is ~15/s)
	TraceDir         string   `toml:"trace_dir"`          // optional: each judged watch's replay trace is written under it (observe.Recorder)
	TraceKeep        int      `toml:"trace_keep"`         // traces kept per target, default 50
	// OrphanSweep and OrphanAge are for tests and chaos experiments, not
	// for users (not in config.toml): how often the lease owner looks for
	// the unfinished incidents of its targets that nothing runs, and how
	// old one must be (daemon.sweepOrphans), default 5m and 1m. An
	// experiment cannot wait five minutes for the sweep; production keeps
	// the defaults.
	OrphanSweep Duration `toml:"orphan_sweep"`
	OrphanAge   Duration `toml:"orphan_age"`
	// LostSweep, for tests too: how long after a replica noticed that the
	// store lost its data it runs, every tick, the unfinished incidents
	// other replicas record again (daemon.sweepLost), default 1m.
	LostSweep Duration `toml:"lost_sweep"`
	// Tokens are named API tokens with a scope; the admin token above is
	// one more, named "admin", with the operator scope.
	Tokens []Token `toml:"token"`
}

// Token scopes, each allowing what the one before it does and more.
const (
	ScopeReader   = "reader"   // GET /v1/*: status, overrides, watches, incidents, postmortems
	ScopeDeployer = "deployer" // and POST /v1/deploys: a pipeline announcing deploys
	ScopeOperator = "operator" // and overrides, manual rollbacks
)

// AdminTokenName is the name (the audit actor) of daemon.admin_token_*.
const AdminTokenName = "admin"

// Token is a named bearer token of the admin API ([[daemon.token]]). Its
// name is the actor recorded for what it does.
type Token struct {
	Name      string `toml:"name"`
	Scope     string `toml:"scope"` // reader | deployer | operator
	TokenEnv  string `toml:"token_env"`
	TokenFile string `toml:"token_file"`
	Value     Secret `toml:"-"`
}

// AWS holds the default AWS settings; a target may override region and role.
type AWS struct {
	Region      string   `toml:"region"`       // required unless every target sets one
	RoleARN     string   `toml:"role_arn"`     // optional AssumeRole
	ExternalID  string   `toml:"external_id"`  // optional, with role_arn
	EndpointURL string   `toml:"endpoint_url"` // optional endpoint override for every service (awssim, VPC endpoints)
	MaxAttempts int      `toml:"max_attempts"` // SDK adaptive retry attempts, default 5
	MaxBackoff  Duration `toml:"max_backoff"`  // SDK retry backoff cap, default 20s
	RetryMode   string   `toml:"retry_mode"`   // "adaptive" (default: client-side rate limiting after throttles) or "standard"

	// Deadlines: no AWS call waits forever on a hung or black-holed
	// connection (promise 13).
	ReadTimeout           Duration `toml:"read_timeout"`            // one read (Get*/List*/Describe*) with the SDK's retries, default 30s
	ActionTimeout         Duration `toml:"action_timeout"`          // one change (UpdateAlias, CreateInvalidation, Publish...) with retries, default 60s
	ConnectTimeout        Duration `toml:"connect_timeout"`         // TCP connect, and TLS handshake, per attempt, default 5s
	ResponseHeaderTimeout Duration `toml:"response_header_timeout"` // wait for the response headers, per attempt, default 10s
}

// Store selects and configures the state backend.
type Store struct {
	Backend  string    `toml:"backend"` // "bolt" (default) or "redis"
	Path     string    `toml:"path"`    // bolt file, default "canaryd.db"
	Redis    RedisConn `toml:"redis"`
	LeaseTTL Duration  `toml:"lease_ttl"` // target ownership lease, default 15s
}

// RedisConn is how to reach a Redis deployment (single, Sentinel or Cluster).
type RedisConn struct {
	Addrs        []string `toml:"addrs"`       // one address, several for Cluster, Sentinel addresses with master_name
	MasterName   string   `toml:"master_name"` // Sentinel master name
	Cluster      bool     `toml:"cluster"`     // force Cluster mode
	Username     string   `toml:"username"`
	PasswordEnv  string   `toml:"password_env"`
	PasswordFile string   `toml:"password_file"`
	Password     Secret   `toml:"-"`
	DB           int      `toml:"db"`
	TLS          bool     `toml:"tls"`
	KeyPrefix    string   `toml:"key_prefix"` // store keys only: default "canaryd:"
}

// Target is one protected thing: a Lambda alias and everything about it.
type Target struct {
	Name           string   `toml:"name"`     // unique, [a-z0-9-_]
	Function       string   `toml:"function"` // function name or ARN
	Alias          string   `toml:"alias"`
	Region         string   `toml:"region"`   // default: aws.region
	RoleARN        string   `toml:"role_arn"` // default: aws.role_arn
	ExternalID     string   `toml:"external_id"`
	BakeTime       Duration `toml:"bake_time"`       // healthy this long => promoted, default 10m
	RollbackWindow Duration `toml:"rollback_window"` // keep watching after promotion, default 0 (off)
	MetricPeriod   Duration `toml:"metric_period"`   // CloudWatch period, multiple of 60s, default 60s
	MetricLag      int      `toml:"metric_lag"`      // periods re-read each cycle for late data, default 3
	BaselineWindow Duration `toml:"baseline_window"` // pre-deploy window read for baselines, default 30m
	// ShapeWindow is how far before the deploy the alias's count metrics
	// (Invocations, Errors, Throttles) are read for the shape of their
	// bursts alone (rates come from baseline_window): a day shows a
	// service's clumps where an hour of rare errors cannot, and pins the
	// bound on their burstiness compare_errors tempers at. Default: 24h
	// (the baseline_window when longer); at most 15 days, CloudWatch's
	// retention of one-minute data.
	ShapeWindow Duration `toml:"shape_window"`
	// BaselineHorizon is how long after the deploy a rule that compares
	// with the pre-deploy baseline (compare_errors, compare_latency, a
	// ratio or delta rule, a probe against its pre-deploy failure rate)
	// may roll back; later in the rollback window such a trip alerts only,
	// since the known-good's own rate changes with the time of day. Default
	// 1h; "0s" = for the whole watch.
	BaselineHorizon Duration `toml:"baseline_horizon"`
	Notify          []string `toml:"notify"`  // notifier names
	DryRun          bool     `toml:"dry_run"` // alert only for this target
	// KnownBad is what a deploy of a version canaryd rolled back before
	// gets: "rollback" (default: rolled back at once, and a rollout of it
	// is refused, until an operator marks it good) or "watch" (judged
	// like any other).
	KnownBad string `toml:"known_bad"`

	Probes  []Probe  `toml:"probe"`
	Rules   []Rule   `toml:"rule"`
	Actions Actions  `toml:"actions"`
	Rollout *Rollout `toml:"rollout"` // how canaryd shifts traffic itself (canaryd deploy); nil: it only watches
	// CodeDeploy names the CodeDeploy deployment group that also deploys
	// this alias: a rollback first stops its deployments in progress, so
	// that CodeDeploy does not shift the bad version back. nil: none.
	CodeDeploy *CodeDeploy `toml:"codedeploy"`
}

// CodeDeploy is a target's [target.codedeploy]: the CodeDeploy application
// and deployment group (compute platform Lambda) that deploy its alias.
type CodeDeploy struct {
	Application     string `toml:"application"`
	DeploymentGroup string `toml:"deployment_group"`
	// AutoRollback is StopDeployment's autoRollbackEnabled: CodeDeploy
	// then starts its own rollback deployment to the original version.
	// Default true (nil, in a Target built in code, means true).
	AutoRollback *bool `toml:"auto_rollback"`
}

// AutoRollbackEnabled is AutoRollback with its default applied.
func (c *CodeDeploy) AutoRollbackEnabled() bool { return c.AutoRollback == nil || *c.AutoRollback }

// KnownBad policies.
const (
	KnownBadRollback = "rollback"
	KnownBadWatch    = "watch"
)

// Probe is an HTTP(S) health check of the target.
type Probe struct {
	Name          string            `toml:"name"`
	Method        string            `toml:"method"` // default GET
	URL           string            `toml:"url"`
	Headers       map[string]string `toml:"headers"`        // plain headers
	HeadersEnv    map[string]string `toml:"headers_env"`    // header -> env var holding its value
	HeadersFile   map[string]string `toml:"headers_file"`   // header -> file holding its value
	SecretHeaders map[string]Secret `toml:"-"`              // resolved from the two above
	Timeout       Duration          `toml:"timeout"`        // default 5s
	Interval      Duration          `toml:"interval"`       // default 10s
	ExpectStatus  []int             `toml:"expect_status"`  // default [200..299]
	BodyMatch     string            `toml:"body_match"`     // optional regexp the body must match
	MaxLatency    Duration          `toml:"max_latency"`    // optional: slower counts as failure
	MaxBodyBytes  int64             `toml:"max_body_bytes"` // read bound, default 64 KiB
	MaxRedirects  int               `toml:"max_redirects"`  // default 3
}

// Rule kinds.
const (
	RuleErrorRate      = "error_rate"      // Errors/Invocations above a rate (or relative to known-good), sequential test
	RuleLatency        = "latency"         // Duration percentile (stat) above a value: slow invocations counted with TC(X:)
	RuleThrottles      = "throttles"       // Throttles per period (threshold >= 1) or share of requests (< 1)
	RuleMetric         = "metric"          // custom metric or metric-math expression vs a threshold (windowed, not statistical)
	RuleProbe          = "probe"           // health probe failure rate vs a tolerated rate and vs the known-good's recent rate
	RuleCompareErrors  = "compare_errors"  // new vs known-good error rate, sequential two-sample test
	RuleCompareLatency = "compare_latency" // new vs known-good percentile, slow invocations counted with TC(X:)
)

// Statistical reports whether rules of this kind are judged by an
// anytime-valid sequential test (every kind but metric).
func Statistical(kind string) bool {
	switch kind {
	case RuleErrorRate, RuleLatency, RuleThrottles, RuleProbe, RuleCompareErrors, RuleCompareLatency:
		return true
	}
	return false
}

// Missing-data treatments.
const (
	MissingIgnore    = "ignore"
	MissingBreaching = "breaching"
	MissingGood      = "good"
)

// Rule is one condition over samples that can breach.
//
// Statistical rules (every kind but metric) trip when the evidence since
// the deploy, counted in invocations (probe results for probes), is
// significant under a test that stays valid however often it is looked
// at: the false-rollback probability over the watch's whole life is at
// most 1 - confidence. For them window, for, breaches, of_windows and
// min_samples (probe rules excepted) no longer mean anything; they still
// load, and Load lists them in Config.Warnings.
type Rule struct {
	Name string `toml:"name"`
	Kind string `toml:"kind"` // one of the Rule* constants

	// Threshold, compared with Op against the observed value (absolute rules)
	// or against the ratio/delta to the baseline (when Baseline is set).
	// error_rate: a rate in (0, 1]; latency: milliseconds; throttles: per
	// period (>= 1) or a share of requests (< 1).
	Threshold float64 `toml:"threshold"`
	Op        string  `toml:"op"`       // ">" (default), ">="; metric rules also "<", "<="
	Baseline  string  `toml:"baseline"` // "" (absolute), "ratio" or "delta": relative to known-good

	// Metric selection for latency and custom metrics.
	Stat       string            `toml:"stat"`      // latency: "p99" default; metric: Sum|Average|Maximum|Minimum|SampleCount|pNN
	Namespace  string            `toml:"namespace"` // metric: e.g. "MyApp"
	MetricName string            `toml:"metric_name"`
	Dimensions map[string]string `toml:"dimensions"` // metric: "${function}", "${alias}", "${version}" expand
	Expression string            `toml:"expression"` // metric: metric-math over m1.. (queries below)

	// Evidence.
	MinInvocations int      `toml:"min_invocations"` // statistical rules: invocations judged before the rule vouches for promotion (never a veto on tripping); default 50
	MinSamples     int      `toml:"min_samples"`     // metric rules: periods per window; probe rules: results before the rule vouches; default 3
	Warmup         Duration `toml:"warmup"`          // latency rules: cold starts decay with this time constant (a share e^(-t/warmup) of the new version's invocations may be slow t after the deploy); default 40s, "0s" none

	// Windowed (metric) rules only.
	For         Duration `toml:"for"`          // must breach continuously this long
	Breaches    int      `toml:"breaches"`     // M of ...
	OfWindows   int      `toml:"of_windows"`   // ... N windows; default 1 of 1
	Window      Duration `toml:"window"`       // evaluation window, default 5m
	MissingData string   `toml:"missing_data"` // ignore (default) | breaching | good

	// Probe rules.
	Probe               string  `toml:"probe"`                // probe name
	ConsecutiveFailures int     `toml:"consecutive_failures"` // no longer used (a run of failures is judged by the failure-rate test)
	FailureRatio        float64 `toml:"failure_ratio"`        // failure rate tolerated when no pre-deploy probe results exist, default 0.1

	// Statistical rules.
	Confidence float64 `toml:"confidence"` // 1 - the false-rollback probability over the whole watch; default 0.9998
	MinEffect  float64 `toml:"min_effect"` // compare_* and probe: relative effect tolerated, e.g. 0.2 = trips only when significantly more than 20% worse
	// BurstCV is an assumption the absolute rules (error_rate, throttles,
	// latency) may be given: the largest coefficient of variation of the
	// per-minute rate at the threshold (standard deviation over mean; 1 =
	// a gamma of shape 1). 0 (default): none, only what the baseline rules
	// out. A rule given one is valid only for services whose rate at the
	// threshold varies no more.
	BurstCV float64 `toml:"burst_cv"`
}

// Actions is what a rollback does after reverting the alias.
type Actions struct {
	CloudFront []CloudFrontAction `toml:"cloudfront"`
	Redis      []RedisAction      `toml:"redis"`
	Webhooks   []WebhookHook      `toml:"webhook"`
	Exec       []ExecHook         `toml:"exec"`
	Verify     Verify             `toml:"verify"`
	// RetryFor bounds how long a rollback whose alias change keeps failing
	// with transient errors (throttling, 5xx, timeouts: an AWS brown-out)
	// is tried again, with backoff; default 15m, 0 = one round only.
	RetryFor Duration `toml:"retry_for"`
}

// CloudFrontAction invalidates paths of one distribution.
type CloudFrontAction struct {
	Distribution string   `toml:"distribution"`
	Paths        []string `toml:"paths"` // e.g. ["/*"]
	Wait         Duration `toml:"wait"`  // wait for Completed up to this long; 0 = do not wait
}

// RedisAction deletes cached keys.
type RedisAction struct {
	Name      string    `toml:"name"`
	Conn      RedisConn `toml:"conn"`
	Patterns  []string  `toml:"patterns"`   // SCAN MATCH patterns
	FlushDB   bool      `toml:"flush_db"`   // FLUSHDB instead; explicit opt-in
	BatchSize int       `toml:"batch_size"` // SCAN COUNT / UNLINK batch, default 500
	Critical  bool      `toml:"critical"`   // failure stops the plan
}

// WebhookHook is an HTTP POST with a JSON incident body.
type WebhookHook struct {
	Name       string   `toml:"name"`
	URL        string   `toml:"url"`
	SecretEnv  string   `toml:"secret_env"` // HMAC-SHA256 key
	SecretFile string   `toml:"secret_file"`
	Secret     Secret   `toml:"-"`
	Timeout    Duration `toml:"timeout"` // default 10s
	Retries    int      `toml:"retries"` // default 3
	Critical   bool     `toml:"critical"`
}

// ExecHook runs a command (argv, never a shell string).
type ExecHook struct {
	Name     string            `toml:"name"`
	Argv     []string          `toml:"argv"`
	Env      map[string]string `toml:"env"`
	Timeout  Duration          `toml:"timeout"` // default 60s
	Critical bool              `toml:"critical"`
}

// Verify watches health after the alias is reverted.
type Verify struct {
	Window Duration `toml:"window"` // default 2m; 0 disables verification
}

// Notifier types.
const (
	NotifierPagerDuty = "pagerduty"
	NotifierSlack     = "slack"
	NotifierSNS       = "sns"
	NotifierWebhook   = "webhook"
)

// Notifier is one alert destination, referenced by name from targets.
type Notifier struct {
	Name           string   `toml:"name"`
	Type           string   `toml:"type"`
	RoutingKeyEnv  string   `toml:"routing_key_env"` // pagerduty
	RoutingKeyFile string   `toml:"routing_key_file"`
	RoutingKey     Secret   `toml:"-"`
	URL            string   `toml:"url"`     // webhook; pagerduty endpoint override
	URLEnv         string   `toml:"url_env"` // slack incoming-webhook URL is a secret
	URLFile        string   `toml:"url_file"`
	SecretURL      Secret   `toml:"-"`
	SecretEnv      string   `toml:"secret_env"` // webhook HMAC key
	SecretFile     string   `toml:"secret_file"`
	Secret         Secret   `toml:"-"`
	TopicARN       string   `toml:"topic_arn"` // sns
	Region         string   `toml:"region"`    // sns, default aws.region
	Timeout        Duration `toml:"timeout"`   // per delivery attempt, default 10s
	Retries        int      `toml:"retries"`   // default 5
	Events         []string `toml:"events"`    // filter; empty = all
}

// Duration is a time.Duration written as "90s" or "5m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return &badDurationError{raw: string(b)}
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Secret is a resolved secret value. It redacts itself when printed,
// formatted or marshalled, so it cannot leak into logs or JSON by accident.
type Secret struct{ value string }

// NewSecret wraps a value (tests and resolvers).
func NewSecret(v string) Secret { return Secret{value: v} }

// Value returns the secret itself; call it only where the secret is used.
func (s Secret) Value() string { return s.value }

// IsSet reports whether a value was resolved.
func (s Secret) IsSet() bool { return s.value != "" }

// String redacts.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts in %#v.
func (s Secret) GoString() string { return s.String() }

// MarshalText redacts.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

type badDurationError struct{ raw string }

func (e *badDurationError) Error() string {
	return fmt.Sprintf("invalid duration %q: write a string such as \"30s\" or \"5m\"", e.raw)
}
