package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// PutOverride creates or replaces an override (by ID).
func (s *Store) PutOverride(ctx context.Context, o store.Override) error {
	if o.ID == "" {
		return fmt.Errorf("put override: %w", record.ErrNoID)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		return put(tx.Bucket(bOverrides), []byte(o.ID), o)
	})
}

// DeleteOverride removes one; ErrNotFound if absent.
func (s *Store) DeleteOverride(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bOverrides)
		if b.Get([]byte(id)) == nil {
			return store.ErrNotFound
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete override %s: %w", id, err)
	}
	return nil
}

// ListOverrides returns all stored overrides, expired ones included,
// ordered by CreatedAt then ID.
func (s *Store) ListOverrides(ctx context.Context) ([]store.Override, error) {
	var out []store.Override
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bOverrides)
		return b.ForEach(func(k, _ []byte) error {
			var o store.Override
			if err := get(b, k, &o); err != nil {
				return err
			}
			out = append(out, o)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list overrides: %w", err)
	}
	record.SortOverrides(out)
	return out, nil
}
