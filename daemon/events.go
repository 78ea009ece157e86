package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/watcher"
)

// Deploy events ([events]): one consumer of the SQS queue per replica. Any
// replica may take a message; the watch its hint starts is in the shared
// store for the target's owner, as an announcement's is. While the queue
// answers, the detector reads each alias only once per events sweep.
// [events] changes need a restart (the consumer is built when Run starts).

// eventsState holds the running event source, if any.
type eventsState struct {
	mu  sync.Mutex
	src *watcher.EventSource
}

// eventsFlowing is the detector's EventsFlowing: false without [events].
func (d *Daemon) eventsFlowing() bool {
	d.events.mu.Lock()
	src := d.events.src
	d.events.mu.Unlock()
	return src != nil && src.Flowing()
}

// eventSweep is the detector's EventSweep: 0 (never slow down) without [events].
func eventSweep(conf *config.Config) time.Duration {
	if !conf.Events.Enabled() {
		return 0
	}
	return conf.Events.Sweep.Duration
}

// eventSweepRate is the detector's EventSweepRate.
func eventSweepRate(conf *config.Config) float64 { return conf.Events.SweepRate }

// runEvents consumes the deploy event queue until ctx ends; it returns at
// once without [events].
func (d *Daemon) runEvents(ctx context.Context) {
	src, err := d.buildEventSource(ctx)
	if err != nil {
		d.log.Error("deploy events disabled: cannot build the SQS client; alias polls carry on", zap.Error(err))
		return
	}
	if src == nil {
		return
	}
	d.events.mu.Lock()
	d.events.src = src
	d.events.mu.Unlock()
	conf, _, _ := d.snapshot()
	d.log.Info("deploy events: consuming the queue; alias polls slow to the events sweep while it answers",
		zap.String("queue", conf.Events.QueueURL), zap.Duration("sweep", conf.Events.Sweep.Duration))
	src.Run(ctx)
}

// buildEventSource builds the consumer from the config in force (nil
// without [events]). Its client waits for a long poll: the response-header
// and call deadlines are the [aws] ones plus the long poll's wait.
func (d *Daemon) buildEventSource(ctx context.Context) (*watcher.EventSource, error) {
	conf, _, _ := d.snapshot()
	ev := conf.Events
	if !ev.Enabled() {
		return nil, nil
	}
	o := d.awsOptions(conf, config.Target{Region: ev.Region, RoleARN: ev.RoleARN, ExternalID: ev.ExternalID})
	o.ResponseHeaderTimeout = max(o.ResponseHeaderTimeout, config.DefaultAWSResponseHeaderTimeout) + ev.WaitTime.Duration
	o.ActionTimeout = max(o.ActionTimeout, config.DefaultAWSActionTimeout, ev.WaitTime.Duration+30*time.Second)
	cfg, err := awsclient.Load(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("events queue %s: %w", ev.QueueURL, err)
	}
	return watcher.NewEventSource(watcher.EventSourceConfig{
		Client: sqs.NewFromConfig(cfg), QueueURL: ev.QueueURL,
		Detector: func() *watcher.Detector { return d.current().detector },
		Clock:    d.clock, Logger: d.log.Named("events"), Metrics: d.wmetrics,
		WaitTime: ev.WaitTime.Duration, MaxMessages: ev.MaxMessages,
	})
}
