package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

const planDir = "dir:plan"

// AppendJournal records one step transition. With a non-zero fence the
// entry is pushed by a script that first checks the lease key still holds
// exactly the lease that was found current, so the check and the append
// are atomic; a stale fence writes nothing and returns ErrFenced.
func (s *Store) AppendJournal(ctx context.Context, e store.JournalEntry, fence store.Fence) error {
	if e.PlanID == "" {
		return fmt.Errorf("append journal: %w", record.ErrNoID)
	}
	if err := record.FenceMatchesEntry(e, fence); err != nil {
		return fmt.Errorf("append journal %s: %w", e.PlanID, err)
	}
	raw, err := encode(e)
	if err != nil {
		return err
	}
	if err := s.register(ctx, planDir, e.PlanID, e.Target); err != nil {
		return fmt.Errorf("append journal %s: %w", e.PlanID, err)
	}
	list := s.tkey(e.Target, "journal:"+e.PlanID)
	if fence.Token == 0 {
		err = s.c.RPush(ctx, list, raw).Err()
	} else {
		err = s.fencedPush(ctx, fence, list, raw)
	}
	if err != nil {
		return fmt.Errorf("append journal %s step %d: %w", e.PlanID, e.Step, err)
	}
	return nil
}

// fencedPush pushes raw onto list if fence is current at the moment of the
// push, retrying when the lease changed in between (e.g. renewed).
func (s *Store) fencedPush(ctx context.Context, fence store.Fence, list, raw string) error {
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		lease, err := s.currentLease(ctx, fence)
		if err != nil {
			return err
		}
		ok, err := s.cas(ctx, s.tkey(fence.Target, "lease"), lease, "", op{"rpush", list, raw})
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("lease kept changing: %w", store.ErrConflict)
}

// Journal returns a plan's entries in append order (none for an unknown
// plan).
func (s *Store) Journal(ctx context.Context, planID string) ([]store.JournalEntry, error) {
	target, err := s.lookup(ctx, planDir, planID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", planID, err)
	}
	raws, err := s.c.LRange(ctx, s.tkey(target, "journal:"+planID), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", planID, err)
	}
	out := make([]store.JournalEntry, len(raws))
	for i, raw := range raws {
		if err := decode(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("read journal %s entry %d: %w", planID, i, err)
		}
	}
	return out, nil
}
