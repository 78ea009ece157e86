package redisstore

import (
	"context"
	"fmt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

const watchDir = "dir:watch"

// watchIndexOps are the index operations that add (or remove) w.
func (s *Store) watchIndexOps(w store.Watch, add bool) []op {
	m := record.SortKeyHex(w.DetectedAt, w.ID)
	all, active := s.tkey(w.Target, "watches"), s.tkey(w.Target, "watches:active")
	if !add {
		return []op{{"zrem", all, m}, {"zrem", active, m}}
	}
	ops := []op{{"zadd", all, m}}
	if !w.Phase.Final() {
		ops = append(ops, op{"zadd", active, m})
	}
	return ops
}

// CreateWatch stores a new watch; ErrExists if the ID is taken.
func (s *Store) CreateWatch(ctx context.Context, w store.Watch) error {
	if w.ID == "" {
		return fmt.Errorf("create watch: %w", record.ErrNoID)
	}
	raw, err := encode(w)
	if err != nil {
		return err
	}
	if err := s.register(ctx, watchDir, w.ID, w.Target); err != nil {
		return fmt.Errorf("create watch %s: %w", w.ID, err)
	}
	ok, err := s.cas(ctx, s.tkey(w.Target, "watch:"+w.ID), "", raw, s.watchIndexOps(w, true)...)
	if err == nil && !ok {
		err = store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("create watch %s: %w", w.ID, err)
	}
	return nil
}

// GetWatch returns one watch; ErrNotFound if absent.
func (s *Store) GetWatch(ctx context.Context, id string) (store.Watch, error) {
	var w store.Watch
	target, err := s.lookup(ctx, watchDir, id)
	if err == nil {
		var raw string
		if raw, err = s.getRaw(ctx, s.tkey(target, "watch:"+id)); err == nil {
			err = decode(raw, &w)
		}
	}
	if err != nil {
		return store.Watch{}, fmt.Errorf("get watch %s: %w", id, err)
	}
	return w, nil
}

// UpdateWatch reads the watch, applies fn and writes it back with a
// compare-and-set, retrying if another writer got in first; fn may run
// more than once.
func (s *Store) UpdateWatch(ctx context.Context, id string, fn func(*store.Watch) error) (store.Watch, error) {
	target, err := s.lookup(ctx, watchDir, id)
	if err != nil {
		return store.Watch{}, fmt.Errorf("update watch %s: %w", id, err)
	}
	var out store.Watch
	var fnErr error
	err = s.updateRaw(ctx, s.tkey(target, "watch:"+id), func(oldRaw string) (string, []op, error) {
		if oldRaw == "" {
			return "", nil, store.ErrNotFound
		}
		var old, w store.Watch
		if err := decode(oldRaw, &old); err != nil {
			return "", nil, err
		}
		_ = decode(oldRaw, &w) // a separate copy: fn must not alias old's maps
		if fnErr = fn(&w); fnErr != nil {
			return "", nil, fnErr
		}
		if w.ID != old.ID || w.Target != old.Target {
			return "", nil, record.ErrImmutable
		}
		w.Revision = old.Revision + 1
		raw, err := encode(w)
		if err != nil {
			return "", nil, err
		}
		out = w
		return raw, append(s.watchIndexOps(old, false), s.watchIndexOps(w, true)...), nil
	})
	if fnErr != nil {
		return store.Watch{}, fnErr
	}
	if err != nil {
		return store.Watch{}, fmt.Errorf("update watch %s: %w", id, err)
	}
	return out, nil
}

// ListWatches returns watches newest first (by DetectedAt, then ID),
// merging the per-target indexes when no target is given.
func (s *Store) ListWatches(ctx context.Context, f store.WatchFilter) ([]store.Watch, error) {
	idx := "watches"
	if f.ActiveOnly {
		idx = "watches:active"
	}
	var out []store.Watch
	err := s.listIndexed(ctx, f.Target, idx, "watch:", f.Limit, func(raw string) error {
		var w store.Watch
		if err := decode(raw, &w); err != nil {
			return err
		}
		if !f.ActiveOnly || !w.Phase.Final() {
			out = append(out, w)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list watches: %w", err)
	}
	return out, nil
}
