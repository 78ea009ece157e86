package boltstore

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// CreateWatch stores a new watch; ErrExists if the ID is taken.
func (s *Store) CreateWatch(ctx context.Context, w store.Watch) error {
	if w.ID == "" {
		return fmt.Errorf("create watch: %w", record.ErrNoID)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bWatches)
		if b.Get([]byte(w.ID)) != nil {
			return store.ErrExists
		}
		if err := put(b, []byte(w.ID), w); err != nil {
			return err
		}
		return indexWatch(tx, w, true)
	})
	if err != nil {
		return fmt.Errorf("create watch %s: %w", w.ID, err)
	}
	return nil
}

// GetWatch returns one watch; ErrNotFound if absent.
func (s *Store) GetWatch(ctx context.Context, id string) (store.Watch, error) {
	var w store.Watch
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return get(tx.Bucket(bWatches), []byte(id), &w)
	})
	if err != nil {
		return store.Watch{}, fmt.Errorf("get watch %s: %w", id, err)
	}
	return w, nil
}

// UpdateWatch applies fn to the watch inside one write transaction, so
// updates are serialised by bbolt's single writer. fn must not call the
// store (it would deadlock).
func (s *Store) UpdateWatch(ctx context.Context, id string, fn func(*store.Watch) error) (store.Watch, error) {
	var out store.Watch
	var fnErr error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bWatches)
		var old store.Watch
		if err := get(b, []byte(id), &old); err != nil {
			return err
		}
		w := old
		w.Weights = cloneWeights(old.Weights)
		w.LastVerdict = append(json.RawMessage(nil), old.LastVerdict...)
		if fnErr = fn(&w); fnErr != nil {
			return fnErr
		}
		if w.ID != old.ID || w.Target != old.Target {
			return record.ErrImmutable
		}
		w.Revision = old.Revision + 1
		if err := indexWatch(tx, old, false); err != nil {
			return err
		}
		if err := put(b, []byte(id), w); err != nil {
			return err
		}
		out = w
		return indexWatch(tx, w, true)
	})
	if fnErr != nil {
		return store.Watch{}, fnErr
	}
	if err != nil {
		return store.Watch{}, fmt.Errorf("update watch %s: %w", id, err)
	}
	return out, nil
}

// ListWatches returns watches newest first (by DetectedAt, then ID).
func (s *Store) ListWatches(ctx context.Context, f store.WatchFilter) ([]store.Watch, error) {
	var out []store.Watch
	err := s.view(ctx, func(tx *bolt.Tx) error {
		idx := tx.Bucket(bWatchActive)
		if !f.ActiveOnly {
			idx = tx.Bucket(bWatchTime)
		}
		if f.Target != "" {
			idx = nestedRO(tx, bWatchTarget, f.Target)
			if idx == nil {
				return nil
			}
		}
		b := tx.Bucket(bWatches)
		c := idx.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
			var w store.Watch
			if err := get(b, k[record.TimeKeyLen:], &w); err != nil {
				return fmt.Errorf("index entry %x: %w", k, err)
			}
			if f.ActiveOnly && w.Phase.Final() {
				continue
			}
			out = append(out, w)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list watches: %w", err)
	}
	return out, nil
}

// indexWatch adds (or removes) w's entries in the watch indexes.
func indexWatch(tx *bolt.Tx, w store.Watch, add bool) error {
	key := record.SortKey(w.DetectedAt, w.ID)
	tb, err := nested(tx, bWatchTarget, w.Target)
	if err != nil {
		return err
	}
	if !add {
		for _, b := range []*bolt.Bucket{tx.Bucket(bWatchTime), tx.Bucket(bWatchActive), tb} {
			if err := b.Delete(key); err != nil {
				return err
			}
		}
		return nil
	}
	if err := tx.Bucket(bWatchTime).Put(key, []byte{}); err != nil {
		return err
	}
	if err := tb.Put(key, []byte{}); err != nil {
		return err
	}
	if !w.Phase.Final() {
		return tx.Bucket(bWatchActive).Put(key, []byte{})
	}
	return nil
}

// cloneWeights copies m so fn's changes never alias the decoded original.
func cloneWeights(m map[string]float64) map[string]float64 {
	if m == nil {
		return nil
	}
	c := make(map[string]float64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
