package redisstore

import (
	"context"
	"errors"
	"sort"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/store/internal/record"
)

// indexed is one index member and the key of the record it names.
type indexed struct{ member, key string }

// listIndexed walks the index idx of target (of every known target when
// target is ""), newest first, up to limit entries (all when limit <= 0),
// and calls each with the stored records in that order. Index members
// whose record is gone are skipped.
func (s *Store) listIndexed(ctx context.Context, target, idx, recPrefix string, limit int, each func(raw string) error) error {
	targets := []string{target}
	if target == "" {
		var err error
		if targets, err = s.c.SMembers(ctx, s.gkey("targets")).Result(); err != nil {
			return err
		}
	}
	pipe := s.c.Pipeline()
	ranges := make([]*redis.StringSliceCmd, len(targets))
	for i, t := range targets {
		ranges[i] = pipe.ZRevRangeByLex(ctx, s.tkey(t, idx), &redis.ZRangeBy{Min: "-", Max: "+", Count: int64(limit)})
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	var all []indexed
	for i, t := range targets {
		for _, m := range ranges[i].Val() {
			id, err := record.IDFromSortKeyHex(m)
			if err != nil {
				return err
			}
			all = append(all, indexed{member: m, key: s.tkey(t, recPrefix+id)})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].member > all[j].member })
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	if len(all) == 0 {
		return nil
	}
	pipe = s.c.Pipeline()
	gets := make([]*redis.StringCmd, len(all))
	for i, x := range all {
		gets[i] = pipe.Get(ctx, x.key)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	for _, g := range gets {
		raw, err := g.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return err
		}
		if err := each(raw); err != nil {
			return err
		}
	}
	return nil
}
