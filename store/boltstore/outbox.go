package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// PutOutbox writes entries in one transaction.
func (s *Store) PutOutbox(ctx context.Context, entries []store.OutboxEntry) error {
	for _, e := range entries {
		if e.ID == "" || e.Notifier == "" {
			return fmt.Errorf("put outbox: %w", record.ErrNoID)
		}
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		for _, e := range entries {
			if err := put(b, []byte(record.OutboxKey(e.ID, e.Notifier)), e); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteOutbox removes one entry; ErrNotFound if absent.
func (s *Store) DeleteOutbox(ctx context.Context, id, notifier string) error {
	k := []byte(record.OutboxKey(id, notifier))
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		if b.Get(k) == nil {
			return store.ErrNotFound
		}
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("delete outbox %s for %s: %w", id, notifier, err)
	}
	return nil
}

// ListOutbox returns every entry, oldest first.
func (s *Store) ListOutbox(ctx context.Context) ([]store.OutboxEntry, error) {
	var out []store.OutboxEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		return b.ForEach(func(k, _ []byte) error {
			var e store.OutboxEntry
			if err := get(b, k, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	record.SortOutbox(out)
	return out, nil
}

var markerKey = []byte("marker")

// Marker returns the file's marker, writing one into an empty file.
func (s *Store) Marker(ctx context.Context) (store.Marker, bool, error) {
	var m store.Marker
	created := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bMeta)
		if b.Get(markerKey) != nil {
			return get(b, markerKey, &m)
		}
		m, created = record.NewMarker(s.clock.Now()), true
		return put(b, markerKey, m)
	})
	if err != nil {
		return store.Marker{}, false, fmt.Errorf("store marker: %w", err)
	}
	return m, created, nil
}
