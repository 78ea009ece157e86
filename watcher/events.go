package watcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// The deploy event source: an SQS queue fed by an EventBridge rule with
// CloudTrail's Lambda alias changes and CodeDeploy's deployment state
// changes (eventparse.go reads them). Each event is a hint handed to the
// Detector, which re-reads the alias; a message is deleted, in a batch,
// only once its hint is handled (the watch recorded in the store, or
// nothing to do), a failed one is made visible again after a backoff, and
// one that cannot be read is left for the queue's dead-letter queue.

// EventOutcome is what became of one message (metric label values).
type EventOutcome string

// Event outcomes.
const (
	EventStarted   EventOutcome = "started"   // a watch started
	EventUnchanged EventOutcome = "unchanged" // the alias showed nothing new
	EventLate      EventOutcome = "late"      // older than the last recorded change: not read
	EventDuplicate EventOutcome = "duplicate" // an event id handled before (SQS is at least once)
	EventIgnored   EventOutcome = "ignored"   // not a deploy of a protected alias
	EventInvalid   EventOutcome = "invalid"   // unreadable: left for the dead-letter queue
	EventFailed    EventOutcome = "failed"    // the hint failed (AWS or store): retried
)

// EventOutcomes lists every outcome (pre-initialised metric labels).
var EventOutcomes = []EventOutcome{EventStarted, EventUnchanged, EventLate, EventDuplicate, EventIgnored, EventInvalid, EventFailed}

// EventSourceConfig configures an EventSource.
type EventSourceConfig struct {
	Client   *sqs.Client
	QueueURL string
	// Detector, called for every message; a func so that a config
	// reload's new detector (and its targets) is used at once.
	Detector func() *Detector
	Clock    clockwork.Clock
	Logger   *zap.Logger
	Metrics  *Metrics
	// WaitTime is the long poll (WaitTimeSeconds), whole seconds up to
	// 20s; default 20s. MaxMessages per receive, default 10.
	WaitTime    time.Duration
	MaxMessages int
}

// EventSource consumes the deploy event queue.
type EventSource struct {
	cfg EventSourceConfig

	mu         sync.Mutex
	lastOK     time.Time     // when a receive last answered
	visibility time.Duration // the queue's visibility timeout (0: not read yet)
	done       recentIDs     // event ids handled lately
	indexOf    *Detector     // the detector index was built from
	index      targetIndex
}

// NewEventSource checks cfg.
func NewEventSource(cfg EventSourceConfig) (*EventSource, error) {
	if cfg.Client == nil || cfg.QueueURL == "" || cfg.Detector == nil {
		return nil, errors.New("watcher: event source needs a Client, a QueueURL and a Detector")
	}
	commonDefaults(&cfg.Clock, &cfg.Logger, &cfg.Metrics)
	if cfg.WaitTime <= 0 || cfg.WaitTime > 20*time.Second {
		cfg.WaitTime = 20 * time.Second
	}
	if cfg.MaxMessages <= 0 || cfg.MaxMessages > 10 {
		cfg.MaxMessages = 10
	}
	return &EventSource{cfg: cfg, done: newRecentIDs(4096)}, nil
}

// Flowing reports whether the queue answered lately (within two long polls
// and 15 s): the detector then reads aliases only by the events sweep.
func (e *EventSource) Flowing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.lastOK.IsZero() && e.cfg.Clock.Since(e.lastOK) <= 2*e.cfg.WaitTime+15*time.Second
}

// Run polls until ctx ends; a failed receive is retried after a backoff
// (1 s, 2 s, 4 s … 60 s) on the injected clock.
func (e *EventSource) Run(ctx context.Context) {
	fails := 0
	for ctx.Err() == nil {
		_, err := e.Poll(ctx)
		if err == nil || ctx.Err() != nil {
			fails = 0
			continue
		}
		fails++
		wait := receiveBackoff(fails)
		e.cfg.Logger.Warn("deploy events: receive failed; alias polls carry on at the poll interval",
			zap.Error(err), zap.Int("failures", fails), zap.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
		case <-e.cfg.Clock.After(wait):
		}
	}
}

func receiveBackoff(fails int) time.Duration {
	return min(time.Second<<min(fails-1, 6), time.Minute)
}

// PollStats says what one Poll did, by outcome.
type PollStats map[EventOutcome]int

// Poll receives one batch (long polling), hands each event to the
// detector and deletes the handled messages in one batch.
func (e *EventSource) Poll(ctx context.Context) (PollStats, error) {
	vis := e.queueVisibility(ctx)
	out, err := e.cfg.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(e.cfg.QueueURL), MaxNumberOfMessages: int32(e.cfg.MaxMessages),
		WaitTimeSeconds: int32(e.cfg.WaitTime / time.Second),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{
			sqstypes.MessageSystemAttributeNameApproximateReceiveCount, sqstypes.MessageSystemAttributeNameSentTimestamp},
	})
	if err != nil {
		return nil, fmt.Errorf("receive deploy events from %s: %w", e.cfg.QueueURL, err)
	}
	e.mu.Lock()
	e.lastOK = e.cfg.Clock.Now()
	e.mu.Unlock()
	if len(out.Messages) == 0 {
		return PollStats{}, nil
	}
	// Every hint must be handled while the messages are still invisible
	// to other consumers: the batch gets the visibility timeout less a
	// margin for the delete.
	hctx, cancel := context.WithTimeout(ctx, max(vis-5*time.Second, vis/2))
	defer cancel()
	outcomes := make([]EventOutcome, len(out.Messages))
	var wg sync.WaitGroup
	for i, m := range out.Messages {
		wg.Add(1)
		go func() { defer wg.Done(); outcomes[i] = e.handle(hctx, m) }()
	}
	wg.Wait()
	stats := PollStats{}
	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range out.Messages {
		o := outcomes[i]
		stats[o]++
		e.cfg.Metrics.Events.WithLabelValues(string(o)).Inc()
		switch o {
		case EventInvalid: // left as is: after maxReceiveCount it goes to the dead-letter queue
		case EventFailed:
			e.retryLater(ctx, m, vis)
		default:
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
	}
	e.delete(ctx, del)
	return stats, nil
}

// handle turns one message into hints for the targets it names.
func (e *EventSource) handle(ctx context.Context, m sqstypes.Message) EventOutcome {
	ev, err := ParseDeployEvent([]byte(aws.ToString(m.Body)))
	if err != nil {
		e.cfg.Logger.Warn("deploy events: unreadable message left for the dead-letter queue",
			zap.String("message_id", aws.ToString(m.MessageId)), zap.String("receive_count", receiveCountOf(m)), zap.Error(err))
		return EventInvalid
	}
	if ev.ID != "" && e.doneBefore(ev.ID) {
		return EventDuplicate
	}
	det := e.cfg.Detector()
	targets := e.indexFor(det).match(ev)
	if len(targets) == 0 {
		e.markDone(ev.ID)
		return EventIgnored
	}
	outcome := EventUnchanged
	for _, name := range targets {
		res, err := det.Hint(ctx, name, ev.Time)
		if err != nil {
			e.cfg.Logger.Warn("deploy events: hint failed; the message is retried",
				zap.String("target", name), zap.String("event", ev.ID), zap.Error(err))
			return EventFailed
		}
		switch res.Status {
		case HintStarted:
			outcome = EventStarted
			delay := e.cfg.Clock.Since(ev.Time)
			e.cfg.Metrics.EventDelay.Observe(max(delay, 0).Seconds())
			e.cfg.Logger.Info("deploy detected from an event", zap.String("target", name), zap.String("watch", res.Watch.ID),
				zap.String("event", ev.ID), zap.String("event_name", ev.Name), zap.Duration("after_event", delay))
		case HintLate:
			if outcome == EventUnchanged {
				outcome = EventLate
			}
		}
	}
	e.markDone(ev.ID)
	return outcome
}

func receiveCountOf(m sqstypes.Message) string {
	return m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]
}

// retryLater makes a message whose hint failed visible again after a
// backoff that grows with its receive count, instead of the whole
// visibility timeout; maxReceiveCount still sends it to the dead-letter
// queue in the end.
func (e *EventSource) retryLater(ctx context.Context, m sqstypes.Message, vis time.Duration) {
	n, _ := strconv.Atoi(receiveCountOf(m))
	wait := min(5*time.Second<<min(max(n-1, 0), 6), vis)
	_, err := e.cfg.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(e.cfg.QueueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: int32(wait / time.Second)})
	if err != nil {
		e.cfg.Logger.Warn("deploy events: change visibility failed; the message returns after the visibility timeout",
			zap.String("message_id", aws.ToString(m.MessageId)), zap.Error(err))
	}
}

// delete removes handled messages in one call; a message not deleted comes
// back after its visibility timeout and is then a duplicate.
func (e *EventSource) delete(ctx context.Context, del []sqstypes.DeleteMessageBatchRequestEntry) {
	if len(del) == 0 {
		return
	}
	out, err := e.cfg.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(e.cfg.QueueURL), Entries: del})
	if err != nil {
		e.cfg.Logger.Warn("deploy events: delete failed; the messages come back as duplicates", zap.Int("messages", len(del)), zap.Error(err))
		return
	}
	for _, f := range out.Failed {
		e.cfg.Logger.Warn("deploy events: message not deleted; it comes back as a duplicate",
			zap.String("entry", aws.ToString(f.Id)), zap.String("code", aws.ToString(f.Code)))
	}
}

// queueVisibility reads the queue's visibility timeout once (and says when
// the queue has no dead-letter queue); 30 s, SQS's default, until it could.
func (e *EventSource) queueVisibility(ctx context.Context) time.Duration {
	e.mu.Lock()
	vis := e.visibility
	e.mu.Unlock()
	if vis > 0 {
		return vis
	}
	out, err := e.cfg.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.cfg.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout, sqstypes.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		e.cfg.Logger.Warn("deploy events: cannot read the queue's attributes; assuming a 30s visibility timeout", zap.Error(err))
		return 30 * time.Second
	}
	secs, err := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameVisibilityTimeout)])
	if err != nil || secs <= 0 {
		secs = 30
	}
	if out.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)] == "" {
		e.cfg.Logger.Warn("deploy events: the queue has no redrive policy; an unreadable message is received again and again",
			zap.String("queue", e.cfg.QueueURL))
	}
	vis = time.Duration(secs) * time.Second
	e.mu.Lock()
	e.visibility = vis
	e.mu.Unlock()
	return vis
}

// indexFor returns the target index of det's targets, built once per detector.
func (e *EventSource) indexFor(det *Detector) targetIndex {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.indexOf != det {
		e.indexOf, e.index = det, newTargetIndex(det.cfg.Targets)
	}
	return e.index
}

func (e *EventSource) doneBefore(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done.has(id)
}

func (e *EventSource) markDone(id string) {
	if id == "" {
		return
	}
	e.mu.Lock()
	e.done.add(id)
	e.mu.Unlock()
}

// recentIDs remembers the last n ids added (a ring and a set).
type recentIDs struct {
	ring []string
	next int
	set  map[string]bool
}

func newRecentIDs(n int) recentIDs {
	return recentIDs{ring: make([]string, n), set: make(map[string]bool, n)}
}

func (r *recentIDs) has(id string) bool { return r.set[id] }

func (r *recentIDs) add(id string) {
	if r.set[id] {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next], r.set[id] = id, true
	r.next = (r.next + 1) % len(r.ring)
}
