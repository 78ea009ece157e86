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
	var todo []*pendingLease
	now := s.clock.Now()
	for i, t := range targets {
		pd, err := planLease(t, holder, now, ttl, reads[i])
		if err != nil {
			errs[t] = err
			continue
		}
		todo = append(todo, pd)
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

// pendingLease is one target's compare-and-set in AcquireLeases: the lease
// as read (old), the lease to write (raw) and the fence it gives.
type pendingLease struct {
	target, old, raw string
	fence            store.Fence
	cas              *redis.Cmd
}

// planLease decides a target's new lease from its pipelined read, with
// AcquireLease's rules (record.Lease.Acquire).
func planLease(target, holder string, now time.Time, ttl time.Duration, read *redis.StringCmd) (*pendingLease, error) {
	if err := record.ValidateLeaseArgs(target, holder, ttl); err != nil {
		return nil, err
	}
	old, err := read.Result()
	if errors.Is(err, redis.Nil) {
		old, err = "", nil
	}
	if err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	l, err := readLease(old)
	if err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	nl, fence, err := l.Acquire(target, holder, now, ttl)
	if err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	raw, err := encode(nl)
	if err != nil {
		return nil, err
	}
	return &pendingLease{target: target, old: old, raw: raw, fence: fence}, nil
}
