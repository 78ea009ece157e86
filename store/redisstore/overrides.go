package redisstore

import (
	"context"
	"fmt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// PutOverride creates or replaces an override (by ID).
func (s *Store) PutOverride(ctx context.Context, o store.Override) error {
	if o.ID == "" {
		return fmt.Errorf("put override: %w", record.ErrNoID)
	}
	raw, err := encode(o)
	if err != nil {
		return err
	}
	if err := s.c.HSet(ctx, s.gkey("overrides"), o.ID, raw).Err(); err != nil {
		return fmt.Errorf("put override %s: %w", o.ID, err)
	}
	return nil
}

// DeleteOverride removes one; ErrNotFound if absent.
func (s *Store) DeleteOverride(ctx context.Context, id string) error {
	n, err := s.c.HDel(ctx, s.gkey("overrides"), id).Result()
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete override %s: %w", id, err)
	}
	return nil
}

// ListOverrides returns all stored overrides, expired ones included,
// ordered by CreatedAt then ID.
func (s *Store) ListOverrides(ctx context.Context) ([]store.Override, error) {
	m, err := s.c.HGetAll(ctx, s.gkey("overrides")).Result()
	if err != nil {
		return nil, fmt.Errorf("list overrides: %w", err)
	}
	out := make([]store.Override, 0, len(m))
	for id, raw := range m {
		var o store.Override
		if err := decode(raw, &o); err != nil {
			return nil, fmt.Errorf("override %s: %w", id, err)
		}
		out = append(out, o)
	}
	record.SortOverrides(out)
	return out, nil
}
