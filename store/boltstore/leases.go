package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// AcquireLease takes or renews the lease on target for holder, judging
// expiry with the store's clock. See record.Lease.Acquire for the rules.
func (s *Store) AcquireLease(ctx context.Context, target, holder string, ttl time.Duration) (store.Fence, error) {
	if err := record.ValidateLeaseArgs(target, holder, ttl); err != nil {
		return store.Fence{}, err
	}
	var f store.Fence
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bLeases)
		var l record.Lease
		if err := get(b, []byte(target), &l); err != nil && err != store.ErrNotFound {
			return err
		}
		nl, fence, err := l.Acquire(target, holder, s.clock.Now(), ttl)
		if err != nil {
			return err
		}
		f = fence
		return put(b, []byte(target), nl)
	})
	if err != nil {
		return store.Fence{}, fmt.Errorf("acquire lease: %w", err)
	}
	return f, nil
}

// ReleaseLease gives the lease up if holder still has it; the token
// counter is kept so the next holder still gets a larger token.
func (s *Store) ReleaseLease(ctx context.Context, target, holder string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bLeases)
		var l record.Lease
		if err := get(b, []byte(target), &l); err != nil {
			if err == store.ErrNotFound {
				return nil
			}
			return err
		}
		if l.Holder != holder {
			return nil
		}
		l.Holder, l.ExpiresAt = "", time.Time{}
		return put(b, []byte(target), l)
	})
	if err != nil {
		return fmt.Errorf("release lease on %s: %w", target, err)
	}
	return nil
}

// CheckFence returns ErrFenced unless fence is the current, unexpired lease.
func (s *Store) CheckFence(ctx context.Context, fence store.Fence) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		return checkFence(tx, fence, s.clock.Now())
	})
}

// checkFence is CheckFence inside a transaction.
func checkFence(tx *bolt.Tx, fence store.Fence, now time.Time) error {
	var l record.Lease
	if err := get(tx.Bucket(bLeases), []byte(fence.Target), &l); err != nil && err != store.ErrNotFound {
		return err
	}
	return l.Check(fence, now)
}
