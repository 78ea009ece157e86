package actuator

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// Verifier watches a target's health for window after its alias was
// reverted and says whether it recovered. The daemon wires it to the
// watcher's probes. An error means health could not be observed.
type Verifier func(ctx context.Context, t config.Target, window time.Duration) (healthy bool, why string, err error)

// Config is everything an Actuator needs. Store, Lambda and Clock are
// required; the rest have defaults.
type Config struct {
	Store store.Store
	// Lambda, CloudFront and CodeDeploy return the SDK client for a
	// target (its region and role); built with awsclient.
	Lambda     func(target string) *lambda.Client
	CloudFront func(target string) *cloudfront.Client
	CodeDeploy func(target string) *codedeploy.Client
	// Redis builds a client for a Redis action's connection. The actuator
	// closes the client when the step ends. Default: go-redis
	// NewUniversalClient (single, Sentinel or Cluster).
	Redis      func(conn config.RedisConn) (redis.UniversalClient, error)
	HTTPClient *http.Client // webhooks; default a plain client (timeouts are per attempt)
	Clock      clockwork.Clock
	Logger     *zap.Logger
	Metrics    *Metrics // nil: no metrics
	DryRun     bool     // daemon-wide alert-only: every plan is journaled as not_executed
	Verifier   Verifier // nil: verification steps are skipped
	// OnStep is called after every journal write, synchronously; it must
	// not block (hand the entry to a channel or a goroutine).
	OnStep func(store.JournalEntry)
	// Retry is the step-level retry policy for transient errors (on top of
	// the SDK's own retries). Zero value: DefaultRetry.
	Retry RetryPolicy
	// Rounds is the backoff between rounds of an alias step that keeps
	// failing with transient errors, for up to the target's
	// actions.retry_for (an AWS brown-out). Zero value: DefaultRounds.
	Rounds Backoff
	// OnRetry is told when a plan's alias step starts retrying, at every
	// failed round, and when it recovers or gives up; called synchronously,
	// it must not block. The daemon pages once on RetryStarted and resolves
	// on RetryRecovered (see RetryEvent).
	OnRetry func(RetryEvent)
	// Redactor holds the secrets never to journal, log or return: the
	// daemon passes config.NewRedactor(conf.Secrets()...). Each plan adds
	// its target's own secrets, and the AWS credentials in the process
	// environment are always added. Nil: those two only.
	Redactor *config.Redactor
}

// Actuator executes rollback plans.
type Actuator struct {
	cfg     Config
	log     *zap.Logger
	clk     clockwork.Clock
	red     *config.Redactor
	flights flights
}

// New returns an Actuator; it panics when a required field is missing
// (a programming error at wiring time).
func New(c Config) *Actuator {
	if c.Store == nil || c.Lambda == nil {
		panic("actuator: Config.Store and Config.Lambda are required")
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Redis == nil {
		c.Redis = DefaultRedis
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Retry.Attempts == 0 {
		c.Retry = DefaultRetry
	}
	if c.Rounds.Base <= 0 {
		c.Rounds = DefaultRounds
	}
	red := c.Redactor.With(config.EnvSecrets(os.LookupEnv)...)
	return &Actuator{cfg: c, log: c.Logger, clk: c.Clock, red: red}
}

// DefaultRedis builds a go-redis UniversalClient from conn.
func DefaultRedis(conn config.RedisConn) (redis.UniversalClient, error) {
	o := &redis.UniversalOptions{
		Addrs:         conn.Addrs,
		MasterName:    conn.MasterName,
		IsClusterMode: conn.Cluster,
		Username:      conn.Username,
		Password:      conn.Password.Value(),
		DB:            conn.DB,
	}
	if conn.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(o), nil
}

// Outcome is how a whole plan ended.
type Outcome string

// Outcomes (the values of store.Incident.Outcome).
const (
	OutcomeRolledBack     Outcome = "rolled_back"
	OutcomeFailed         Outcome = "rollback_failed"
	OutcomeAborted        Outcome = "aborted"
	OutcomeNotExecuted    Outcome = "not_executed"
	OutcomeUnhealthyAfter Outcome = "unhealthy_after_rollback"
)

// AllOutcomes lists every Outcome (metric label pre-initialisation).
var AllOutcomes = []Outcome{OutcomeRolledBack, OutcomeFailed, OutcomeAborted, OutcomeNotExecuted, OutcomeUnhealthyAfter}

// Result is what Execute did.
type Result struct {
	PlanID  string
	Target  string
	Outcome Outcome
	// Reason says why in one line, e.g. "alias moved to version 9 (newer
	// deploy); not clobbering", "superseded by version 4 during verify: ..."
	// (aborted: the alias was reverted, then a newer deploy moved it, and
	// health was not judged) or "rollback did not restore health: ...".
	Reason string
	// Reevaluate is set when the plan stopped because the alias moved:
	// the daemon should re-evaluate the target (a newer deploy).
	Reevaluate bool
	Steps      []StepResult
	// Joined is set when this call found the same plan already running in
	// this process and waited for it: the Result is that run's, and the
	// caller that ran it owns the follow-up (incident, alerts).
	Joined bool
}

// StepResult is one step's outcome.
type StepResult struct {
	Index    int
	Name     string
	Kind     StepKind
	Status   store.StepStatus
	Duration time.Duration
	Detail   json.RawMessage
	Error    string
	// Resumed is set when the outcome was read from the journal (a
	// previous run finished this step) rather than produced now.
	Resumed bool
}
