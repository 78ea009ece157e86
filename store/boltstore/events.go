package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// AppendEvent adds to the history, in append order.
func (s *Store) AppendEvent(ctx context.Context, e store.Event) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvents)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := put(b, seqKey(n), e); err != nil {
			return err
		}
		tb, err := nested(tx, bEventTarget, e.Target)
		if err != nil {
			return err
		}
		if err := tb.Put(seqKey(n), []byte{}); err != nil {
			return err
		}
		return s.prune(b, tb)
	})
	if err != nil {
		return fmt.Errorf("append event %s: %w", e.Type, err)
	}
	return nil
}

// Events returns history entries oldest first (append order), filtered;
// with a Limit, the newest Limit matching entries.
func (s *Store) Events(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	var out []store.Event
	err := s.view(ctx, func(tx *bolt.Tx) error {
		idx := tx.Bucket(bEvents)
		if f.Target != "" {
			if idx = nestedRO(tx, bEventTarget, f.Target); idx == nil {
				return nil
			}
		}
		b := tx.Bucket(bEvents)
		c := idx.Cursor()
		for k, _ := c.Last(); k != nil && (f.Limit <= 0 || len(out) < f.Limit); k, _ = c.Prev() {
			var e store.Event
			if err := get(b, k, &e); err != nil {
				return fmt.Errorf("event %x: %w", k, err)
			}
			if record.MatchEvent(f, e) {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	record.Reverse(out)
	return out, nil
}

// prune counts the event just added to the target's index tb and deletes
// the target's oldest events beyond the retention bound.
func (s *Store) prune(events, tb *bolt.Bucket) error {
	count := tb.Sequence() + 1
	c := tb.Cursor()
	for k, _ := c.First(); k != nil && count > s.retention; k, _ = c.First() {
		if err := events.Delete(k); err != nil {
			return err
		}
		if err := c.Delete(); err != nil {
			return err
		}
		count--
	}
	return tb.SetSequence(count)
}
