package redisstore

import (
	"context"
	"fmt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

// AppendEvent pushes e to its target's list and the global list, each
// trimmed to the retention bound.
func (s *Store) AppendEvent(ctx context.Context, e store.Event) error {
	raw, err := encode(e)
	if err != nil {
		return err
	}
	pipe := s.c.Pipeline()
	for _, key := range []string{s.tkey(e.Target, "events"), s.gkey("events")} {
		pipe.RPush(ctx, key, raw)
		pipe.LTrim(ctx, key, -s.retention, -1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("append event %s: %w", e.Type, err)
	}
	return nil
}

// Events returns history entries oldest first (append order), filtered;
// with a Limit, the newest Limit matching entries.
func (s *Store) Events(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	key := s.gkey("events")
	if f.Target != "" {
		key = s.tkey(f.Target, "events")
	}
	start := int64(0)
	if f.Limit > 0 && f.WatchID == "" && f.IncidentID == "" && f.Since.IsZero() {
		start = -int64(f.Limit) // only the target (or nothing) filters: read just the tail
	}
	raws, err := s.c.LRange(ctx, key, start, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var out []store.Event
	for i := len(raws) - 1; i >= 0 && (f.Limit <= 0 || len(out) < f.Limit); i-- {
		var e store.Event
		if err := decode(raws[i], &e); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		if record.MatchEvent(f, e) {
			out = append(out, e)
		}
	}
	record.Reverse(out)
	return out, nil
}
