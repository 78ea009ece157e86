package main

import (
	"context"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/testredis"
)

// TestCheckWarnsOfRedisWithoutPersistence: a Redis store that loses
// everything on restart is named; AOF is accepted.
func TestCheckWarnsOfRedisWithoutPersistence(t *testing.T) {
	rs := testredis.Start(t)
	c := rs.Client(t)
	ctx := context.Background()
	for _, tc := range []struct {
		aof, save, want string
	}{
		{"no", "", "WARN Redis has no persistence"},
		{"yes", "", "persistence ok (AOF)"},
		{"no", "3600 1", "RDB snapshots only"},
	} {
		if err := c.ConfigSet(ctx, "appendonly", tc.aof).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.ConfigSet(ctx, "save", tc.save).Err(); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		checkStorePersistence(ctx, &out, config.Store{Backend: "redis", Redis: config.RedisConn{Addrs: []string{rs.Addr}}})
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("appendonly %s save %q: %q, want %q", tc.aof, tc.save, out.String(), tc.want)
		}
	}
}
