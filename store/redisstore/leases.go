package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// readLease decodes a stored lease; the zero lease when raw is "".
func readLease(raw string) (record.Lease, error) {
	var l record.Lease
	if raw == "" {
		return l, nil
	}
	return l, decode(raw, &l)
}

// AcquireLease takes or renews the lease on target for holder, judging
// expiry with the store's clock (see the package doc on clocks).
func (s *Store) AcquireLease(ctx context.Context, target, holder string, ttl time.Duration) (store.Fence, error) {
	if err := record.ValidateLeaseArgs(target, holder, ttl); err != nil {
		return store.Fence{}, err
	}
	var f store.Fence
	err := s.updateRaw(ctx, s.tkey(target, "lease"), func(oldRaw string) (string, []op, error) {
		l, err := readLease(oldRaw)
		if err != nil {
			return "", nil, err
		}
		nl, fence, err := l.Acquire(target, holder, s.clock.Now(), ttl)
		if err != nil {
			return "", nil, err
		}
		raw, err := encode(nl)
		f = fence
		return raw, nil, err
	})
	if err != nil {
		return store.Fence{}, fmt.Errorf("acquire lease: %w", err)
	}
	return f, nil
}

// errNoChange ends an update loop that has nothing to write.
var errNoChange = fmt.Errorf("no change")

// ReleaseLease gives the lease up if holder still has it; the token is
// kept so the next holder still gets a larger one.
func (s *Store) ReleaseLease(ctx context.Context, target, holder string) error {
	err := s.updateRaw(ctx, s.tkey(target, "lease"), func(oldRaw string) (string, []op, error) {
		l, err := readLease(oldRaw)
		if err != nil {
			return "", nil, err
		}
		if oldRaw == "" || l.Holder != holder {
			return "", nil, errNoChange
		}
		l.Holder, l.ExpiresAt = "", time.Time{}
		raw, err := encode(l)
		return raw, nil, err
	})
	if err != nil && err != errNoChange {
		return fmt.Errorf("release lease on %s: %w", target, err)
	}
	return nil
}

// CheckFence returns ErrFenced unless fence is the current, unexpired lease.
func (s *Store) CheckFence(ctx context.Context, fence store.Fence) error {
	_, err := s.currentLease(ctx, fence)
	return err
}

// currentLease returns the raw lease if fence is current, else ErrFenced.
func (s *Store) currentLease(ctx context.Context, fence store.Fence) (string, error) {
	raw, err := s.getRaw(ctx, s.tkey(fence.Target, "lease"))
	if err != nil && err != store.ErrNotFound {
		return "", fmt.Errorf("check fence: %w", err)
	}
	l, err := readLease(raw)
	if err != nil {
		return "", err
	}
	if err := l.Check(fence, s.clock.Now()); err != nil {
		return "", err
	}
	return raw, nil
}
