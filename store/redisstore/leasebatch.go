package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// AcquireLeases is AcquireLease for many targets in two pipelined round
// trips (read all leases, then compare-and-set all of them) instead of two
// per target: renewing 10,000 leases every few seconds is a replica's main
// steady cost. The result has a Fence or an error per target (ErrLeaseHeld
// for another holder's live lease); a target that lost a race to another
// writer is retried alone through AcquireLease. The semantics are exactly
// AcquireLease's.
func (s *Store) AcquireLeases(ctx context.Context, targets []string, holder string, ttl time.Duration) (map[string]store.Fence, map[string]error) {
	fences := make(map[string]store.Fence, len(targets))
	errs := map[string]error{}
	reads := make([]*redis.StringCmd, len(targets))
	_, _ = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range targets {
			reads[i] = p.Get(ctx, s.tkey(t, "lease"))
		}
		return nil
	})
	type pending struct {
		target, old, raw string
		fence            store.Fence
		cas              *redis.Cmd
	}
	var todo []*pending
	now := s.clock.Now()
	for i, t := range targets {
		if err := record.ValidateLeaseArgs(t, holder, ttl); err != nil {
			errs[t] = err
			continue
		}
		old, err := reads[i].Result()
		if errors.Is(err, redis.Nil) {
			old, err = "", nil
		}
		if err != nil {
			errs[t] = fmt.Errorf("acquire lease: %w", err)
			continue
		}
		l, err := readLease(old)
		if err != nil {
			errs[t] = fmt.Errorf("acquire lease: %w", err)
			continue
		}
		nl, fence, err := l.Acquire(t, holder, now, ttl)
		if err != nil {
			errs[t] = fmt.Errorf("acquire lease: %w", err)
			continue
		}
		raw, err := encode(nl)
		if err != nil {
			errs[t] = err
			continue
		}
		todo = append(todo, &pending{target: t, old: old, raw: raw, fence: fence})
	}
	if len(todo) == 0 {
		return fences, errs
	}
	// EVALSHA cannot fall back to EVAL inside a pipeline: load it first.
	if err := casScript.Load(ctx, s.c).Err(); err != nil {
		for _, pd := range todo {
			errs[pd.target] = fmt.Errorf("acquire lease: %w", err)
		}
		return fences, errs
	}
	_, _ = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, pd := range todo {
			pd.cas = casScript.EvalSha(ctx, p, []string{s.tkey(pd.target, "lease")}, pd.old, pd.raw)
		}
		return nil
	})
	for _, pd := range todo {
		n, err := pd.cas.Int()
		switch {
		case err == nil && n == 1:
			fences[pd.target] = pd.fence
		default:
			// Lost a race (or the pipeline failed): settle it alone.
			f, err := s.AcquireLease(ctx, pd.target, holder, ttl)
			if err != nil {
				errs[pd.target] = err
				continue
			}
			fences[pd.target] = f
		}
	}
	return fences, errs
}
