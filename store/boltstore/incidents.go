package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// CreateIncident stores a new incident; ErrExists if the ID is taken. The
// existence check and the write are one transaction, so of two concurrent
// creators exactly one succeeds.
func (s *Store) CreateIncident(ctx context.Context, in store.Incident) error {
	if in.ID == "" {
		return fmt.Errorf("create incident: %w", record.ErrNoID)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bIncidents)
		if b.Get([]byte(in.ID)) != nil {
			return store.ErrExists
		}
		if err := put(b, []byte(in.ID), in); err != nil {
			return err
		}
		return indexIncident(tx, in, true)
	})
	if err != nil {
		return fmt.Errorf("create incident %s: %w", in.ID, err)
	}
	return nil
}

// GetIncident returns one incident; ErrNotFound if absent.
func (s *Store) GetIncident(ctx context.Context, id string) (store.Incident, error) {
	var in store.Incident
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return get(tx.Bucket(bIncidents), []byte(id), &in)
	})
	if err != nil {
		return store.Incident{}, fmt.Errorf("get incident %s: %w", id, err)
	}
	return in, nil
}

// UpdateIncident applies fn to the incident inside one write transaction
// and bumps Revision. If fn fails nothing is written and its error is
// returned. fn must not call the store.
func (s *Store) UpdateIncident(ctx context.Context, id string, fn func(*store.Incident) error) (store.Incident, error) {
	var out store.Incident
	var fnErr error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bIncidents)
		var old store.Incident
		if err := get(b, []byte(id), &old); err != nil {
			return err
		}
		in := old
		if fnErr = fn(&in); fnErr != nil {
			return fnErr
		}
		if in.ID != old.ID || in.Target != old.Target {
			return record.ErrImmutable
		}
		in.Revision = old.Revision + 1
		if err := indexIncident(tx, old, false); err != nil {
			return err
		}
		if err := put(b, []byte(id), in); err != nil {
			return err
		}
		out = in
		return indexIncident(tx, in, true)
	})
	if fnErr != nil {
		return store.Incident{}, fnErr
	}
	if err != nil {
		return store.Incident{}, fmt.Errorf("update incident %s: %w", id, err)
	}
	return out, nil
}

// ListIncidents returns incidents newest first (by OpenedAt, then ID);
// target "" means all, limit <= 0 means no limit.
func (s *Store) ListIncidents(ctx context.Context, target string, limit int) ([]store.Incident, error) {
	var out []store.Incident
	err := s.view(ctx, func(tx *bolt.Tx) error {
		idx := tx.Bucket(bIncidentTime)
		if target != "" {
			if idx = nestedRO(tx, bIncidentTarget, target); idx == nil {
				return nil
			}
		}
		b := tx.Bucket(bIncidents)
		c := idx.Cursor()
		for k, _ := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Prev() {
			var in store.Incident
			if err := get(b, k[record.TimeKeyLen:], &in); err != nil {
				return fmt.Errorf("index entry %x: %w", k, err)
			}
			out = append(out, in)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

// indexIncident adds (or removes) in's entries in the incident indexes.
func indexIncident(tx *bolt.Tx, in store.Incident, add bool) error {
	key := record.SortKey(in.OpenedAt, in.ID)
	tb, err := nested(tx, bIncidentTarget, in.Target)
	if err != nil {
		return err
	}
	for _, b := range []*bolt.Bucket{tx.Bucket(bIncidentTime), tb} {
		if add {
			err = b.Put(key, []byte{})
		} else {
			err = b.Delete(key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
