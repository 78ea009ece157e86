package actuator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisBatch is the SCAN COUNT / UNLINK batch when none is configured.
const DefaultRedisBatch = 500

// redisDetail is the journal detail of a redis step.
type redisDetail struct {
	Patterns    []string `json:"patterns,omitempty"`
	FlushDB     bool     `json:"flush_db,omitempty"`
	Cluster     bool     `json:"cluster,omitempty"`
	KeysRemoved int64    `json:"keys_removed"`
	Attempts    int      `json:"attempts,omitempty"`
}

// runRedis deletes the keys matching the configured patterns with SCAN
// MATCH + UNLINK in batches — never KEYS, never FLUSHALL; FLUSHDB only when
// flush_db is set. On Redis Cluster every master is scanned. The step is
// idempotent: a re-run finds fewer (or no) keys.
func (a *Actuator) runRedis(ctx context.Context, s Step) stepOutcome {
	act := s.Redis
	d := &redisDetail{Patterns: act.Patterns, FlushDB: act.FlushDB}
	cl, err := a.cfg.Redis(act.Conn)
	if err != nil {
		return failed(d, fmt.Errorf("redis %s: connect: %w", act.Name, err))
	}
	defer cl.Close()
	_, d.Cluster = cl.(*redis.ClusterClient)
	batch := act.BatchSize
	if batch <= 0 {
		batch = DefaultRedisBatch
	}
	var removed atomic.Int64
	d.Attempts, err = a.withRetry(ctx, func(int) error {
		return classifyRedis(forEachNode(ctx, cl, func(ctx context.Context, node redis.Cmdable) error {
			if act.FlushDB {
				return flushDB(ctx, node, &removed)
			}
			for _, pat := range act.Patterns {
				if err := scanUnlink(ctx, node, pat, batch, d.Cluster, &removed); err != nil {
					return err
				}
			}
			return nil
		}))
	})
	d.KeysRemoved = removed.Load()
	if err != nil {
		return failed(d, fmt.Errorf("redis %s: %w", act.Name, err))
	}
	return done(d)
}

// forEachNode runs fn on every master of a cluster, or on the client itself.
func forEachNode(ctx context.Context, cl redis.UniversalClient, fn func(context.Context, redis.Cmdable) error) error {
	if cc, ok := cl.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return fn(ctx, node) })
	}
	return fn(ctx, cl)
}

// scanUnlink removes the keys matching pattern on one node, a SCAN page at a
// time. In cluster mode keys of one page may live in different hash slots,
// so each is unlinked on its own (pipelined).
func scanUnlink(ctx context.Context, node redis.Cmdable, pattern string, batch int, cluster bool, removed *atomic.Int64) error {
	var cursor uint64
	for {
		keys, next, err := node.Scan(ctx, cursor, pattern, int64(batch)).Result()
		if err != nil {
			return fmt.Errorf("scan %q: %w", pattern, err)
		}
		if len(keys) > 0 {
			n, err := unlink(ctx, node, keys, cluster)
			removed.Add(n)
			if err != nil {
				return fmt.Errorf("unlink %d keys matching %q: %w", len(keys), pattern, err)
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func unlink(ctx context.Context, node redis.Cmdable, keys []string, cluster bool) (int64, error) {
	if !cluster {
		return node.Unlink(ctx, keys...).Result()
	}
	cmds := make([]*redis.IntCmd, len(keys))
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Unlink(ctx, k)
		}
		return nil
	})
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, err
}

// flushDB empties the selected database of one node, counting its keys.
func flushDB(ctx context.Context, node redis.Cmdable, removed *atomic.Int64) error {
	n, err := node.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("dbsize: %w", err)
	}
	if err := node.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("flushdb: %w", err)
	}
	removed.Add(n)
	return nil
}

// classifyRedis marks connection trouble transient and server replies
// (auth, wrong type, CROSSSLOT, ...) permanent.
func classifyRedis(err error) error {
	if err == nil {
		return nil
	}
	var re redis.Error
	if errors.As(err, &re) && !isTransientReply(err) {
		return permanent(err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, redis.ErrClosed) || isTransientReply(err) {
		return transient(err)
	}
	return permanent(err)
}

// isTransientReply reports server replies that pass: a loading replica, a
// failover in progress, a cluster reshard.
func isTransientReply(err error) bool {
	for _, p := range []string{"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}
