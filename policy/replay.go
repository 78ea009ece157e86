package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/canaryd/canaryd/config"
)

// Replay runs a recorded or synthetic trace (format: see trace.go) through
// the same Compile and Evaluate the daemon uses, offline, on the trace's
// own clock. It evaluates at every delivery instant in the trace, at every
// metric-period boundary in between and at the end of the bake time, the
// way the daemon's ticks would, and keeps the verdict timeline.
//
// The decision is what the daemon would act on: the first Failing verdict
// (a rollback, or an alert when AlertOnly), or Promote; after a Promote the
// watch goes on with Input.Promoted for the target's rollback_window, where
// a Failing verdict still counts. Without a decision the outcome is the
// last verdict (Healthy or Inconclusive).

// Exit codes of `canaryd replay`.
const (
	ExitPromoted     = 0
	ExitBadInput     = 2 // Replay returned an error
	ExitRollback     = 3
	ExitInconclusive = 4 // healthy or inconclusive at the end of the trace
)

// ReplayOptions tunes Replay.
type ReplayOptions struct {
	// Full keeps evaluating to the end of the trace after the decision, to
	// show the whole timeline; the outcome stays the decision.
	Full bool
}

// ReplayResult is a replay's verdict timeline and outcome.
type ReplayResult struct {
	Target     string
	WatchStart time.Time
	KnownGood  string
	NewVersion string
	Split      bool
	// Timeline holds the verdicts whose kind differs from the previous
	// one, plus the final verdict.
	Timeline    []Verdict
	Final       Verdict // the last verdict evaluated
	Outcome     Kind    // Promote, Failing, or the last kind when nothing was decided
	DecidedAt   time.Time
	AlertOnly   bool // the deciding Failing verdict was alert-only
	Evaluations int
	Records     int
}

// ExitCode maps the outcome to canaryd replay's exit code: 0 promoted,
// 3 rollback (failing) verdict, 4 healthy or inconclusive at the end.
func (r ReplayResult) ExitCode() int {
	switch r.Outcome {
	case Promote:
		return ExitPromoted
	case Failing:
		return ExitRollback
	}
	return ExitInconclusive
}

// Replay reads the trace from r and replays it against target t. A
// malformed trace is an error (*TraceError names the line); the caller
// exits with ExitBadInput.
func Replay(ctx context.Context, r io.Reader, t config.Target, opts ReplayOptions) (ReplayResult, error) {
	p, err := Compile(t)
	if err != nil {
		return ReplayResult{}, err
	}
	recs, err := readTrace(r, p.period)
	if err != nil {
		return ReplayResult{}, err
	}
	dep, err := findDeploy(recs)
	if err != nil {
		return ReplayResult{}, err
	}
	slices.SortStableFunc(recs, func(a, b traceRecord) int { return a.at.Compare(b.at) })

	res := ReplayResult{
		Target: t.Name, WatchStart: dep.Time.UTC(), KnownGood: dep.KnownGood,
		NewVersion: dep.NewVersion, Split: dep.Split, Records: len(recs),
	}
	rp := replayer{p: p, res: &res, opts: opts, hist: NewHistory(p.Lookback()),
		rollbackWindow: t.RollbackWindow.Duration}
	rp.in = Input{WatchStart: res.WatchStart, KnownGood: dep.KnownGood, NewVersion: dep.NewVersion, Split: dep.Split}
	bakeEnd := res.WatchStart.Add(p.bake)
	var last time.Time
	for i := 0; i < len(recs) && !rp.stopped; {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		at := recs[i].at
		if !last.IsZero() {
			rp.between(last, at, bakeEnd)
		}
		for ; i < len(recs) && recs[i].at.Equal(at); i++ {
			rp.add(&recs[i])
		}
		if !at.Before(res.WatchStart) && !rp.stopped {
			rp.eval(at)
			last = at
		}
	}
	if res.Evaluations == 0 {
		return res, errors.New("trace: nothing to evaluate (no record at or after the deploy)")
	}
	if n := len(res.Timeline); n == 0 || !res.Timeline[n-1].At.Equal(res.Final.At) {
		res.Timeline = append(res.Timeline, res.Final)
	}
	if res.Outcome == "" {
		res.Outcome = res.Final.Kind
	}
	return res, nil
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
		if recs[i].Type == RecordBaseline && recs[i].at.After(d.Time) {
			return nil, &TraceError{recs[i].line, errors.New("baseline sample after the deploy (its period must end by the deploy time)")}
		}
	}
	return &d, nil
}

type replayer struct {
	p              *Policy
	res            *ReplayResult
	opts           ReplayOptions
	hist           *History
	in             Input
	rollbackWindow time.Duration
	promotedAt     time.Time
	prepared       int // baseline samples in in.Prepared
	decided        bool
	stopped        bool
}

func (rp *replayer) add(r *traceRecord) {
	switch r.Type {
	case RecordSample:
		rp.hist.Add(r.sample())
	case RecordBaseline:
		rp.in.Baseline = append(rp.in.Baseline, r.sample())
	}
}

// between evaluates at the period boundaries strictly between two
// delivery instants, and at the end of the bake time. Time passing changes
// a verdict only until the rules' windows have slid past the newest data
// (the policy's lookback); beyond that horizon only the bake end is left,
// so a gap of years in a trace costs a bounded number of evaluations.
func (rp *replayer) between(from, to, bakeEnd time.Time) {
	period := rp.p.period
	horizon := from.Add(rp.p.lookback + period)
	bakePending := bakeEnd.After(from) && bakeEnd.Before(to)
	for b := from.Truncate(period).Add(period); b.Before(to) && b.Before(horizon) && !rp.stopped; b = b.Add(period) {
		if bakePending && !bakeEnd.After(b) {
			if bakeEnd.Before(b) {
				rp.eval(bakeEnd)
			}
			bakePending = false
		}
		if !rp.stopped {
			rp.eval(b)
		}
	}
	if bakePending && !rp.stopped {
		rp.eval(bakeEnd)
	}
}

func (rp *replayer) eval(at time.Time) {
	rp.in.Samples = rp.hist.samples // no copy: nothing changes it during Evaluate
	if rp.in.Prepared == nil || rp.prepared != len(rp.in.Baseline) {
		rp.in.Prepared, rp.prepared = rp.p.PrepareBaseline(rp.in.Baseline), len(rp.in.Baseline)
	}
	rp.in.Promoted = !rp.promotedAt.IsZero()
	v := rp.p.Evaluate(rp.in, at)
	res := rp.res
	res.Evaluations++
	if n := len(res.Timeline); n == 0 || res.Timeline[n-1].Kind != v.Kind {
		res.Timeline = append(res.Timeline, v)
	}
	res.Final = v
	if !rp.decided {
		switch {
		case v.Kind == Failing:
			rp.decide(Failing, at)
			res.AlertOnly = v.AlertOnly
		case v.Kind == Promote:
			rp.promotedAt = at
			res.Outcome, res.DecidedAt = Promote, at
			if rp.rollbackWindow <= 0 {
				rp.decide(Promote, at)
			}
		case !rp.promotedAt.IsZero() && at.Sub(rp.promotedAt) >= rp.rollbackWindow:
			rp.decide(Promote, rp.promotedAt)
		}
	}
	if rp.decided && !rp.opts.Full {
		rp.stopped = true
	}
}

func (rp *replayer) decide(k Kind, at time.Time) {
	rp.decided = true
	rp.res.Outcome, rp.res.DecidedAt = k, at
}

// WriteTimeline prints the timeline for humans: one line per verdict
// change with its breached findings ("!"), every finding of the final
// verdict ("-" for the others), and the outcome.
func (r ReplayResult) WriteTimeline(w io.Writer) {
	mode := "alias-level samples vs the pre-deploy baseline"
	if r.Split {
		mode = "per-version samples, split traffic"
	}
	kg := r.KnownGood
	if kg == "" {
		kg = "(none)"
	}
	fmt.Fprintf(w, "replay %s: deploy %s -> %s at %s (%s)\n", r.Target, kg, r.NewVersion, r.WatchStart.Format(time.RFC3339), mode)
	for i, v := range r.Timeline {
		fmt.Fprintf(w, "  %-9s %s  %-12s %s\n", "+"+v.At.Sub(r.WatchStart).String(), v.At.UTC().Format("15:04:05"), v.Kind, v.Summary)
		final := i == len(r.Timeline)-1
		for _, f := range v.Findings {
			switch {
			case f.Breached:
				fmt.Fprintf(w, "      ! %s\n", f.String())
			case final:
				fmt.Fprintf(w, "      - %s\n", f.String())
			}
		}
	}
	fmt.Fprintf(w, "outcome: %s", r.Outcome)
	if r.AlertOnly {
		fmt.Fprint(w, " (alert only)")
	}
	if !r.DecidedAt.IsZero() {
		fmt.Fprintf(w, " at +%s", r.DecidedAt.Sub(r.WatchStart))
	}
	fmt.Fprintf(w, " (exit %d), %d evaluations of %d records\n", r.ExitCode(), r.Evaluations, r.Records)
}
