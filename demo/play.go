package demo

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/history"
	"github.com/canaryd/canaryd/observe"
	"github.com/canaryd/canaryd/replay"
	"github.com/canaryd/canaryd/store"
)

// profile is the traffic each version serves: version 3 errors a lot.
func profile(version string, seed int64) awssim.Profile {
	p := awssim.HealthyProfile(seed)
	p.InvocationsPerMin, p.ErrorRate, p.DurationMs, p.DurationJitterMs = 1200, 0.004, 80, 20
	if version == badVersion {
		p.ErrorRate, p.DurationMs = 0.22, 240
	}
	return p
}

func (s *stack) play(ctx context.Context) (Result, error) {
	var res Result
	s.sim.CreateFunction(function)
	for i := 0; i < 3; i++ {
		s.sim.PublishVersion(function)
	}
	s.sim.CreateAlias(function, alias, "1")
	now := s.clock.Now()
	s.sim.LambdaTraffic(function, alias, "1", now.Add(-time.Hour), now, profile("1", 1))
	if err := s.cache.seed(ctx); err != nil {
		return res, fmt.Errorf("seed redis: %w", err)
	}
	s.w.say("Lambda %s: versions 1, 2, 3 published; alias %q -> version 1, serving 1,200 invocations/min", function, alias)

	runCtx, stopRun := context.WithCancel(ctx)
	// The simulated clock runs until the daemon has stopped: a daemon
	// stopped in the middle of a rollback waits for its plan on that clock.
	clockCtx, stopClock := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.driveClock(clockCtx) }()
	go func() { defer wg.Done(); s.tail(runCtx) }()
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = s.daemon.Run(runCtx) }()
	defer func() { stopRun(); <-runDone; stopClock(); wg.Wait() }()

	s.w.say("canaryd started: watching %s:%s, health probe %s every 5s", function, alias, s.service.url())
	if err := s.waitFor(ctx, "the live version to be adopted as known-good", func() (bool, error) {
		st, err := s.store.GetTarget(ctx, "checkout")
		return err == nil && st.KnownGood == "1", nil
	}); err != nil {
		return res, err
	}

	s.w.raw("\n== 1. A good deploy: version 2 ==\n")
	s.sim.Deploy(function, alias, "2", nil)
	s.w.say("pipeline moved alias %q to version 2", alias)
	if err := s.waitFor(ctx, "version 2 to be promoted", func() (bool, error) {
		st, err := s.store.GetTarget(ctx, "checkout")
		return err == nil && st.KnownGood == "2", nil
	}); err != nil {
		return res, err
	}

	if s.o.BetweenActs != nil {
		s.o.BetweenActs(ctx)
	}
	s.w.raw("\n== 2. A bad deploy: version 3 (health endpoint fails, error rate 22%) ==\n")
	s.sim.ResetCalls()
	s.sim.Deploy(function, alias, "3", nil)
	s.w.say("pipeline moved alias %q to version 3", alias)
	var inc store.Incident
	if err := s.waitFor(ctx, "the bad deploy's incident to close", func() (bool, error) {
		incs, err := s.store.ListIncidents(ctx, "checkout", 1)
		if err != nil || len(incs) == 0 {
			return false, nil
		}
		inc = incs[0]
		return inc.Outcome != "", nil
	}); err != nil {
		return res, err
	}
	// Let the last alerts reach the receiver before the report.
	_ = s.waitFor(ctx, "the rollback alert", func() (bool, error) { return s.hook.types()["rollback_done"] > 0 || inc.Outcome != "rolled_back", nil })
	return s.report(ctx, inc)
}

// report reads back what happened and prints the proof and the timeline.
func (s *stack) report(ctx context.Context, inc store.Incident) (Result, error) {
	res := Result{IncidentID: inc.ID, RolledBack: inc.Outcome == "rolled_back", Alerts: s.hook.count(), RedisSkipped: s.cache.skipped}
	s.w.raw("\n== 3. What canaryd did ==\n")
	v, err := s.readAlias(ctx)
	if err != nil {
		return res, fmt.Errorf("read alias back: %w", err)
	}
	res.AliasVersion = v
	s.w.say("alias %q read back through the AWS SDK: version %s (incident %s: %s)", alias, v, inc.ID, inc.Outcome)
	upd := s.sim.Calls("UpdateAlias")
	s.w.say("UpdateAlias calls by canaryd during the incident: %d", len(upd))
	invs := s.sim.Invalidations(distribution)
	res.Invalidations = len(invs)
	for _, iv := range invs {
		s.w.say("CloudFront invalidation %s on %s: paths %s, status %s", iv.ID, distribution, strings.Join(iv.Paths, " "), iv.Status)
	}
	if s.cache.client != nil {
		left, kept := s.cache.countKeys(ctx, cachePattern), s.cache.countKeys(ctx, "session:*")
		res.KeysRemoved = int64(200 - left)
		s.w.say("Redis %s: %d of 200 %q keys removed, %d other keys untouched", s.cache.addr, 200-left, cachePattern, kept)
	} else {
		s.w.say("Redis cache step skipped: %s", s.cache.skipped)
	}
	s.w.say("alerts received by the on-call webhook: %d (%s)", res.Alerts, countsText(s.hook.types()))

	rec, err := history.Load(ctx, s.store, inc.ID)
	if err == nil {
		s.w.raw("\n== 4. Postmortem draft (canaryd history --incident " + inc.ID + ") ==\n\n")
		var b strings.Builder
		if err := history.Postmortem(rec.Incident, rec.Journal, rec.Events, rec.Watch).Markdown(&b); err == nil {
			s.w.raw(shortCharts(b.String()))
		}
	}
	if !res.RolledBack || res.AliasVersion != "2" {
		return res, fmt.Errorf("demo failed: incident outcome %q, alias on version %s (want rolled_back, 2)", inc.Outcome, res.AliasVersion)
	}
	if err := s.replayTrace(ctx, inc); err != nil {
		return res, err
	}
	s.w.raw("\nDemo passed: the bad deploy was rolled back to the known-good version 2.\n")
	return res, nil
}

// driveClock runs simulated time Speed times faster than real time and,
// at each simulated minute, writes the traffic the live version served.
func (s *stack) driveClock(ctx context.Context) {
	const step = 20 * time.Millisecond
	t := time.NewTicker(step)
	defer t.Stop()
	lastMinute := s.clock.Now().Truncate(time.Minute)
	var seed int64 = 2
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.clock.Advance(time.Duration(float64(step) * s.o.Speed))
		for m := s.clock.Now().Truncate(time.Minute); lastMinute.Before(m); lastMinute = lastMinute.Add(time.Minute) {
			v, _, _ := s.sim.Alias(function, alias)
			seed++
			s.sim.LambdaTraffic(function, alias, v, lastMinute, lastMinute.Add(time.Minute), profile(v, seed))
		}
	}
}

// tail prints the daemon's history events as they are recorded.
func (s *stack) tail(ctx context.Context) {
	seen := 0
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		evs, err := s.store.Events(ctx, store.EventFilter{Target: "checkout"})
		if err != nil {
			continue
		}
		for ; seen < len(evs); seen++ {
			e := evs[seen]
			if e.Type == "alert_sent" {
				continue
			}
			s.w.say("%-14s %s", e.Type, e.Message)
		}
	}
}

// waitFor polls cond (real time) until it holds or the demo times out.
func (s *stack) waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w for %s", errTimeout, what)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// svgImage is a chart carried in the postmortem as a data URI.
var svgImage = regexp.MustCompile(`\(data:image/svg\+xml;base64,[A-Za-z0-9+/=]*\)`)

// shortCharts keeps a terminal readable: the charts' base64 gives way to a
// note (the Markdown from the API or `canaryd history` carries them whole).
func shortCharts(md string) string {
	return svgImage.ReplaceAllStringFunc(md, func(m string) string {
		return fmt.Sprintf("(SVG chart, %d bytes of base64: open the console to see it)", len(m)-len("(data:image/svg+xml;base64,)"))
	})
}

// replayTrace replays the trace the daemon recorded of the bad deploy's
// watch (daemon.trace_dir) and requires the daemon's decision.
func (s *stack) replayTrace(ctx context.Context, inc store.Incident) error {
	w, err := s.store.GetWatch(ctx, inc.WatchID)
	if err != nil {
		return fmt.Errorf("demo: read the incident's watch: %w", err)
	}
	path := observe.TracePath(s.traces, w)
	s.w.raw("\n== 5. The watch replayed from the trace canaryd recorded (canaryd replay --trace " + filepath.Base(path) + ") ==\n\n")
	f, _, err := s.daemon.Traces().OpenTrace(w)
	if err != nil {
		return fmt.Errorf("demo: the recorded trace: %w", err)
	}
	defer f.Close()
	got, err := replay.Run(ctx, f, s.conf.Targets[0], replay.Options{})
	if err != nil {
		return fmt.Errorf("demo: replay of the recorded trace: %w", err)
	}
	s.w.raw(fmt.Sprintf("replay: %s at %s after the deploy (%d evaluations of %d records); the daemon tripped at %s\n",
		got.Outcome, got.DecidedAt.Sub(w.DetectedAt).Round(time.Second), got.Evaluations, got.Records, inc.OpenedAt.Sub(w.DetectedAt).Round(time.Second)))
	// The trace records the daemon's own decision too (its ticks'
	// "phase"): what `canaryd replay` prints when it replays a trace.
	if o, at, ok := got.RecordedOutcome(); ok {
		agreement, _ := got.Agreement()
		s.w.raw(fmt.Sprintf("the trace records the daemon's decision: %s at %s after the deploy; %s\n",
			o, at.Sub(w.DetectedAt).Round(time.Millisecond), agreement))
	}
	if diff := got.DecidedAt.Sub(inc.OpenedAt).Abs(); got.Outcome != replay.RolledBack || diff > 2*replay.Tick {
		return fmt.Errorf("demo failed: the recorded trace replays to %s at %s, the daemon tripped at %s", got.Outcome,
			got.DecidedAt.Format(time.TimeOnly), inc.OpenedAt.Format(time.TimeOnly))
	}
	return nil
}
