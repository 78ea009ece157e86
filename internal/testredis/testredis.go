// Package testredis starts a real redis-server on an ephemeral loopback port
// for tests, and stops it when the test ends.
package testredis

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/internal/redisserver"
)

// Server is a running redis-server.
type Server struct {
	Addr string
}

// Start launches redis-server with persistence off, waits until it answers
// PING, and registers its stop with t.Cleanup. extraArgs are passed
// through (e.g. "--requirepass", "secret").
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	s, err := redisserver.Start(t.TempDir(), extraArgs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return &Server{Addr: s.Addr}
}

// Client returns a go-redis client for the server, closed at test end.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
