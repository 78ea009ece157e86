package actuator

import (
	"context"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/store"
)

// A rollback must not give up during an AWS brown-out (issue #13 item 8):
// while the alias change fails with transient errors (throttling, 5xx,
// timeouts) the alias step goes on in rounds, with backoff on the injected
// clock, for up to the target's actions.retry_for. Each failed round is
// journaled (an intent entry carrying the round's error), so a process that
// dies meanwhile resumes the same retry, bounded from the first failure,
// not from the restart. A moved alias (412, or a newer version read) still
// stops the step at once.
//
// The CloudFront step rides out a throttling storm the same way (inRounds),
// for at most NonCriticalRetryFor and without paging: its invalidation is
// idempotent, and the alias is already back.

// Backoff is the wait between rounds: Base after the first failed round,
// doubling up to Max.
type Backoff struct {
	Base, Max time.Duration
}

// DefaultRounds is used when Config.Rounds is zero.
var DefaultRounds = Backoff{Base: 10 * time.Second, Max: 2 * time.Minute}

// wait is the pause after failed round n (1-based).
func (b Backoff) wait(n int) time.Duration {
	w := b.Base
	for i := 1; i < n && w < b.Max; i++ {
		w *= 2
	}
	if b.Max > 0 && w > b.Max {
		w = b.Max
	}
	return w
}

// RetryKind is what a RetryEvent reports.
type RetryKind string

// Retry event kinds.
const (
	RetryStarted   RetryKind = "started"   // the first failed round of this run: page once (dedup on PlanID)
	RetryRound     RetryKind = "round"     // another failed round
	RetryRecovered RetryKind = "recovered" // the alias change went through after failed rounds: resolve the page
	RetryExhausted RetryKind = "exhausted" // retry_for spent: the step fails, the plan ends rollback_failed
)

// RetryEvent is one moment of an alias step retrying through a brown-out.
// Kind RetryStarted comes once per Execute run, at its first failed round
// (a run resumed after a crash announces itself again, with the original
// Since and the rounds counted from the journal).
type RetryEvent struct {
	PlanID string
	Target string
	Step   string
	Kind   RetryKind
	Round  int       // failed rounds so far, across restarts
	Since  time.Time // first failed round
	Until  time.Time // no round starts after this
	Next   time.Time // next round (started, round)
	Err    string    // the last round's error, secrets redacted
}

// roundDetail is the journal detail of a failed round.
type roundDetail struct {
	Round int       `json:"round"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	Next  time.Time `json:"next"`
}

// runAlias is the alias step: rounds of aliasRound until one is decided
// or the target's retry_for is spent. Its retries are announced (the
// rollback itself is held up: page on-call).
func (x *execution) runAlias(ctx context.Context, s Step) (stepOutcome, error) {
	return x.inRounds(ctx, s, x.p.Target.Actions.RetryFor.Duration, true, func() stepOutcome {
		return x.a.aliasRound(ctx, x.p)
	})
}

// NonCriticalRetryFor bounds the rounds of a non-critical AWS step (a
// CloudFront invalidation): the alias is already back, and the steps
// after it (cache flush, webhooks, verify) wait while it retries.
const NonCriticalRetryFor = 2 * time.Minute

// runCloudFrontRounds is the CloudFront step: an invalidation is
// idempotent on its CallerReference, so a storm that outlasts one round
// of retries is ridden out in rounds, for at most NonCriticalRetryFor
// (retry_for if shorter), unannounced: the rollback has happened.
func (x *execution) runCloudFrontRounds(ctx context.Context, s Step) (stepOutcome, error) {
	return x.inRounds(ctx, s, min(x.p.Target.Actions.RetryFor.Duration, NonCriticalRetryFor), false, func() stepOutcome {
		return x.a.runCloudFront(ctx, x.p, s)
	})
}

// inRounds runs round until it is decided (done, or failed for good) or
// retryFor, counted from the first failed round in the journal, is spent.
// Each failed round is journaled; announce reports the rounds to OnRetry.
func (x *execution) inRounds(ctx context.Context, s Step, retryFor time.Duration, announce bool, round func() stepOutcome) (stepOutcome, error) {
	a := x.a
	rounds, since := x.priorRounds(s)
	announced := false
	event := func(k RetryKind, until, next time.Time, err error) {
		if announce {
			x.retryEvent(s, k, rounds, since, until, next, err)
		}
	}
	for {
		out := round()
		if d, ok := out.detail.(rounded); ok {
			d.setRounds(rounds)
		}
		if out.status != store.StepFailed || Classify(out.err) != Transient || ctx.Err() != nil || retryFor <= 0 {
			if out.status == store.StepDone && rounds > 0 {
				event(RetryRecovered, since.Add(retryFor), time.Time{}, nil)
			}
			return out, nil
		}
		now := a.clk.Now()
		if rounds == 0 {
			since = now
		}
		rounds++
		until := since.Add(retryFor)
		if !now.Before(until) {
			event(RetryExhausted, until, time.Time{}, out.err)
			return failed(out.detail, fmt.Errorf("gave up after %d rounds over %s (retrying for at most %s): %w",
				rounds, now.Sub(since).Round(time.Second), retryFor, out.err)), nil
		}
		next := now.Add(min(a.cfg.Rounds.wait(rounds), until.Sub(now)))
		failedRound := stepOutcome{status: store.StepIntent, err: fmt.Errorf("round %d failed, next at %s: %w", rounds, next.UTC().Format(time.RFC3339), out.err),
			detail: roundDetail{Round: rounds, Since: since, Until: until, Next: next}}
		if _, err := x.write(ctx, s, failedRound, 0); err != nil {
			return out, err
		}
		kind := RetryRound
		if !announced {
			kind, announced = RetryStarted, true
		}
		event(kind, until, next, out.err)
		select {
		case <-ctx.Done():
			return failed(out.detail, ctx.Err()), nil
		case <-a.clk.After(next.Sub(now)):
		}
	}
}

// rounded is a step detail that records how many rounds failed before it.
type rounded interface{ setRounds(int) }

// priorRounds counts the failed rounds of step s in the journal as last
// read, and when the first was.
func (x *execution) priorRounds(s Step) (int, time.Time) {
	n, since := 0, time.Time{}
	for _, e := range x.prior {
		if e.Step == s.Index && e.Status == store.StepIntent && e.Error != "" {
			if n == 0 {
				since = e.Time
			}
			n++
		}
	}
	return n, since
}

func (x *execution) retryEvent(s Step, k RetryKind, round int, since, until, next time.Time, err error) {
	if x.a.cfg.OnRetry == nil {
		return
	}
	ev := RetryEvent{PlanID: x.p.ID, Target: x.p.Target.Name, Step: s.Name, Kind: k, Round: round,
		Since: since, Until: until, Next: next}
	if err != nil {
		ev.Err = x.red.Redact(err.Error())
	}
	x.a.cfg.OnRetry(ev)
}
