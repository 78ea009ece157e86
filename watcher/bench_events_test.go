package watcher

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// BenchmarkDeployDetection: how long a deploy runs unwatched (deploy →
// watch started) and how many Lambda control-plane reads (GetAlias) a
// minute that costs, at 100 … 100,000 targets, polling only vs events.
//
// Polling: the detector's own schedule on an injected clock — its poll
// interval after the max_poll_rate stretch (10 reads/s, Lambda's quota is
// ~15) and each target's jittered slot (nextSlot/jitterOffset, what Tick
// uses), read at the first 1 s tick at or after it — for 10,000 deploys at
// random instants. A real round at 100,000 targets would take 2.8 hours.
//
// Events: real. Each deploy moves the alias in awssim (through its Lambda
// API), its CloudTrail UpdateAlias event arrives on the SQS queue, and the
// EventSource (real SDK client, long polling) hands it to a detector of
// all N targets (bolt store, real clock), which re-reads the alias and
// starts the watch; latency is from the event's arrival in the queue to
// the watch's start. 50 deploys per size, in bursts of 10.
//
// go test ./watcher -run '^$' -bench DeployDetection -benchtime 1x
func BenchmarkDeployDetection(b *testing.B) {
	const sweep = 5 * time.Minute
	var rows []string
	for _, n := range []int{100, 1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			var poll pollFigures
			var ev eventFigures
			for range b.N {
				poll = pollingFigures(b, n)
				ev = eventsFigures(b, n, sweep)
			}
			b.ReportMetric(poll.p50.Seconds(), "poll-p50-s")
			b.ReportMetric(poll.max.Seconds(), "poll-max-s")
			b.ReportMetric(ev.p50.Seconds(), "event-p50-s")
			b.ReportMetric(ev.max.Seconds(), "event-max-s")
			b.ReportMetric(ev.readsPerDeploy, "event-reads/deploy")
			rows = append(rows, fmt.Sprintf("| %d | %s / %s | %.0f | %s / %s | %.1f per deploy + %.0f | %s |",
				n, round(poll.p50), round(poll.max), poll.readsPerMin, round(ev.p50), round(ev.max), ev.readsPerDeploy, ev.sweepReadsPerMin, round(ev.sweep)))
		})
	}
	b.Logf("\n| targets | polling only: detection p50 / max | GetAlias per minute | events: detection p50 / max (arrival → watch) | events: GetAlias | events: a lost event is caught within (the sweep) |\n|---|---|---|---|---|---|\n%s",
		joinLines(rows))
}

func round(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func joinLines(rows []string) string {
	out := ""
	for _, r := range rows {
		out += r + "\n"
	}
	return out
}

type pollFigures struct {
	p50, max    time.Duration
	readsPerMin float64
}

// pollingFigures computes, with the detector's schedule, when a deploy at a
// random instant is first read.
func pollingFigures(b *testing.B, n int) pollFigures {
	b.Helper()
	targets := benchTargetList(n)
	clk := clockwork.NewFakeClockAt(t0)
	det, err := NewDetector(DetectorConfig{Targets: targets, Clients: func(string) *lambda.Client { return nil },
		Store: noStore{}, Clock: clk, PollInterval: 15 * time.Second, MaxPollRate: 10})
	if err != nil {
		b.Fatal(err)
	}
	interval := det.PollInterval()
	rng := rand.New(rand.NewSource(int64(n)))
	lat := make([]time.Duration, 0, 10_000)
	for range 10_000 {
		s := det.order[rng.Intn(n)]
		at := t0.Add(time.Duration(rng.Int63n(int64(24 * time.Hour))))
		read := nextSlot(at, interval, s.offset)
		read = read.Truncate(time.Second).Add(time.Second) // the first 1 s tick at or after the slot
		lat = append(lat, read.Sub(at))
	}
	slices.Sort(lat)
	return pollFigures{p50: lat[len(lat)/2], max: lat[len(lat)-1], readsPerMin: float64(n) / interval.Minutes()}
}

type eventFigures struct {
	p50, max         time.Duration
	readsPerDeploy   float64
	sweepReadsPerMin float64
	sweep            time.Duration // the events sweep in force
}

func benchTargetList(n int) []config.Target {
	targets := make([]config.Target, n)
	for i := range targets {
		name := fmt.Sprintf("fn-%06d", i)
		targets[i] = config.Target{Name: name, Function: name, Alias: "live", Region: "us-east-1"}
	}
	return targets
}

// eventsFigures runs deploys through awssim → SQS → EventSource → Detector.
func eventsFigures(b *testing.B, n int, sweep time.Duration) eventFigures {
	b.Helper()
	const deploys, burst = 50, 10
	sim, awsCfg := awssim.Start(b, awssim.Options{})
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "events.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	targets := benchTargetList(n)
	rng := rand.New(rand.NewSource(int64(n)))
	picked := rng.Perm(n)[:deploys]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, i := range picked { // the deployed targets' aliases and known-good state
		name := targets[i].Name
		sim.CreateAlias(name, "live", "1")
		if err := st.PutTarget(ctx, store.TargetState{Name: name, KnownGood: "1", Version: "1", ObservedAt: time.Now().Add(-time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	var (
		mu      sync.Mutex
		started = map[string]time.Time{}
		done    = make(chan struct{}, deploys)
	)
	client := lambda.NewFromConfig(awsCfg)
	det, err := NewDetector(DetectorConfig{Targets: targets, Clients: func(string) *lambda.Client { return client },
		Store: st, PollInterval: 15 * time.Second, MaxPollRate: 10, EventSweep: sweep, EventSweepRate: 2, EventsFlowing: func() bool { return true },
		OnWatch: func(w store.Watch, _ *store.Watch) {
			mu.Lock()
			started[w.Target] = time.Now()
			mu.Unlock()
			done <- struct{}{}
		}})
	if err != nil {
		b.Fatal(err)
	}
	det.pace(time.Now())
	queue := sim.CreateQueue("deploy-events", time.Minute)
	src, err := NewEventSource(EventSourceConfig{Client: sqs.NewFromConfig(awsCfg), QueueURL: queue,
		Detector: func() *Detector { return det }, WaitTime: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); src.Run(ctx) }()
	defer wg.Wait()
	defer cancel()

	reads0 := sim.CallCount("GetAlias")
	arrived := map[string]time.Time{}
	for k := 0; k < deploys; k += burst {
		for _, i := range picked[k : k+burst] {
			name := targets[i].Name
			sim.Deploy(name, "live", "2", nil)
			arrived[name] = time.Now()
			if _, err := sim.SendSQS(queue, aliasEvent("ev-"+name, name, "live", "2", time.Now())); err != nil {
				b.Fatal(err)
			}
		}
		timeout := time.After(30 * time.Second)
		for range burst {
			select {
			case <-done:
			case <-timeout:
				b.Fatalf("%d targets: a burst of deploy events was not detected within 30s", n)
			}
		}
	}
	lat := make([]time.Duration, 0, deploys)
	mu.Lock()
	for name, at := range arrived {
		lat = append(lat, started[name].Sub(at))
	}
	mu.Unlock()
	slices.Sort(lat)
	return eventFigures{p50: lat[len(lat)/2], max: lat[len(lat)-1],
		readsPerDeploy:   float64(sim.CallCount("GetAlias")-reads0) / deploys,
		sweepReadsPerMin: float64(n) / det.PollInterval().Minutes(), sweep: det.PollInterval()}
}

// noStore is never called: pollingFigures only reads the schedule.
type noStore struct{ store.Store }
