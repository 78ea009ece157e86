package daemon

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/observe"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/watch"
	"github.com/canaryd/canaryd/watcher"
)

// target is the runtime of one configured target: its life-cycle
// settings, AWS clients, and the evidence of its watches (observe.Memory,
// which holds its compiled policy).
type target struct {
	conf      config.Target
	mem       *observe.Memory
	lifecycle watch.Config
	clients   awsclient.Clients // reads: [aws] retry_mode (adaptive by default)
	actors    awsclient.Clients // rollback steps: standard retries, never slowed by client-side rate limiting
}

func newTarget(t config.Target, p *policy.Policy, dryRun bool) *target {
	lc := watch.Config{RollbackWindow: t.RollbackWindow.Duration, DryRun: dryRun, DataLag: dataLag(t)}
	if r := t.Rollout; r != nil {
		lc.PreHook, lc.PostHook, lc.RolloutStall = r.PreTraffic != nil, r.PostTraffic != nil, r.StallAfter.Duration
	}
	return &target{conf: t, mem: observe.NewMemory(t, p), lifecycle: lc}
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

// apply (re)builds every component from conf. On a reload, the evidence of
// targets that still exist is kept, so watches in progress lose nothing.
func (d *Daemon) apply(conf *config.Config) error {
	ctx := context.Background()
	awsCfgs := map[string]awsclient.Clients{}
	targets := map[string]*target{}
	var order []string
	d.mu.Lock()
	old := d.targets
	d.mu.Unlock()
	for _, tc := range conf.Targets {
		t, err := d.buildTarget(ctx, conf, tc, awsCfgs)
		if err != nil {
			return fmt.Errorf("target %s: %w", tc.Name, err)
		}
		if prev, ok := old[tc.Name]; ok {
			t.mem.Inherit(prev.mem)
		}
		targets[tc.Name] = t
		order = append(order, tc.Name)
		d.metrics.InitTarget(tc.Name)
		d.wmetrics.InitTarget(tc.Name)
	}
	p, err := d.buildParts(ctx, conf, targets)
	if err != nil {
		return err
	}
	d.mu.Lock()
	oldNotifier := d.notifier
	d.conf, d.targets, d.order = conf, targets, order
	d.leases.Retain(order)
	d.detector, d.prober, d.act, d.notifier, d.redactor = p.detector, p.prober, p.act, p.notifier, p.redactor
	memories := make(map[string]*observe.Memory, len(targets))
	for name, t := range targets {
		memories[name] = t.mem
	}
	d.observed = observe.Parts{Memories: memories, Order: order, Reader: p.reader, Prober: p.prober, Detector: p.detector,
		PollInterval: conf.Daemon.PollInterval.Duration}
	d.mu.Unlock()
	if oldNotifier != nil {
		go func() { _ = oldNotifier.Close(d.workCtx) }()
	}
	return nil
}

func (d *Daemon) buildTarget(ctx context.Context, conf *config.Config, tc config.Target, cache map[string]awsclient.Clients) (*target, error) {
	p, err := policy.Compile(tc)
	if err != nil {
		return nil, err
	}
	t := newTarget(tc, p, d.dryRun(conf, tc))
	o := d.awsOptions(conf, tc)
	if t.clients, err = loadCached(ctx, cache, o); err != nil {
		return nil, err
	}
	o.RetryMode = "standard"
	if t.actors, err = loadCached(ctx, cache, o); err != nil {
		return nil, err
	}
	return t, nil
}

// parts are the components every target shares.
type parts struct {
	detector *watcher.Detector
	prober   *watcher.Prober
	reader   *watcher.MetricReader
	act      *actuator.Actuator
	notifier *notify.Dispatcher
	redactor *config.Redactor // every secret the config resolved: never journaled, logged or alerted
}

func (d *Daemon) buildParts(ctx context.Context, conf *config.Config, targets map[string]*target) (parts, error) {
	p := parts{redactor: config.NewRedactor(conf.Secrets()...).With(config.EnvSecrets(os.LookupEnv)...)}
	var err error
	// One detector for every target: it polls and sweeps only the targets
	// this replica owns (two replicas never both start a watch for one
	// deploy), while an announcement may arrive at any replica and starts
	// the watch in the shared store for the owner to pick up.
	p.detector, err = watcher.NewDetector(watcher.DetectorConfig{
		Targets: conf.Targets, Clients: clientOf(targets, func(t *target) *lambda.Client { return t.clients.Lambda }),
		CloudWatch: clientOf(targets, func(t *target) *cloudwatch.Client { return t.clients.CloudWatch }),
		Store:      d.cfg.Store, Clock: d.clock, Logger: d.log.Named("detector"), Metrics: d.wmetrics,
		PollInterval: conf.Daemon.PollInterval.Duration, Concurrency: conf.Daemon.MaxConcurrentAWS,
		MaxPollRate: conf.Daemon.MaxPollRate, Owns: d.leases.Owns, OnWatch: d.onWatch, OnEnd: d.onWatchEnd,
		EventSweep: eventSweep(conf), EventSweepRate: eventSweepRate(conf), EventsFlowing: d.eventsFlowing, // events.go
		Async: !d.cfg.Synchronous, // one hung alias read must not hold up the run loop
	})
	if err != nil {
		return p, err
	}
	p.prober = watcher.NewProber(watcher.ProberConfig{Client: d.cfg.ProbeClient, Clock: d.clock, Metrics: d.wmetrics, Sink: d.obs.AddSample})
	p.reader, err = watcher.NewMetricReader(watcher.MetricReaderConfig{
		Clients: clientOf(targets, func(t *target) *cloudwatch.Client { return t.clients.CloudWatch }),
		Clock:   d.clock, Logger: d.log.Named("metrics"), Metrics: d.wmetrics,
	})
	if err != nil {
		return p, err
	}
	p.act = actuator.New(actuator.Config{
		Store:      d.cfg.Store,
		Lambda:     clientOf(targets, func(t *target) *lambda.Client { return t.actors.Lambda }),
		CloudFront: clientOf(targets, func(t *target) *cloudfront.Client { return t.actors.CloudFront }),
		CodeDeploy: clientOf(targets, func(t *target) *codedeploy.Client { return t.actors.CodeDeploy }),
		HTTPClient: d.cfg.HTTPClient,
		Clock:      d.clock, Logger: d.log.Named("actuator"), Metrics: d.ametrics,
		DryRun: d.cfg.DryRun || conf.Daemon.DryRun, Verifier: d.verify, OnStep: d.onStep,
		Redactor: p.redactor, OnRetry: d.onRetry,
	})
	p.notifier, err = d.buildNotifier(ctx, conf)
	return p, err
}

// clientOf looks a target's client up by name (nil for an unknown target),
// in the shape the watcher and actuator take.
func clientOf[C any](targets map[string]*target, get func(*target) C) func(string) C {
	return func(name string) C {
		if t := targets[name]; t != nil {
			return get(t)
		}
		var zero C
		return zero
	}
}

// loadCached builds the clients once per distinct set of options: targets
// in one account and region share clients, and so share CloudWatch calls
// (the reader batches per client) and the retryers' token buckets.
func loadCached(ctx context.Context, cache map[string]awsclient.Clients, o awsclient.Options) (awsclient.Clients, error) {
	key := o.Region + "|" + o.RoleARN + "|" + o.ExternalID + "|" + o.EndpointURL + "|" + o.RetryMode
	if c, ok := cache[key]; ok {
		return c, nil
	}
	cfg, err := awsclient.Load(ctx, o)
	if err != nil {
		return awsclient.Clients{}, err
	}
	c := awsclient.New(cfg)
	cache[key] = c
	return c, nil
}

func (d *Daemon) awsOptions(conf *config.Config, t config.Target) awsclient.Options {
	o := awsclient.ForTarget(d.cfg.AWS, conf.AWS, t)
	o.Metrics = d.awsm
	return o
}

// buildNotifier builds the dispatcher; SNS clients use the [aws] defaults
// (region per notifier), not any one target's role.
func (d *Daemon) buildNotifier(ctx context.Context, conf *config.Config) (*notify.Dispatcher, error) {
	base, err := awsclient.Load(ctx, d.awsOptions(conf, config.Target{Region: conf.AWS.Region, RoleARN: conf.AWS.RoleARN, ExternalID: conf.AWS.ExternalID}))
	if err != nil {
		return nil, fmt.Errorf("notifiers: %w", err)
	}
	notifiers, err := notify.FromConfig(conf.Notifiers, notify.Deps{
		HTTPClient: d.cfg.HTTPClient, SNS: notify.SNSFromAWSConfig(base), Clock: d.clock,
	})
	if err != nil {
		return nil, fmt.Errorf("notifiers: %w", err)
	}
	opts, err := notify.OptionsFromConfig(conf.Notifiers)
	if err != nil {
		return nil, fmt.Errorf("notifiers: %w", err)
	}
	return notify.New(notify.Config{
		Notifiers: notifiers, Options: opts, Routes: notify.RoutesFromTargets(conf.Targets),
		Clock: d.clock, Logger: d.log.Named("notify"), Metrics: d.nmetrics, OnOutcome: d.onDelivery,
	}), nil
}
