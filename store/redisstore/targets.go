package redisstore

import (
	"context"
	"fmt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// GetTarget returns what is known about a target; ErrNotFound if nothing.
func (s *Store) GetTarget(ctx context.Context, name string) (store.TargetState, error) {
	var t store.TargetState
	raw, err := s.getRaw(ctx, s.tkey(name, "state"))
	if err == nil {
		err = decode(raw, &t)
	}
	if err != nil {
		return store.TargetState{}, fmt.Errorf("get target %s: %w", name, err)
	}
	return t, nil
}

// PutTarget replaces a target's state.
func (s *Store) PutTarget(ctx context.Context, t store.TargetState) error {
	if t.Name == "" {
		return fmt.Errorf("put target: %w", record.ErrNoID)
	}
	raw, err := encode(t)
	if err != nil {
		return err
	}
	pipe := s.c.Pipeline()
	pipe.SAdd(ctx, s.gkey("targets"), t.Name)
	pipe.Set(ctx, s.tkey(t.Name, "state"), raw, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("put target %s: %w", t.Name, err)
	}
	return nil
}
