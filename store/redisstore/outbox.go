package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// PutOutbox writes entries with one HSET (atomic).
func (s *Store) PutOutbox(ctx context.Context, entries []store.OutboxEntry) error {
	if len(entries) == 0 {
		return nil
	}
	fields := make([]any, 0, 2*len(entries))
	for _, e := range entries {
		if e.ID == "" || e.Notifier == "" {
			return fmt.Errorf("put outbox: %w", record.ErrNoID)
		}
		raw, err := encode(e)
		if err != nil {
			return err
		}
		fields = append(fields, record.OutboxKey(e.ID, e.Notifier), raw)
	}
	if err := s.c.HSet(ctx, s.gkey("outbox"), fields...).Err(); err != nil {
		return fmt.Errorf("put outbox: %w", err)
	}
	return nil
}

// DeleteOutbox removes one entry; ErrNotFound if absent.
func (s *Store) DeleteOutbox(ctx context.Context, id, notifier string) error {
	n, err := s.c.HDel(ctx, s.gkey("outbox"), record.OutboxKey(id, notifier)).Result()
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete outbox %s for %s: %w", id, notifier, err)
	}
	return nil
}

// ListOutbox returns every entry, oldest first.
func (s *Store) ListOutbox(ctx context.Context) ([]store.OutboxEntry, error) {
	m, err := s.c.HGetAll(ctx, s.gkey("outbox")).Result()
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	out := make([]store.OutboxEntry, 0, len(m))
	for k, raw := range m {
		var e store.OutboxEntry
		if err := decode(raw, &e); err != nil {
			return nil, fmt.Errorf("outbox %s: %w", strings.ReplaceAll(k, "\x00", "/"), err)
		}
		out = append(out, e)
	}
	record.SortOutbox(out)
	return out, nil
}

// Marker returns the store's marker, writing one (SET NX) into a store
// that has none: after a restart without persistence, or a FLUSHALL, the
// marker is new.
func (s *Store) Marker(ctx context.Context) (store.Marker, bool, error) {
	fresh := record.NewMarker(s.clock.Now())
	raw, err := encode(fresh)
	if err != nil {
		return store.Marker{}, false, err
	}
	set, err := s.c.SetNX(ctx, s.gkey("marker"), raw, 0).Result()
	if err != nil {
		return store.Marker{}, false, fmt.Errorf("store marker: %w", err)
	}
	if set {
		return fresh, true, nil
	}
	cur, err := s.c.Get(ctx, s.gkey("marker")).Result()
	if errors.Is(err, redis.Nil) { // deleted between the two calls: try once more
		return s.Marker(ctx)
	}
	if err != nil {
		return store.Marker{}, false, fmt.Errorf("store marker: %w", err)
	}
	var m store.Marker
	if err := decode(cur, &m); err != nil {
		return store.Marker{}, false, fmt.Errorf("store marker: %w", err)
	}
	return m, false, nil
}
