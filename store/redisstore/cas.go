package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/store"
)

// maxCASAttempts bounds the read-apply-write retries of one update.
const maxCASAttempts = 1000

// casScript writes KEYS[1] and applies index operations to KEYS[2..] only
// if KEYS[1] still holds ARGV[1] ("" = must be absent). ARGV[2] is the new
// value ("" = leave KEYS[1] as it is: a pure guard). Then for each further
// key i, ARGV[2i-1] is an operation (zadd, zrem, rpush) and ARGV[2i] its
// member or value. Returns 1 if applied, 0 if the guard failed.
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
if ARGV[2] ~= '' then redis.call('SET', KEYS[1], ARGV[2]) end
for i = 2, #KEYS do
  local op, v = ARGV[2*i-1], ARGV[2*i]
  if op == 'zadd' then redis.call('ZADD', KEYS[i], 0, v)
  elseif op == 'zrem' then redis.call('ZREM', KEYS[i], v)
  elseif op == 'rpush' then redis.call('RPUSH', KEYS[i], v)
  else return redis.error_reply('cas: unknown op ' .. op) end
end
return 1
`)

// op is one index operation applied with a compare-and-set.
type op struct{ kind, key, val string }

// cas runs casScript; it reports whether the guard held.
func (s *Store) cas(ctx context.Context, key, old, nv string, ops ...op) (bool, error) {
	keys := make([]string, 0, 1+len(ops))
	args := make([]any, 0, 2+2*len(ops))
	keys = append(keys, key)
	args = append(args, old, nv)
	for _, o := range ops {
		keys = append(keys, o.key)
		args = append(args, o.kind, o.val)
	}
	n, err := casScript.Run(ctx, s.c, keys, args...).Int()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// updateRaw is the optimistic update loop: read key ("" if absent), let
// apply compute the new value and index operations, compare-and-set, and
// start over if another writer got in between. apply's error ends the
// loop and is returned as is.
func (s *Store) updateRaw(ctx context.Context, key string, apply func(old string) (string, []op, error)) error {
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		old, err := s.getRaw(ctx, key)
		if err != nil && err != store.ErrNotFound {
			return err
		}
		nv, ops, err := apply(old)
		if err != nil {
			return err
		}
		ok, err := s.cas(ctx, key, old, nv, ops...)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("%s: gave up after %d attempts: %w", key, maxCASAttempts, store.ErrConflict)
}
