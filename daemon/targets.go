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
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/actuator"
	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/observe"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/targets"
	"github.com/canaryd/canaryd/watcher"
)

// apply (re)builds every component from conf. On a reload, the evidence of
// targets that still exist is kept, so watches in progress lose nothing.
func (d *Daemon) apply(conf *config.Config) error {
	ctx := context.Background()
	cache := targets.ClientCache{}
	ts := map[string]*targets.Target{}
	var order []string
	d.mu.Lock()
	old := d.targets
	d.mu.Unlock()
	for _, tc := range conf.Targets {
		t, err := targets.Build(ctx, tc, d.dryRun(conf, tc), d.awsOptions(conf, tc), cache)
		if err != nil {
			return fmt.Errorf("target %s: %w", tc.Name, err)
		}
		if prev, ok := old[tc.Name]; ok {
			t.Memory.Inherit(prev.Memory)
		}
		ts[tc.Name] = t
		order = append(order, tc.Name)
		d.metrics.InitTarget(tc.Name)
		d.wmetrics.InitTarget(tc.Name)
	}
	p, reader, err := d.buildParts(ctx, conf, ts)
	if err != nil {
		return err
	}
	d.mu.Lock()
	oldNotifier := d.parts.notifier
	d.conf, d.targets, d.order, d.parts = conf, ts, order, p
	d.leases.Retain(order)
	memories := make(map[string]*observe.Memory, len(ts))
	for name, t := range ts {
		memories[name] = t.Memory
	}
	d.observed = observe.Parts{Memories: memories, Order: order, Reader: reader, Prober: p.prober, Detector: p.detector}
	d.mu.Unlock()
	if oldNotifier != nil {
		go func() { _ = oldNotifier.Close(d.runner.Context()) }()
	}
	for _, w := range conf.Warnings { // at start and on each reload, as canaryd check prints them
		d.log.Warn("config: "+w.In(conf.Path), zap.String("key", w.Path))
	}
	return nil
}

// parts are the components every target shares (the metric reader is
// only the observer's).
type parts struct {
	detector *watcher.Detector
	prober   *watcher.Prober
	act      *actuator.Actuator
	notifier *notify.Dispatcher
	redactor *config.Redactor // every secret the config resolved: never journaled, logged or alerted
}

func (d *Daemon) buildParts(ctx context.Context, conf *config.Config, ts map[string]*targets.Target) (parts, *watcher.MetricReader, error) {
	p := parts{redactor: config.NewRedactor(conf.Secrets()...).With(config.EnvSecrets(os.LookupEnv)...)}
	var reader *watcher.MetricReader
	var err error
	// One detector for every target: it polls and sweeps only the targets
	// this replica owns (two replicas never both start a watch for one
	// deploy), while an announcement may arrive at any replica and starts
	// the watch in the shared store for the owner to pick up.
	p.detector, err = watcher.NewDetector(watcher.DetectorConfig{
		Targets: conf.Targets, Clients: targets.ClientOf(ts, func(t *targets.Target) *lambda.Client { return t.Clients.Lambda }),
		CloudWatch: targets.ClientOf(ts, func(t *targets.Target) *cloudwatch.Client { return t.Clients.CloudWatch }),
		Store:      d.cfg.Store, Clock: d.clock, Logger: d.log.Named("detector"), Metrics: d.wmetrics,
		PollInterval: conf.Daemon.PollInterval.Duration, Concurrency: conf.Daemon.MaxConcurrentAWS,
		MaxPollRate: conf.Daemon.MaxPollRate, Owns: d.leases.Owns, OnWatch: d.onWatch, OnEnd: d.onWatchEnd,
		EventSweep: eventSweep(conf), EventSweepRate: eventSweepRate(conf), EventsFlowing: d.eventsFlowing, // events.go
		Async: !d.cfg.Synchronous, // one hung alias read must not hold up the run loop
		ProbeBaseline: func(name string, before time.Time) *store.ProbeBaseline {
			if t := ts[name]; t != nil {
				return t.Memory.ProbeBaseline(before)
			}
			return nil
		},
	})
	if err != nil {
		return p, nil, err
	}
	p.prober = watcher.NewProber(watcher.ProberConfig{Client: d.cfg.ProbeClient, Clock: d.clock, Metrics: d.wmetrics, Sink: d.obs.AddSample, Stalls: d.stalls})
	reader, err = watcher.NewMetricReader(watcher.MetricReaderConfig{
		Clients:       targets.ClientOf(ts, func(t *targets.Target) *cloudwatch.Client { return t.Clients.CloudWatch }),
		LambdaClients: targets.ClientOf(ts, func(t *targets.Target) *lambda.Client { return t.Clients.Lambda }),
		Clock:         d.clock, Logger: d.log.Named("metrics"), Metrics: d.wmetrics,
	})
	if err != nil {
		return p, nil, err
	}
	p.act = actuator.New(actuator.Config{
		Store:      d.cfg.Store,
		Lambda:     targets.ClientOf(ts, func(t *targets.Target) *lambda.Client { return t.Actors.Lambda }),
		CloudFront: targets.ClientOf(ts, func(t *targets.Target) *cloudfront.Client { return t.Actors.CloudFront }),
		CodeDeploy: targets.ClientOf(ts, func(t *targets.Target) *codedeploy.Client { return t.Actors.CodeDeploy }),
		HTTPClient: d.cfg.HTTPClient,
		Clock:      d.clock, Logger: d.log.Named("actuator"), Metrics: d.ametrics,
		DryRun: d.cfg.DryRun || conf.Daemon.DryRun, Verifier: d.verify, OnStep: d.runner.OnStep,
		Redactor: p.redactor, OnRetry: d.runner.OnRetry,
	})
	p.notifier, err = d.buildNotifier(ctx, conf)
	return p, reader, err
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
		Clock: d.clock, Logger: d.log.Named("notify"), Metrics: d.nmetrics, OnOutcome: func(o notify.Outcome) { d.effects.Delivered(d.runner.Context(), o) },
	}), nil
}
