package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/store"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "canaryd:"

// DefaultEventRetention is how many events are kept per list by default.
const DefaultEventRetention = 10000

// Options configures New.
type Options struct {
	// Client is the Redis connection (single, Sentinel failover or
	// Cluster); required. Close does not close it: the caller owns it.
	Client redis.UniversalClient
	// Prefix starts every key; DefaultPrefix when empty.
	Prefix string
	// Clock judges lease expiry; the real clock when nil.
	Clock clockwork.Clock
	// EventRetention bounds each event list; DefaultEventRetention when 0.
	EventRetention int
	// DirCacheSize bounds the in-process cache of which target each
	// watch, incident and plan id belongs to: at most twice this many
	// recently used ids are kept (DefaultDirCacheSize when 0).
	DirCacheSize int
}

// Store is a store.Store over Redis.
type Store struct {
	c         redis.UniversalClient
	prefix    string
	clock     clockwork.Clock
	retention int64
	dirs      *dirCache // dir key + "\x00" + id → target; entries never change once written
}

var _ store.Store = (*Store)(nil)

// New returns a Store using o.Client. It does not contact Redis.
func New(o Options) (*Store, error) {
	if o.Client == nil {
		return nil, errors.New("redisstore: Options.Client is required")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.EventRetention <= 0 {
		o.EventRetention = DefaultEventRetention
	}
	if o.DirCacheSize <= 0 {
		o.DirCacheSize = DefaultDirCacheSize
	}
	return &Store{c: o.Client, prefix: o.Prefix, clock: o.Clock, retention: int64(o.EventRetention),
		dirs: newDirCache(o.DirCacheSize)}, nil
}

// Close does nothing: the client belongs to the caller.
// Shared is true: replicas share the store and own targets through leases.
func (s *Store) Shared() bool { return true }

func (s *Store) Close() error { return nil }

// tkey is a key of target's slot.
func (s *Store) tkey(target, suffix string) string {
	return "{" + s.prefix + "target:" + target + "}:" + suffix
}

// gkey is a global key.
func (s *Store) gkey(name string) string { return s.prefix + name }

// getRaw returns the value at key; ErrNotFound if absent.
func (s *Store) getRaw(ctx context.Context, key string) (string, error) {
	v, err := s.c.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", store.ErrNotFound
	}
	return v, err
}

// decode unmarshals a stored record.
func decode(raw string, v any) error {
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("decode stored record: %w", err)
	}
	return nil
}

// encode marshals a record for storage.
func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode record: %w", err)
	}
	return string(b), nil
}

// register records id → target in the directory dir before the record is
// written. It fails with ErrExists if id already belongs to another target.
// It writes the entry every time, even one this process registered before:
// a store that came back empty (Redis restarted without its data) lost the
// directory, and a record written again there (an incident re-recorded, a
// plan's journal going on) must be found by its ID from other replicas too,
// whose caches do not know it. Creating records and appending to journals
// is rare (deploys, rollbacks); reading them is what the cache is for.
func (s *Store) register(ctx context.Context, dir, id, target string) error {
	pipe := s.c.Pipeline()
	pipe.SAdd(ctx, s.gkey("targets"), target)
	pipe.HSetNX(ctx, s.gkey(dir), id, target)
	owner := pipe.HGet(ctx, s.gkey(dir), id)
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	if owner.Val() != target {
		return fmt.Errorf("id already used by target %s: %w", owner.Val(), store.ErrExists)
	}
	s.dirs.put(dir+"\x00"+id, target)
	return nil
}

// lookup returns the target id belongs to in dir; ErrNotFound if none.
func (s *Store) lookup(ctx context.Context, dir, id string) (string, error) {
	if t, ok := s.dirs.get(dir + "\x00" + id); ok {
		return t, nil
	}
	t, err := s.c.HGet(ctx, s.gkey(dir), id).Result()
	if errors.Is(err, redis.Nil) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	s.dirs.put(dir+"\x00"+id, t)
	return t, nil
}
