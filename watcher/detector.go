package watcher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"
	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// How a deploy was seen (store.Watch.Source).
const (
	SourcePoll     = "poll"
	SourceSweep    = "sweep"
	SourceAnnounce = "announce"
	SourceEvent    = "event" // a deploy event from the queue (events.go), confirmed by an alias read
)

// ErrUnknownTarget is returned for a target name not in the config.
var ErrUnknownTarget = errors.New("watcher: unknown target")

// DetectorConfig configures a Detector.
type DetectorConfig struct {
	Targets []config.Target
	// Clients returns the Lambda client for a target (by name); targets in
	// other regions or accounts get their own clients.
	Clients func(target string) *lambda.Client
	// CloudWatch, optional, returns a target's CloudWatch client: a target
	// seen for the first time is judged by its alias's traffic per version
	// (firstsight.go); without it the live version is adopted.
	CloudWatch func(target string) *cloudwatch.Client
	Store      store.Store
	Clock      clockwork.Clock
	Logger     *zap.Logger
	Metrics    *Metrics
	// PollInterval is how often each alias is read; default 15s.
	PollInterval time.Duration
	// Concurrency bounds the alias reads in flight; default 16.
	Concurrency int
	// Async makes Tick start the due reads and return at once: a target
	// whose read is still in flight is not read again until it returns, so
	// one hung read never delays another target nor the caller's loop.
	// Wait waits for the reads in flight. Without Async, Tick waits for its
	// reads (tests step it).
	Async bool
	// ReadTimeout bounds one alias read and the store update after it;
	// default 30s.
	ReadTimeout time.Duration
	// MaxPollRate, optional, caps alias reads per second over all targets
	// (Lambda's control-plane quota is ~15/s per account and region): when
	// targets/PollInterval exceeds it, the interval is stretched to fit.
	MaxPollRate float64
	// Owns, optional, limits Tick and Sweep to the targets this replica
	// holds the lease of; nil means all. Announce is not filtered: the
	// watch it starts is in the shared store for the owner to pick up.
	Owns func(target string) bool
	// EventSweep, optional, is the poll interval while deploy events flow
	// (EventsFlowing reports true): each alias is then read only this
	// often, the safety net for a lost event, and such reads count as
	// sweeps. Stretched to respect EventSweepRate (default MaxPollRate):
	// the sweep's share of the control-plane quota stays bounded however
	// many targets there are.
	EventSweep     time.Duration
	EventSweepRate float64
	// EventsFlowing, optional, says whether the deploy event source is
	// healthy; Tick asks it each time and slows or restores the polls.
	EventsFlowing func() bool
	// ProbeBaseline, optional, returns a target's probe results from
	// before an instant (the known-good's, the probe rules' baseline): a
	// new watch is created with them (store.Watch.ProbeBaseline), so that
	// a process that restarts or takes it over judges with them too.
	ProbeBaseline func(target string, before time.Time) *store.ProbeBaseline

	// OnWatch is called (outside any lock) when a deploy starts a watch;
	// superseded is the watch it replaced, if any.
	OnWatch func(w store.Watch, superseded *store.Watch)
	// OnEnd, optional, is called when a watch ends with no successor: the
	// alias was moved back to the known-good version by hand.
	OnEnd func(w store.Watch)
	// OnUpdate, optional, is called when the running deploy shifts its
	// traffic (same new version, other weights): the watch is updated in
	// place, not restarted.
	OnUpdate func(w store.Watch)
}

// Detector finds deploys: it polls aliases on a jittered schedule, sweeps
// all of them on a cron spec, and takes announcements from pipelines.
type Detector struct {
	cfg   DetectorConfig
	order []*targetSlot
	slots map[string]*targetSlot
	sem   chan struct{} // reads in flight, across Tick and Sweep
	wg    sync.WaitGroup

	// sweeping is set while SweepMissed runs: a cron sweep that fires
	// while the last one is still pacing its reads is skipped.
	sweeping atomic.Bool

	mu sync.Mutex // guards targetSlot.due, readAt, fails and inFlight, and slow
	// slow is set while deploy events flow: polls run every
	// cfg.EventSweep instead of every cfg.PollInterval.
	slow bool
}

type targetSlot struct {
	t          config.Target
	offset     time.Duration // within PollInterval
	offsetSlow time.Duration // within EventSweep
	due        time.Time     // guarded by Detector.mu
	readAt     time.Time     // the last successful read (the detector's start before one), guarded by Detector.mu
	fails      int           // consecutive failed reads, guarded by Detector.mu
	// inFlight is set while a read of this target runs (guarded by
	// Detector.mu): it is not started again until it returns.
	inFlight bool
	obs      sync.Mutex // serialises alias read + state update per target
	// alone are the two latest versions a read found serving the alias
	// alone, each with when the latest such read began (guarded by
	// Detector.mu): SeenAlone.
	alone [2]seenAlone
}

type seenAlone struct {
	version string
	at      time.Time
}

// KnownGoodCutoff is the instant before which target's probe results
// measured its known-good version alone, for a deploy detected at
// detectedAt: when the last alias read that found it alone began, and
// never later than a poll interval before the deploy was detected (a
// deploy is seen within one when polls succeed, so the results between the
// alias moving and the deploy being seen, which measured the new version,
// stay out). Zero when no read found it alone since this detector was
// built: then there is no probe baseline.
func (d *Detector) KnownGoodCutoff(target, knownGood string, detectedAt time.Time) time.Time {
	seen := d.SeenAlone(target, knownGood)
	if limit := detectedAt.Add(-d.cfg.PollInterval); seen.After(limit) {
		return limit
	}
	return seen
}

// SeenAlone is when the latest alias read that found version serving the
// target's alias alone began (zero: none since this detector was built).
// Anything measured at the alias before then was measured on that version
// (unless the alias moved away and back in between): the daemon takes the
// known-good's probe baseline from before it.
func (d *Detector) SeenAlone(target, version string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.order {
		if s.t.Name != target {
			continue
		}
		for _, a := range s.alone {
			if a.version == version && version != "" {
				return a.at
			}
		}
	}
	return time.Time{}
}

// SetKnownGood records version as target's known-good version. It holds
// the target's observation lock, so a poll that read the target's state
// before cannot write its stale known-good back over it.
func (d *Detector) SetKnownGood(ctx context.Context, target, version string) error {
	if s, ok := d.slots[target]; ok {
		s.obs.Lock()
		defer s.obs.Unlock()
	}
	st, err := d.cfg.Store.GetTarget(ctx, target)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("get target %s: %w", target, err)
	}
	st.Name = target
	st.KnownGood, st.KnownGoodAt = version, d.cfg.Clock.Now()
	if err := d.cfg.Store.PutTarget(ctx, st); err != nil {
		return fmt.Errorf("set known-good of %s: %w", target, err)
	}
	return nil
}

func (d *Detector) sawAlone(s *targetSlot, version string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.alone[0].version != version {
		s.alone[1] = s.alone[0]
	}
	s.alone[0] = seenAlone{version, at}
}

// NewDetector checks cfg and spreads the targets' first polls over one interval.
func NewDetector(cfg DetectorConfig) (*Detector, error) {
	if cfg.Store == nil || cfg.Clients == nil {
		return nil, errors.New("watcher: detector needs a Store and Clients")
	}
	commonDefaults(&cfg.Clock, &cfg.Logger, &cfg.Metrics)
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 15 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	cfg.PollInterval = stretchInterval(cfg, "poll interval", cfg.PollInterval, cfg.MaxPollRate)
	if cfg.EventSweep > 0 {
		rate := cfg.EventSweepRate
		if rate <= 0 || (cfg.MaxPollRate > 0 && rate > cfg.MaxPollRate) {
			rate = cfg.MaxPollRate
		}
		cfg.EventSweep = stretchInterval(cfg, "events sweep", max(cfg.EventSweep, cfg.PollInterval), rate)
	}
	d := &Detector{cfg: cfg, slots: make(map[string]*targetSlot, len(cfg.Targets)), sem: make(chan struct{}, cfg.Concurrency)}
	now := cfg.Clock.Now()
	for _, t := range cfg.Targets {
		if _, dup := d.slots[t.Name]; dup {
			return nil, fmt.Errorf("watcher: target %q listed twice", t.Name)
		}
		s := &targetSlot{t: t, offset: jitterOffset(t.Name, cfg.PollInterval), offsetSlow: jitterOffset(t.Name, cfg.EventSweep)}
		s.due, s.readAt = nextSlot(now, cfg.PollInterval, s.offset), now
		d.slots[t.Name] = s
		d.order = append(d.order, s)
	}
	return d, nil
}

// stretchInterval returns interval, or the longer one that reading every
// target once per interval needs to stay within rate reads per second.
func stretchInterval(cfg DetectorConfig, what string, interval time.Duration, rate float64) time.Duration {
	if rate <= 0 {
		return interval
	}
	need := time.Duration(float64(len(cfg.Targets)) / rate * float64(time.Second))
	if need <= interval {
		return interval
	}
	cfg.Logger.Warn(what+" stretched to respect max poll rate",
		zap.Duration("configured", interval), zap.Duration("effective", need),
		zap.Int("targets", len(cfg.Targets)), zap.Float64("max_rate", rate))
	return need
}

// TickStats says what one Tick or Sweep did.
type TickStats struct {
	Polled   int
	Errors   int
	Detected int
}

// Tick reads the aliases that are due. A failed read is logged, counted
// and retried later with backoff; it never starts or ends a watch. With
// Async it returns once the reads are started (Polled counts them).
func (d *Detector) Tick(ctx context.Context) TickStats {
	now := d.cfg.Clock.Now()
	d.pace(now)
	var due []*targetSlot
	d.mu.Lock()
	source := SourcePoll
	if d.slow {
		source = SourceSweep
	}
	for _, s := range d.order {
		if !s.due.After(now) {
			due = append(due, s)
		}
	}
	d.mu.Unlock()
	due = d.owned(due)
	if !d.cfg.Async {
		return d.observeAll(ctx, due, source)
	}
	claimed := d.claim(due)
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.observeClaimed(ctx, claimed, source) }()
	return TickStats{Polled: len(claimed)}
}

// Wait blocks until every read started by Tick has returned.
func (d *Detector) Wait() { d.wg.Wait() }

// Reading returns the targets whose alias read is in flight, in the
// detector's order: a read that hangs shows here until its timeout.
func (d *Detector) Reading() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, s := range d.order {
		if s.inFlight {
			out = append(out, s.t.Name)
		}
	}
	return out
}

// claim marks the slots not already in flight as in flight and returns them.
func (d *Detector) claim(slots []*targetSlot) []*targetSlot {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slots[:0:0]
	for _, s := range slots {
		if !s.inFlight {
			s.inFlight = true
			out = append(out, s)
		}
	}
	return out
}

func (d *Detector) owned(slots []*targetSlot) []*targetSlot {
	if d.cfg.Owns == nil {
		return slots
	}
	out := make([]*targetSlot, 0, len(slots))
	for _, s := range slots {
		if d.cfg.Owns(s.t.Name) {
			out = append(out, s)
		}
	}
	return out
}

// Sweep re-reads every alias, so that a restart or a missed poll never
// leaves a deploy unwatched.
func (d *Detector) Sweep(ctx context.Context) TickStats {
	return d.observeAll(ctx, d.owned(d.order), SourceSweep)
}

// missedAfter is how far past its interval a target's last successful
// read must be for SweepMissed to read it: the poll's own jitter and a
// read's duration are not a miss.
const missedAfter = 10 * time.Second

// SweepMissed is the safety net the cron sweep runs: it reads the aliases
// this replica owns whose last successful read is more than an interval
// (poll interval, or the events sweep while events flow) old — polls that
// failed, stalled or were never made — paced at MaxPollRate reads a
// second. Re-reading every alias at once, as Sweep does, would put 10,000
// reads on Lambda's control-plane quota (about 15 a second per account and
// region) in a burst every few minutes, throttling the polls and the
// UpdateAlias calls of a rollback in flight. A sweep that fires while the
// previous one is still pacing its reads is skipped.
func (d *Detector) SweepMissed(ctx context.Context) TickStats {
	if !d.sweeping.CompareAndSwap(false, true) {
		return TickStats{}
	}
	defer d.sweeping.Store(false)
	now := d.cfg.Clock.Now()
	var missed []*targetSlot
	d.mu.Lock()
	for _, s := range d.order {
		if interval, _ := d.intervalLocked(s); now.Sub(s.readAt) > interval+missedAfter {
			missed = append(missed, s)
		}
	}
	d.mu.Unlock()
	missed = d.owned(missed)
	rate := d.cfg.MaxPollRate
	if rate <= 0 || float64(len(missed)) <= rate {
		return d.observeAll(ctx, missed, SourceSweep)
	}
	// At most rate reads (at least one) in each second of the clock.
	burst := max(1, int(rate))
	var total TickStats
	for i := 0; i < len(missed); i += burst {
		if i > 0 {
			select {
			case <-ctx.Done():
				return total
			case <-d.cfg.Clock.After(time.Second):
			}
		}
		st := d.observeAll(ctx, missed[i:min(i+burst, len(missed))], SourceSweep)
		total.Polled, total.Errors, total.Detected = total.Polled+st.Polled, total.Errors+st.Errors, total.Detected+st.Detected
	}
	return total
}

// ScheduleSweep registers SweepMissed on c with a robfig/cron spec.
func (d *Detector) ScheduleSweep(ctx context.Context, c *cron.Cron, spec string) error {
	if _, err := c.AddFunc(spec, func() { d.SweepMissed(ctx) }); err != nil {
		return fmt.Errorf("schedule alias sweep %q: %w", spec, err)
	}
	return nil
}

// Run calls Tick every `every` (default 1s) until ctx ends.
func (d *Detector) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	tk := d.cfg.Clock.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.Chan():
			d.Tick(ctx)
		}
	}
}

// PollInterval is the interval in force (after MaxPollRate): the events
// sweep while deploy events flow, else the poll interval.
func (d *Detector) PollInterval() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, _ := d.intervalLocked(nil)
	return i
}

// NextPoll returns when target is next due (tests, status).
func (d *Detector) NextPoll(target string) (time.Time, bool) {
	s, ok := d.slots[target]
	if !ok {
		return time.Time{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return s.due, true
}

// observeAll reads the slots not already in flight and waits for them.
func (d *Detector) observeAll(ctx context.Context, slots []*targetSlot, source string) TickStats {
	return d.observeClaimed(ctx, d.claim(slots), source)
}

// observeClaimed reads claimed slots, at most Concurrency at once, each
// released from flight as soon as its own read returns.
func (d *Detector) observeClaimed(ctx context.Context, slots []*targetSlot, source string) TickStats {
	var (
		mu    sync.Mutex
		stats TickStats
		wg    sync.WaitGroup
	)
	for i, s := range slots {
		select {
		case d.sem <- struct{}{}:
		case <-ctx.Done():
			d.release(slots[i:])
			wg.Wait()
			return stats
		}
		wg.Add(1)
		go func(s *targetSlot) {
			defer func() { <-d.sem; d.release([]*targetSlot{s}); wg.Done() }()
			rctx, cancel := context.WithTimeout(ctx, d.cfg.ReadTimeout)
			res, err := d.observe(rctx, s, source)
			cancel()
			mu.Lock()
			stats.Polled++
			if err != nil {
				stats.Errors++
			}
			if res.started != nil {
				stats.Detected++
			}
			mu.Unlock()
			if err == nil {
				d.reschedule(s)
			} else {
				d.backoff(s)
			}
		}(s)
	}
	wg.Wait()
	return stats
}

func (d *Detector) release(slots []*targetSlot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range slots {
		s.inFlight = false
	}
}

// reschedule moves a target's next poll one slot past now, keeping its offset.
func (d *Detector) reschedule(s *targetSlot) {
	now := d.cfg.Clock.Now()
	d.mu.Lock()
	interval, offset := d.intervalLocked(s)
	s.due, s.fails, s.readAt = nextSlot(now, interval, offset), 0, now
	d.mu.Unlock()
}

// backoff schedules the retry of a failed read: 1 s, 2 s, 4 s ... capped
// at the poll interval, so an unreachable account is neither hammered every
// tick nor left unread longer than a normal poll.
func (d *Detector) backoff(s *targetSlot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s.fails++
	wait := time.Second << min(s.fails-1, 16)
	if wait > d.cfg.PollInterval {
		wait = d.cfg.PollInterval
	}
	s.due = d.cfg.Clock.Now().Add(wait)
}

// readSlot reads s's alias (s.obs is held) for a poll, a sweep or a deploy
// event: a failed read is counted, and a version found serving alone is
// remembered as of when the read began (SeenAlone).
func (d *Detector) readSlot(ctx context.Context, s *targetSlot) (aliasView, error) {
	began := d.cfg.Clock.Now()
	alias, err := d.readAlias(ctx, s.t)
	if err != nil {
		d.cfg.Metrics.PollErrors.Inc()
		return alias, err
	}
	if len(alias.Weights) == 0 {
		d.sawAlone(s, alias.Version, began)
	}
	return alias, nil
}

// observe reads the alias and applies what it shows, then runs callbacks.
func (d *Detector) observe(ctx context.Context, s *targetSlot, source string) (change, error) {
	s.obs.Lock()
	alias, err := d.readSlot(ctx, s)
	if err != nil {
		s.obs.Unlock()
		d.cfg.Logger.Warn("read alias failed; retrying with backoff",
			zap.String("target", s.t.Name), zap.String("source", source), zap.Error(err))
		return change{}, err
	}
	c, err := d.apply(ctx, s.t, alias, seen{source: source})
	s.obs.Unlock()
	if err != nil {
		d.cfg.Metrics.PollErrors.Inc()
		d.cfg.Logger.Error("record alias observation failed",
			zap.String("target", s.t.Name), zap.String("source", source), zap.Error(err))
		return change{}, err
	}
	d.notify(c)
	return c, nil
}
