package watcher

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// aliasEvent is an EventBridge envelope of CloudTrail's UpdateAlias as
// AWS delivers it (trimmed to what canaryd reads, plus a few neighbours).
func aliasEvent(id, fn, alias, version string, at time.Time) string {
	return fmt.Sprintf(`{"version":"0","id":%q,"detail-type":"AWS API Call via CloudTrail","source":"aws.lambda",
"account":"123456789012","time":%q,"region":"us-east-1","resources":[],
"detail":{"eventVersion":"1.08","eventSource":"lambda.amazonaws.com","eventName":"UpdateAlias20150331","awsRegion":"us-east-1",
"userIdentity":{"type":"AssumedRole"},"requestParameters":{"functionName":%q,"name":%q,"functionVersion":%q},
"responseElements":{"aliasArn":"arn:aws:lambda:us-east-1:123456789012:function:%s:%s","functionVersion":%q},"recipientAccountId":"123456789012"}}`,
		id, at.UTC().Format(time.RFC3339), fn, alias, version, fn, alias, version)
}

func TestParseDeployEvent(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		body    string
		kind    DeployEventKind
		wantErr bool
		check   func(DeployEvent) bool
	}{
		{"update alias", aliasEvent("e1", "api", "live", "6", at), EventAlias, false,
			func(e DeployEvent) bool {
				return e.ID == "e1" && e.Function == "api" && e.Alias == "live" && e.Version == "6" && e.Time.Equal(at) && e.Region == "us-east-1"
			}},
		{"create alias by ARN", `{"id":"e2","detail-type":"AWS API Call via CloudTrail","source":"aws.lambda","time":"2026-03-01T12:00:00Z",
"detail":{"eventName":"CreateAlias20150331","requestParameters":{"functionName":"arn:aws:lambda:eu-west-1:111122223333:function:api","name":"live"}}}`,
			EventAlias, false, func(e DeployEvent) bool {
				return parseFunction(e.Function) == lambdaRef{"api", "111122223333", "eu-west-1"} && e.Version == ""
			}},
		{"failed call", `{"id":"e3","detail-type":"AWS API Call via CloudTrail","source":"aws.lambda","detail":{"eventName":"UpdateAlias20150331","errorCode":"AccessDenied","requestParameters":{"functionName":"api","name":"live"}}}`,
			EventOther, false, nil},
		{"publish version", `{"id":"e4","detail-type":"AWS API Call via CloudTrail","source":"aws.lambda","detail":{"eventName":"PublishVersion20150331","requestParameters":{"functionName":"api"}}}`,
			EventOther, false, nil},
		{"codedeploy", `{"id":"e5","detail-type":"CodeDeploy Deployment State-change Notification","source":"aws.codedeploy","time":"2026-03-01T12:00:00Z","region":"us-east-1",
"detail":{"instanceGroupId":"x","region":"us-east-1","application":"shop","deploymentId":"d-123456789","state":"START","deploymentGroup":"api-live"}}`,
			EventCodeDeploy, false, func(e DeployEvent) bool { return e.Application == "shop" && e.Group == "api-live" && e.Name == "START" }},
		{"alias call without a name", `{"id":"e6","detail-type":"AWS API Call via CloudTrail","source":"aws.lambda","detail":{"eventName":"UpdateAlias20150331","requestParameters":{"functionName":"api"}}}`,
			0, true, nil},
		{"not JSON", `hello`, 0, true, nil},
		{"JSON but no event", `{"Records":[]}`, 0, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseDeployEvent([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if ev.Kind != tc.kind || (tc.check != nil && !tc.check(ev)) {
				t.Fatalf("parsed %+v", ev)
			}
		})
	}
}

func TestTargetIndexMatch(t *testing.T) {
	ix := newTargetIndex([]config.Target{
		{Name: "api", Function: "api", Alias: "live", Region: "us-east-1"},
		{Name: "api-eu", Function: "arn:aws:lambda:eu-west-1:111122223333:function:api", Alias: "live", Region: "eu-west-1",
			CodeDeploy: &config.CodeDeploy{Application: "shop", DeploymentGroup: "api-eu"}},
	})
	cases := []struct {
		name string
		ev   DeployEvent
		want string
	}{
		{"by name", DeployEvent{Kind: EventAlias, Function: "api", Alias: "live", Region: "us-east-1", Account: "123456789012"}, "api"},
		{"other region", DeployEvent{Kind: EventAlias, Function: "api", Alias: "live", Region: "eu-west-1", Account: "111122223333"}, "api-eu"},
		{"other account", DeployEvent{Kind: EventAlias, Function: "api", Alias: "live", Region: "eu-west-1", Account: "999999999999"}, ""},
		{"unprotected alias", DeployEvent{Kind: EventAlias, Function: "api", Alias: "staging", Region: "us-east-1"}, ""},
		{"qualified ARN", DeployEvent{Kind: EventAlias, Function: "arn:aws:lambda:us-east-1:123456789012:function:api:live", Alias: "live"}, "api"},
		{"codedeploy group", DeployEvent{Kind: EventCodeDeploy, Application: "shop", Group: "api-eu", Region: "eu-west-1"}, "api-eu"},
		{"other", DeployEvent{Kind: EventOther}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := fmt.Sprint(ix.match(tc.ev))
			if want := fmt.Sprint(nonEmpty(tc.want)); got != want {
				t.Fatalf("match = %s, want %s", got, want)
			}
		})
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

type eventsEnv struct {
	*detectorEnv
	src   *EventSource
	queue string
	dlq   string
}

func newEventsEnv(t *testing.T) *eventsEnv {
	e := newDetectorEnv(t, true)
	cfg, err := e.sim.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	env := &eventsEnv{detectorEnv: e}
	env.queue = e.sim.CreateQueue("deploys", 60*time.Second)
	env.dlq = e.sim.CreateQueue("deploys-dlq", 0)
	if err := e.sim.SetRedrive(env.queue, env.dlq, 2); err != nil {
		t.Fatal(err)
	}
	env.src, err = NewEventSource(EventSourceConfig{
		Client: sqs.NewFromConfig(cfg), QueueURL: env.queue, Detector: func() *Detector { return e.det },
		Clock: e.clk, Metrics: e.metrics, WaitTime: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func (e *eventsEnv) send(body string) {
	e.t.Helper()
	if _, err := e.sim.SendSQS(e.queue, body); err != nil {
		e.t.Fatal(err)
	}
}

// filler is an event for an alias canaryd does not protect: it makes a
// receive answer at once (a long poll on an empty queue waits on the fake
// clock) and is counted as ignored.
func (e *eventsEnv) filler() {
	e.send(aliasEvent(fmt.Sprintf("filler-%d", e.clk.Now().UnixNano()), "other", "live", "1", e.clk.Now()))
}

func histogram(t *testing.T, h prometheus.Histogram) (uint64, float64) {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func (e *eventsEnv) poll() PollStats {
	e.t.Helper()
	st, err := e.src.Poll(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// TestEventStartsWatchAndIsDeleted: an UpdateAlias event starts the watch
// at once (Source event, EventAt the event's time) through one alias read;
// the message is deleted; a duplicate, an older out-of-order event and an
// event for an alias canaryd does not protect change nothing and are
// deleted too.
func TestEventStartsWatchAndIsDeleted(t *testing.T) {
	e := newEventsEnv(t)
	e.clk.Advance(3 * time.Minute)
	older := e.clk.Now()
	e.sim.Deploy("api", "live", "6", nil)
	at := e.clk.Now()
	e.send(aliasEvent("ev-6", "api", "live", "6", at))
	e.clk.Advance(2 * time.Second)
	reads := e.sim.CallCount("GetAlias")
	if st := e.poll(); st[EventStarted] != 1 {
		t.Fatalf("poll: %v, want one started", st)
	}
	if n := e.sim.CallCount("GetAlias") - reads; n != 1 {
		t.Fatalf("%d alias reads for one event, want 1", n)
	}
	w := e.started[len(e.started)-1]
	if w.Source != SourceEvent || w.NewVersion != "6" || !w.EventAt.Equal(at) || w.DetectedAt.Sub(w.EventAt) != 2*time.Second {
		t.Fatalf("watch %+v", w)
	}
	if n, sum := histogram(t, e.metrics.EventDelay); n != 1 || sum != 2 {
		t.Fatalf("event delay histogram: %d observations, sum %vs; want 1, 2s", n, sum)
	}
	if left := e.sim.QueueMessages(e.queue); len(left) != 0 {
		t.Fatalf("queue still holds %+v after the hint was handled", left)
	}

	e.send(aliasEvent("ev-6", "api", "live", "6", at))          // SQS delivered it twice
	e.send(aliasEvent("ev-5b", "api", "live", "5", older))      // an older change, arriving late
	e.send(aliasEvent("ev-st", "api", "staging", "9", at))      // not protected
	e.send(aliasEvent("ev-6c", "api", "live", "6", at.Add(-1))) // another copy under a new id
	st := e.poll()
	if st[EventDuplicate] != 1 || st[EventLate]+st[EventUnchanged] != 2 || st[EventIgnored] != 1 || st[EventStarted] != 0 {
		t.Fatalf("poll of duplicates: %v", st)
	}
	if len(e.started) != 1 {
		t.Fatalf("%d watches started, want 1", len(e.started))
	}
	if left := e.sim.QueueMessages(e.queue); len(left) != 0 {
		t.Fatalf("queue still holds %d messages", len(left))
	}
	if got := testutil.ToFloat64(e.metrics.DeploysDetected.WithLabelValues(SourceEvent)); got != 1 {
		t.Fatalf("deploys_detected_total{source=event} = %v", got)
	}
}

// TestEventFailuresAndPoison: a hint whose alias read fails is not deleted
// but made visible again after a short backoff (ChangeMessageVisibility),
// then succeeds; an unreadable message is never deleted and lands in the
// dead-letter queue after maxReceiveCount receives.
func TestEventFailuresAndPoison(t *testing.T) {
	e := newEventsEnv(t)
	e.sim.Deploy("api", "live", "6", nil)
	e.sim.InjectFault(awssim.Fault{API: "GetAlias", Kind: awssim.FaultThrottle, Count: 5})
	e.send(aliasEvent("ev-6", "api", "live", "6", e.clk.Now()))
	e.send("not an event")
	if st := e.poll(); st[EventFailed] != 1 || st[EventInvalid] != 1 {
		t.Fatalf("poll: %v", st)
	}
	if len(e.started) != 0 {
		t.Fatal("a watch started from a failed read")
	}
	if c := e.sim.Calls("ChangeMessageVisibility"); len(c) != 1 || c[0].Params["VisibilityTimeout"] != 5 {
		t.Fatalf("ChangeMessageVisibility calls %+v, want one to 5s", c)
	}
	e.clk.Advance(5 * time.Second)
	if st := e.poll(); st[EventStarted] != 1 {
		t.Fatalf("retry: %v", st)
	}
	e.clk.Advance(time.Minute) // the poison message's visibility timeout
	if st := e.poll(); st[EventInvalid] != 1 {
		t.Fatalf("second receive of the poison message: %v", st)
	}
	e.clk.Advance(time.Minute)
	e.filler()
	if st := e.poll(); st[EventInvalid] != 0 || st[EventIgnored] != 1 {
		t.Fatalf("third receive: %v, want only the filler (the poison message redriven)", st)
	}
	if d := e.sim.QueueMessages(e.dlq); len(d) != 1 || d[0].Body != "not an event" {
		t.Fatalf("dead-letter queue: %+v", d)
	}
}

// TestPollsSlowWhileEventsFlow: while the event source answers, each alias
// is read once per events sweep (a lost event is still found, by a sweep);
// when it stops answering, polls return to the poll interval.
func TestPollsSlowWhileEventsFlow(t *testing.T) {
	e := newEventsEnv(t)
	sweep := 10 * time.Minute
	det, err := NewDetector(DetectorConfig{
		Targets: []config.Target{{Name: "api", Function: "api", Alias: "live"}},
		Clients: e.det.cfg.Clients, Store: e.store, Clock: e.clk, Metrics: e.metrics,
		PollInterval: pollEvery, EventSweep: sweep, EventsFlowing: e.src.Flowing,
		OnWatch: func(w store.Watch, _ *store.Watch) { e.mu.Lock(); e.started = append(e.started, w); e.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.det = det
	e.filler()
	e.poll() // the queue answered: events flow
	det.Tick(context.Background())
	if got := det.PollInterval(); got != sweep {
		t.Fatalf("interval while events flow %v, want %v", got, sweep)
	}
	if next, _ := det.NextPoll("api"); next.Sub(e.clk.Now()) > sweep {
		t.Fatalf("next poll in %v", next.Sub(e.clk.Now()))
	}
	e.sim.Deploy("api", "live", "6", nil) // its event is lost
	deployed := e.clk.Now()
	reads := e.sim.CallCount("GetAlias")
	for len(e.started) == 0 && e.clk.Since(deployed) <= sweep {
		e.clk.Advance(5 * time.Second)
		if e.clk.Since(deployed)%(10*time.Second) == 0 {
			e.filler()
			e.poll() // answered receives keep the source healthy
		}
		ts := det.Tick(context.Background())
		if det.PollInterval() != sweep {
			t.Fatalf("interval %v at %v; events flow", det.PollInterval(), e.clk.Since(deployed))
		}
		if ts.Polled > 0 && !e.src.Flowing() {
			t.Fatalf("polled at %v while events did not flow", e.clk.Since(deployed))
		}
	}
	if len(e.started) != 1 || e.started[0].Source != SourceSweep {
		t.Fatalf("lost event not caught by the sweep within %v: %+v", sweep, e.started)
	}
	if n := e.sim.CallCount("GetAlias") - reads; n != 1 {
		t.Fatalf("%d alias reads over a sweep, want 1", n)
	}
	if got := testutil.ToFloat64(e.metrics.EventsFlowing); got != 1 {
		t.Fatalf("events_flowing = %v", got)
	}
	e.clk.Advance(2 * time.Minute) // no receive answered since
	det.Tick(context.Background())
	if got := det.PollInterval(); got != pollEvery || testutil.ToFloat64(e.metrics.EventsFlowing) != 0 {
		t.Fatalf("interval after events stopped %v", got)
	}
	if next, _ := det.NextPoll("api"); next.Sub(e.clk.Now()) > pollEvery {
		t.Fatalf("next poll in %v after events stopped", next.Sub(e.clk.Now()))
	}
}

// FuzzParseDeployEvent: whatever a queue holds, reading it and matching it
// to targets returns an event or an error, never a panic.
func FuzzParseDeployEvent(f *testing.F) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Add(aliasEvent("e1", "api", "live", "6", at))
	f.Add(aliasEvent("e2", "arn:aws:lambda:us-east-1:123456789012:function:api:live", "live", "", at))
	f.Add(`{"id":"e5","detail-type":"CodeDeploy Deployment State-change Notification","source":"aws.codedeploy","detail":{"application":"shop","deploymentGroup":"g"}}`)
	f.Add(`{"source":"aws.lambda","detail-type":"AWS API Call via CloudTrail","detail":[]}`)
	f.Add(`not json`)
	ix := newTargetIndex([]config.Target{{Name: "api", Function: "arn:aws:lambda:us-east-1:123456789012:function:api", Alias: "live",
		CodeDeploy: &config.CodeDeploy{Application: "shop", DeploymentGroup: "g"}}})
	f.Fuzz(func(t *testing.T, body string) {
		ev, err := ParseDeployEvent([]byte(body))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		_ = ix.match(ev)
	})
}
