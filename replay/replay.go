// Package replay backtests a target's rules on a recorded or synthetic
// trace (format: trace.go, testdata/traces/README.md): it runs the same
// policy and the same watch life cycle (package watch) as the daemon, on the
// daemon's clock semantics, so its outcome is what production would have
// done, at the same time.
//
// The daemon's semantics it reproduces:
//   - a tick every second from the deploy (the daemon's run loop), each one
//     judging the watch and advancing its life cycle, and one at the
//     trace's last record when it falls between two (the daemon's own
//     ticks need not be on that grid, and a recorded trace ends with its
//     decision);
//   - metric periods read by a cycle watch.MetricDelay after each period boundary
//     (watch.NextMetricRead; a late period is read again), covering the last metric_lag complete periods
//     from the watch's detection period on; a period shows in the cycle only
//     once the trace has delivered it (its "at"), later deliveries replace
//     it, and a complete period the trace has no value for is no_data, as
//     the watcher reports it; a cycle whose recorded read answered later
//     (a daemon's trace: "answered") gives its samples to the watch only
//     then, and the next cycle comes after it;
//   - probe results as they are delivered;
//   - the pre-deploy baseline as the watch's adoption reads it: from the
//     first second, or, for baseline records whose "at" is after the
//     deploy (the daemon's CloudWatch read answered late), from then on,
//     judging meanwhile with the baseline records it had at once (the
//     known-good's probe results).
//
// The outcome is what the daemon would have done: rolled back (a trip that
// is not alert-only), promoted (and not rolled back later in the rollback
// window), or undecided (still baking, held, or only alerting at the end of
// the trace).
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
)

// Exit codes of `canaryd replay`.
const (
	ExitPromoted     = 0
	ExitBadInput     = 2 // Run returned an error
	ExitRollback     = 3 // the daemon would have rolled back
	ExitInconclusive = 4 // still baking, held or alert-only at the end of the trace
)

// Tick is the daemon's run-loop interval, which replay reproduces.
const Tick = time.Second

// Outcome is what the daemon would have done with the deploy.
type Outcome string

// Outcomes.
const (
	RolledBack Outcome = "rolled_back"
	Promoted   Outcome = "promoted"
	Undecided  Outcome = "undecided"
)

// Options tunes Run.
type Options struct {
	// Full records every change of the verdict's summary, not only of its
	// kind, and after a trip keeps judging to the end of the trace (the
	// outcome stays the trip).
	Full bool
	// Follow names rules of the target whose evidence Result.Evidence
	// records at every change: how a rule's e-value, counts and window
	// grew over the watch, not only where they ended.
	Follow []string
}

// Step is one change of a followed rule's finding.
type Step struct {
	At      time.Time
	Finding policy.Finding
}

// Entry is one line of the timeline: a note of the life cycle (verdict
// changes, alert-only, hold, promotion, trip, end) or, with Full, a
// verdict whose summary changed.
type Entry struct {
	At      time.Time
	Kind    event.Kind
	Message string
	Verdict *policy.Verdict
}

// Result is a replay's timeline and outcome.
type Result struct {
	Target     string
	WatchStart time.Time
	KnownGood  string
	NewVersion string
	Split      bool
	// RecordedReads: the trace gave the instants the daemon's metric
	// cycles read each period ("reads":"recorded"), which replay used
	// instead of modelling them.
	RecordedReads bool
	Timeline      []Entry
	Final         policy.Verdict // the last verdict evaluated
	Phase         store.Phase    // the watch's phase at the end
	Outcome       Outcome
	DecidedAt     time.Time // the trip, or the promotion
	// AlertOnly is set when the watch failed while canaryd could only
	// alert (and why).
	AlertOnly    bool
	AlertOnlyWhy string
	Evaluations  int
	Records      int
	// Evidence holds, per rule of Options.Follow, its finding at every
	// change (from the first evaluation on).
	Evidence map[string][]Step
	// Recorded is what the daemon that recorded the trace decided: the
	// phases it moved the watch to, and when (its tick records' "phase").
	Recorded []RecordedPhase
}

// RecordedPhase is a change of phase the daemon recorded in its trace.
type RecordedPhase struct {
	At    time.Time
	Phase store.Phase
}

// RecordedOutcome is the daemon's own outcome as its trace records it: a
// trip (rolled back), else a promotion; ok is false when the trace
// records neither (a trace not recorded by a daemon, or a watch still
// baking when it ended).
func (r Result) RecordedOutcome() (o Outcome, at time.Time, ok bool) {
	for _, p := range r.Recorded {
		if p.Phase == store.PhaseTripped {
			return RolledBack, p.At, true
		}
	}
	for _, p := range r.Recorded {
		if p.Phase == store.PhasePromoted {
			return Promoted, p.At, true
		}
	}
	return "", time.Time{}, false
}

// ExitCode maps the outcome to `canaryd replay`'s exit code.
func (r Result) ExitCode() int {
	switch r.Outcome {
	case Promoted:
		return ExitPromoted
	case RolledBack:
		return ExitRollback
	}
	return ExitInconclusive
}

// Run reads the trace from r and replays it against target t. A malformed
// trace is an error (*TraceError names the line); the caller exits with
// ExitBadInput.
func Run(ctx context.Context, r io.Reader, t config.Target, opts Options) (Result, error) {
	p, err := policy.Compile(t)
	if err != nil {
		return Result{}, err
	}
	if err := CheckFollow(t, opts.Follow); err != nil {
		return Result{}, fmt.Errorf("follow: %w", err)
	}
	recs, err := readTrace(r, p.Period())
	if err != nil {
		return Result{}, err
	}
	dep, err := findDeploy(recs)
	if err != nil {
		return Result{}, err
	}
	slices.SortStableFunc(recs, func(a, b traceRecord) int { return a.at.Compare(b.at) })
	rp := newReplayer(p, t, dep, opts)
	rp.res.Records = len(recs)
	end := recs[len(recs)-1].at
	for i := range recs { // a recorded read that answered after the last record
		if a := recs[i].Answered; !a.IsZero() {
			end = latest(end, a)
		}
	}
	if end.Before(rp.w.DetectedAt) {
		return rp.res, errors.New("trace: nothing to evaluate (no record at or after the deploy)")
	}
	rp.load(recs)
	for now := rp.w.DetectedAt; !now.After(end); now = rp.next(now, end) {
		if err := ctx.Err(); err != nil {
			return rp.res, err
		}
		if !rp.tick(now) {
			break
		}
	}
	return rp.finish(), nil
}

func findDeploy(recs []traceRecord) (*traceRecord, error) {
	var dep *traceRecord
	for i := range recs {
		if recs[i].Type != RecordDeploy {
			continue
		}
		if dep != nil {
			return nil, &TraceError{recs[i].line, fmt.Errorf("second deploy record (the first is on line %d): one watch per trace", dep.line)}
		}
		dep = &recs[i]
	}
	if dep == nil {
		return nil, errors.New("trace: no deploy record")
	}
	d := *dep
	for i := range recs {
		if recs[i].Type == RecordBaseline && recs[i].end().After(d.Time) {
			return nil, &TraceError{recs[i].line, errors.New("baseline sample after the deploy (its period must end by the deploy time)")}
		}
	}
	return &d, nil
}

// replayer is the daemon's part for one watch: its evidence, its life
// cycle and the metric cycles, on the trace's clock.
type replayer struct {
	p       *policy.Policy
	conf    watch.Config
	lag     int
	opts    Options
	w       store.Watch
	hist    *policy.History
	in      policy.Input
	metrics *metricFeed
	probes  []sample.Sample // in order of delivery
	probeAt []time.Time     // when each was delivered
	nextP   int
	late    []sample.Sample // baseline records the daemon had only after the deploy, in order of delivery
	lateAt  []time.Time     // when each was
	nextB   int
	nextRd  time.Time // next metric cycle
	lastRd  time.Time // the last one
	// A daemon's trace ("reads":"recorded"): its metric samples, given to
	// the watch when its cycles did (at, or answered if later), in that
	// order; no cycle is modelled.
	recorded bool
	reads    []delivery
	nextR    int
	// A cycle whose recorded read answered later (trace "answered"):
	// its samples, held until then.
	pending   []sample.Sample
	pendingAt time.Time
	fresh     bool // samples arrived since the last copy
	tripped   bool
	res       Result
}

func newReplayer(p *policy.Policy, t config.Target, dep *traceRecord, opts Options) *replayer {
	w := store.Watch{ID: "replay", Target: t.Name, Phase: store.PhaseBaking, KnownGood: dep.KnownGood,
		NewVersion: dep.NewVersion, DetectedAt: dep.Time.UTC(), Source: "replay"}
	if dep.Split {
		w.Weights = map[string]float64{dep.NewVersion: 0} // split: per-version samples
	}
	lag := t.MetricLag
	if lag <= 0 {
		lag = 3
	}
	rp := &replayer{p: p, conf: watch.Config{RollbackWindow: t.RollbackWindow.Duration}, lag: lag, opts: opts, w: w, recorded: dep.Reads == readsRecorded,
		hist: p.NewHistory(policy.Watch{Start: w.DetectedAt, KnownGood: w.KnownGood, NewVersion: w.NewVersion})}
	rp.in = policy.Input{WatchStart: w.DetectedAt, KnownGood: w.KnownGood, NewVersion: w.NewVersion, Split: dep.Split,
		BaselineSince: dep.BaselineSince.UTC()}
	rp.res = Result{Target: t.Name, WatchStart: w.DetectedAt, KnownGood: w.KnownGood, NewVersion: w.NewVersion, Split: dep.Split,
		RecordedReads: rp.recorded}
	return rp
}

// load splits the records into the baseline (read at adoption), metric
// deliveries (read by cycles) and probe deliveries, and notes the phases
// the daemon recorded.
func (rp *replayer) load(recs []traceRecord) {
	versions := []string{""}
	if rp.in.Split {
		versions = []string{rp.w.NewVersion}
		if rp.w.KnownGood != "" && rp.w.KnownGood != rp.w.NewVersion {
			versions = append(versions, rp.w.KnownGood)
		}
		versions = append(versions, "")
	}
	newVersion := rp.w.NewVersion
	if rp.in.Split {
		newVersion = "" // every version's series, every cycle
	}
	rp.metrics = newMetricFeed(rp.p, versions, rp.w.DetectedAt, newVersion)
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Type == RecordBaseline && r.at.After(rp.w.DetectedAt):
			rp.late = append(rp.late, r.sample())
			rp.lateAt = append(rp.lateAt, r.at)
		case r.Type == RecordBaseline:
			rp.in.Baseline = append(rp.in.Baseline, r.sample())
		case r.Type == RecordTick && r.Phase != "":
			rp.res.Recorded = append(rp.res.Recorded, RecordedPhase{At: r.at, Phase: r.Phase})
		case r.Type != RecordSample:
		case r.Kind == sample.KindProbe:
			rp.probes = append(rp.probes, r.sample())
			rp.probeAt = append(rp.probeAt, r.at)
		case rp.recorded:
			s := r.sample()
			s.Source = sample.SourceCloudWatch
			rp.reads = append(rp.reads, delivery{at: latest(r.at, r.Answered), s: s})
		default:
			rp.metrics.add(r.sample(), r.at, r.Answered)
		}
	}
	// A read that answered late reaches the watch after reads begun later
	// may have (they answered at once): in order of reaching it.
	slices.SortStableFunc(rp.reads, func(a, b delivery) int { return a.at.Compare(b.at) })
	rp.prepare()
	rp.nextRd = watch.NextMetricRead(rp.w.DetectedAt, rp.p.Period(), false)
	// The daemon's cycle may read at the very tick the watch appears.
	if prev := rp.nextRd.Add(-rp.p.Period()); !prev.Before(rp.w.DetectedAt) {
		rp.nextRd = prev
	}
}

// tick is one second of the daemon: deliveries, a metric cycle when due,
// a verdict and a step of the life cycle. It reports whether to go on.
func (rp *replayer) tick(now time.Time) bool {
	rp.lateBaseline(now)
	for ; rp.nextP < len(rp.probes) && !rp.probeAt[rp.nextP].After(now); rp.nextP++ {
		rp.hist.Add(rp.probes[rp.nextP])
		rp.fresh = true
	}
	if rp.pending != nil && !now.Before(rp.pendingAt) {
		for _, s := range rp.pending {
			rp.hist.Add(s)
		}
		rp.pending, rp.fresh = nil, true
	}
	for ; rp.nextR < len(rp.reads) && !rp.reads[rp.nextR].at.After(now); rp.nextR++ {
		rp.hist.Add(rp.reads[rp.nextR].s) // as the daemon's Feed does, a failed read's sample too
		rp.fresh = true
	}
	if !rp.recorded && !now.Before(rp.nextRd) {
		samples := rp.metrics.cycle(now, rp.lag)
		rp.nextRd = watch.NextMetricRead(now, rp.p.Period(), watch.NewestLate(samples, now, rp.p.Period()))
		// A failed cycle is tried again when its backoff ends, if that
		// comes before the next read (the daemon's RetryAt).
		if nb := rp.metrics.notBefore; nb.After(now) && nb.Before(rp.nextRd) {
			rp.nextRd = nb
		}
		// The daemon's read answered later (a slow CloudWatch): it
		// judged the samples from then, and read no more until after.
		if at := rp.metrics.answeredBy(rp.lastRd, now); !at.IsZero() {
			rp.pending, rp.pendingAt = samples, at
			rp.nextRd = latest(rp.nextRd, at.Add(time.Nanosecond))
		} else {
			for _, s := range samples {
				rp.hist.Add(s)
			}
			rp.fresh = true
		}
		rp.lastRd = now
	}
	if rp.fresh { // the daemon copies every tick; the same samples need no new copy
		rp.in.Evidence = rp.hist.Evidence() // folds first: Samples is what is left
		rp.in.Samples, rp.fresh = rp.hist.Samples(), false
	}
	rp.in.Promoted = rp.w.Phase == store.PhasePromoted
	v := rp.p.Evaluate(rp.in, now)
	rp.follow(now, &v)
	rp.res.Evaluations++
	if rp.opts.Full && (rp.res.Final.Summary != v.Summary) {
		vc := v
		rp.res.Timeline = append(rp.res.Timeline, Entry{At: now, Kind: event.Verdict, Message: v.Summary, Verdict: &vc})
	}
	rp.res.Final = v
	if rp.tripped { // Full: judging on after the trip, the life cycle is over
		return true
	}
	w, effs := watch.Next(rp.conf, rp.w, watch.Tick{Now: now, Verdict: v})
	rp.apply(now, effs)
	rp.w = w
	if rp.tripped {
		return rp.opts.Full
	}
	return !w.Phase.Final()
}

// lateBaseline adds the baseline records delivered by now (the daemon's
// late CloudWatch baseline) and prepares the baseline again, as the daemon
// does when its read answers.
func (rp *replayer) lateBaseline(now time.Time) {
	n := rp.nextB
	for ; rp.nextB < len(rp.late) && !rp.lateAt[rp.nextB].After(now); rp.nextB++ {
		rp.in.Baseline = append(rp.in.Baseline, rp.late[rp.nextB])
	}
	if rp.nextB > n {
		rp.prepare()
		rp.fresh = true // folding may begin
	}
}

// prepare prepares the baseline the watch has so far: the whole of it, or,
// while late records are still to come, a provisional one (folding waits).
func (rp *replayer) prepare() {
	rp.in.Prepared = rp.p.PrepareBaselineSince(rp.in.Baseline, rp.in.BaselineSince)
	if rp.nextB < len(rp.late) {
		rp.hist.SetProvisionalBaseline(rp.in.Prepared)
	} else {
		rp.hist.SetBaseline(rp.in.Prepared)
	}
}

// CheckFollow reports a rule to follow (Options.Follow) that target t
// does not have.
func CheckFollow(t config.Target, names []string) error {
	have := make([]string, 0, len(t.Rules))
	for _, r := range t.Rules {
		have = append(have, r.Name)
	}
	for _, n := range names {
		if !slices.Contains(have, n) {
			return fmt.Errorf("target %s has no rule %q (its rules: %s)", t.Name, n, strings.Join(have, ", "))
		}
	}
	return nil
}

// follow records the followed rules' findings that changed.
func (rp *replayer) follow(now time.Time, v *policy.Verdict) {
	if len(rp.opts.Follow) == 0 {
		return
	}
	if rp.res.Evidence == nil {
		rp.res.Evidence = map[string][]Step{}
	}
	for _, f := range v.Findings {
		if !slices.Contains(rp.opts.Follow, f.Rule) {
			continue
		}
		steps := rp.res.Evidence[f.Rule]
		// A change is one of the finding's line for humans, which holds
		// its e-value, counts and window.
		if n := len(steps); n > 0 && steps[n-1].Finding.String() == f.String() {
			continue
		}
		rp.res.Evidence[f.Rule] = append(steps, Step{At: now, Finding: f})
	}
}

// apply does in the trace what the daemon does against the world.
func (rp *replayer) apply(now time.Time, effs []watch.Effect) {
	for _, e := range effs {
		switch e := e.(type) {
		case watch.Note:
			if e.Kind == event.Verdict && rp.opts.Full {
				continue // already in the timeline
			}
			en := Entry{At: now, Kind: e.Kind, Message: e.Message, Verdict: e.Verdict}
			if e.Kind == event.Verdict {
				vc := rp.res.Final
				en.Verdict = &vc
			}
			rp.res.Timeline = append(rp.res.Timeline, en)
			switch e.Kind {
			case event.Promoted:
				rp.res.Outcome, rp.res.DecidedAt = Promoted, now
			case event.AlertOnly:
				rp.res.AlertOnly = true
			}
		case watch.RunPlan:
			rp.tripped = true
			rp.res.Outcome, rp.res.DecidedAt = RolledBack, now
		}
	}
}

func (rp *replayer) finish() Result {
	rp.res.Phase = rp.w.Phase
	rp.res.AlertOnlyWhy = rp.w.AlertOnlyWhy
	if rp.res.Outcome == "" {
		rp.res.Outcome = Undecided
	}
	return rp.res
}

// next is the instant after now that replay judges: a tick later, or
// later still over a quiet stretch (skip), but never past the trace's last
// record without judging it: the daemon's ticks need not fall on the grid
// that runs a second apart from the deploy, and a trace it recorded ends
// with its decision, at its own tick.
func (rp *replayer) next(now, end time.Time) time.Time {
	next := rp.skip(now.Add(Tick), end)
	if next.After(end) && now.Before(end) {
		return end
	}
	return next
}

// skip jumps over a quiet stretch of the trace: once nothing was delivered
// for longer than the policy looks back (and the bake time is over), the
// verdict can no longer change until the next delivery, the end of the
// rollback window or the end of the trace. Without it a trace with a gap of
// years would be replayed second by second.
func (rp *replayer) skip(now, end time.Time) time.Time {
	quiet := rp.lastDelivery(now).Add(rp.p.Lookback() + 2*rp.p.Period())
	if bake := rp.w.DetectedAt.Add(rp.p.BakeTime() + rp.p.Period()); bake.After(quiet) {
		quiet = bake
	}
	if now.Before(quiet) {
		return now
	}
	to := earliest(end, rp.nextDelivery(now))
	if rp.pending != nil {
		to = earliest(to, rp.pendingAt)
	}
	if rp.w.Phase == store.PhasePromoted {
		to = earliest(to, rp.w.PromotedAt.Add(rp.conf.RollbackWindow))
	}
	if !to.After(now) {
		return now
	}
	// Stay on the tick grid, at or just before the target instant.
	return now.Add(to.Sub(now).Truncate(Tick))
}

func (rp *replayer) lastDelivery(now time.Time) time.Time {
	last := rp.w.DetectedAt
	if rp.nextP > 0 {
		last = latest(last, rp.probeAt[rp.nextP-1])
	}
	if rp.nextB > 0 {
		last = latest(last, rp.lateAt[rp.nextB-1])
	}
	if rp.nextR > 0 {
		last = latest(last, rp.reads[rp.nextR-1].at)
	}
	return latest(last, rp.metrics.lastDelivery(now))
}

func (rp *replayer) nextDelivery(now time.Time) time.Time {
	next := rp.metrics.nextDelivery(now)
	if rp.nextP < len(rp.probeAt) && (next.IsZero() || rp.probeAt[rp.nextP].Before(next)) {
		next = rp.probeAt[rp.nextP]
	}
	if rp.nextB < len(rp.lateAt) && (next.IsZero() || rp.lateAt[rp.nextB].Before(next)) {
		next = rp.lateAt[rp.nextB]
	}
	if rp.nextR < len(rp.reads) && (next.IsZero() || rp.reads[rp.nextR].at.Before(next)) {
		next = rp.reads[rp.nextR].at
	}
	if next.IsZero() {
		return time.Unix(1<<62, 0)
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
