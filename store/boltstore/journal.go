package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// AppendJournal records one step transition. With a non-zero fence the
// lease check and the append are one transaction: a stale fence writes
// nothing and returns ErrFenced.
func (s *Store) AppendJournal(ctx context.Context, e store.JournalEntry, fence store.Fence) error {
	if e.PlanID == "" {
		return fmt.Errorf("append journal: %w", record.ErrNoID)
	}
	if err := record.FenceMatchesEntry(e, fence); err != nil {
		return fmt.Errorf("append journal %s: %w", e.PlanID, err)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if fence.Token != 0 {
			if err := checkFence(tx, fence, s.clock.Now()); err != nil {
				return err
			}
		}
		b, err := nested(tx, bJournal, e.PlanID)
		if err != nil {
			return err
		}
		if err := samePlanTarget(b, e); err != nil {
			return err
		}
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		return put(b, seqKey(n), e)
	})
	if err != nil {
		return fmt.Errorf("append journal %s step %d: %w", e.PlanID, e.Step, err)
	}
	return nil
}

// Journal returns a plan's entries in append order (empty if none).
func (s *Store) Journal(ctx context.Context, planID string) ([]store.JournalEntry, error) {
	var out []store.JournalEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := nestedRO(tx, bJournal, planID)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			var e store.JournalEntry
			if err := get(b, k, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", planID, err)
	}
	return out, nil
}

// samePlanTarget rejects an entry for another target than the plan's first
// entry: a plan belongs to one target (and, in Redis, to its slot).
func samePlanTarget(b *bolt.Bucket, e store.JournalEntry) error {
	k, _ := b.Cursor().First()
	if k == nil {
		return nil
	}
	var first store.JournalEntry
	if err := get(b, k, &first); err != nil {
		return err
	}
	if first.Target != e.Target {
		return fmt.Errorf("plan belongs to target %s: %w", first.Target, store.ErrExists)
	}
	return nil
}
