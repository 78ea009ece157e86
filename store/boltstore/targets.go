package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// GetTarget returns what is known about a target; ErrNotFound if nothing.
func (s *Store) GetTarget(ctx context.Context, name string) (store.TargetState, error) {
	var t store.TargetState
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return get(tx.Bucket(bTargets), []byte(name), &t)
	})
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
	return s.update(ctx, func(tx *bolt.Tx) error {
		return put(tx.Bucket(bTargets), []byte(t.Name), t)
	})
}
