package watcher

import (
	"context"
	"sync"
	"time"

	"github.com/canaryd/canaryd/config"
)

// schedule keeps the probes of the targets under watch and when each is due.
type schedule struct {
	mu      sync.Mutex
	entries map[probeKey]*probeEntry
	order   []*probeEntry

	sem chan struct{}
	wg  sync.WaitGroup
}

type probeKey struct{ target, probe string }

type probeEntry struct {
	target   string
	probe    config.Probe
	interval time.Duration
	offset   time.Duration
	due      time.Time
	started  time.Time // when its last run started
	running  bool      // a run is in flight; never two at once
}

func (s *schedule) init(concurrency int) {
	s.entries = make(map[probeKey]*probeEntry)
	s.sem = make(chan struct{}, concurrency)
}

// SetActive replaces the set of targets whose probes run. Probes that stay
// keep their schedule; new ones get their first run within one interval,
// spread by a deterministic jitter.
func (pr *Prober) SetActive(targets []config.Target) {
	now := pr.cfg.Clock.Now()
	s := &pr.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[probeKey]*probeEntry, len(s.entries))
	order := make([]*probeEntry, 0, len(s.order))
	for _, t := range targets {
		for _, p := range t.Probes {
			k := probeKey{t.Name, p.Name}
			interval := p.Interval.Duration // defaults are applied at config load
			if interval <= 0 {
				continue
			}
			e, ok := s.entries[k]
			if !ok || e.interval != interval {
				e = &probeEntry{target: t.Name, interval: interval, offset: jitterOffset(t.Name+"\x00"+p.Name, interval)}
				e.due = nextSlot(now, interval, e.offset)
			}
			e.probe = p
			if _, dup := next[k]; dup {
				continue
			}
			next[k] = e
			order = append(order, e)
		}
	}
	s.entries, s.order = next, order
}

// Expedite makes t's probes that have not started since since due now:
// the daemon calls it when a new version starts to take traffic (a deploy
// seen, a rollout's first shift), so that its first probe result comes at
// the next Tick instead of up to an interval later. The regular schedule
// goes on from its slots. A hard-down endpoint then fails its third probe
// (the probe rule's trip against a clean known-good) two intervals after
// the deploy is seen, not two and a half on average. A probe in flight is
// left alone, and so is a version that began more than an interval ago:
// a process that starts (or takes leases over) with many watches under
// way keeps their probes spread over the interval.
func (pr *Prober) Expedite(t config.Target, since time.Time) {
	now := pr.cfg.Clock.Now()
	s := &pr.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range t.Probes {
		if e := s.entries[probeKey{t.Name, p.Name}]; e != nil && !e.running && e.started.Before(since) && e.due.After(now) && now.Sub(since) < e.interval {
			e.due = now
		}
	}
}

// Tick starts the probes that are due, at most Concurrency at once, and
// returns how many it started once all are under way. Results go to Sink.
// A probe still running from an earlier tick is not started again.
func (pr *Prober) Tick(ctx context.Context) int {
	now := pr.cfg.Clock.Now()
	s := &pr.sched
	var due []*probeEntry
	s.mu.Lock()
	for _, e := range s.order {
		if !e.running && !e.due.After(now) {
			e.running, e.started = true, now
			e.due = nextSlot(now, e.interval, e.offset)
			due = append(due, e)
		}
	}
	s.mu.Unlock()
	for i, e := range due {
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			s.mu.Lock()
			for _, rest := range due[i:] {
				rest.running = false
			}
			s.mu.Unlock()
			return i
		}
		s.wg.Add(1)
		go pr.run(ctx, e)
	}
	return len(due)
}

func (pr *Prober) run(ctx context.Context, e *probeEntry) {
	s := &pr.sched
	defer func() {
		<-s.sem
		s.mu.Lock()
		e.running = false
		s.mu.Unlock()
		s.wg.Done()
	}()
	s.mu.Lock()
	target, p := e.target, e.probe
	s.mu.Unlock()
	pr.cfg.Sink(pr.Probe(ctx, target, p))
}

// Wait blocks until every probe started by Tick has delivered its sample.
func (pr *Prober) Wait() { pr.sched.wg.Wait() }

// Run calls Tick every `every` (default 1s) until ctx ends, then waits for
// the probes in flight.
func (pr *Prober) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	tk := pr.cfg.Clock.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			pr.Wait()
			return
		case <-tk.Chan():
			pr.Tick(ctx)
		}
	}
}
