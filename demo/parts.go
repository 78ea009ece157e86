package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/internal/redisserver"
)

// writer prints lines stamped with the simulated time since the start.
type writer struct {
	mu    sync.Mutex
	out   io.Writer
	clock clockwork.Clock
	start time.Time
}

func newWriter(out io.Writer, clock clockwork.Clock, start time.Time) *writer {
	return &writer{out: out, clock: clock, start: start}
}

func (w *writer) say(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.clock.Now().Sub(w.start).Round(time.Second)
	fmt.Fprintf(w.out, "[t+%02d:%02d] %s\n", int(d.Minutes()), int(d.Seconds())%60, fmt.Sprintf(format, args...))
}

func (w *writer) raw(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprint(w.out, s)
}

// service is the protected application's health endpoint: it answers as
// the version the alias points at would — version 3 is broken.
type service struct {
	srv *httptest.Server
}

const badVersion = "3"

func newService(sim *awssim.Sim) *service {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(rw http.ResponseWriter, _ *http.Request) {
		v, _, _ := sim.Alias(function, alias)
		rw.Header().Set("Content-Type", "application/json")
		if v == badVersion {
			rw.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(rw, `{"status":"error","version":%q,"error":"payment provider client misconfigured"}`, v)
			return
		}
		fmt.Fprintf(rw, `{"status":"ok","version":%q}`, v)
	})
	return &service{srv: httptest.NewServer(mux)}
}

func (s *service) url() string { return s.srv.URL + "/health" }
func (s *service) close()      { s.srv.Close() }

// receiver is on-call's webhook endpoint: it prints every alert it gets.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []map[string]any
}

func newReceiver(w *writer) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		var ev map[string]any
		if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&ev); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, ev)
		r.mu.Unlock()
		w.say("ALERT received by on-call webhook: [%v] %v", ev["type"], ev["message"])
	}))
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *receiver) types() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for _, ev := range r.got {
		m[fmt.Sprint(ev["type"])]++
	}
	return m
}

func (r *receiver) close() { r.srv.Close() }

// cache is the Redis the rollback cleans, when one is reachable.
type cache struct {
	addr, origin, skipped string
	client                *redis.Client
	server                *redisserver.Server
}

func openCache(ctx context.Context, addr, dir string) *cache {
	c := &cache{}
	switch {
	case addr == "off":
		c.skipped = "turned off with --redis off"
		return c
	case addr != "":
		c.addr, c.origin = addr, "given with --redis"
	default:
		srv, err := redisserver.Start(dir)
		if err != nil {
			c.skipped = "no --redis address given and " + err.Error()
			return c
		}
		c.server, c.addr, c.origin = srv, srv.Addr, "a throw-away redis-server started for the demo"
	}
	c.client = redis.NewClient(&redis.Options{Addr: c.addr})
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.client.Ping(pctx).Err(); err != nil {
		c.close()
		return &cache{skipped: fmt.Sprintf("Redis at %s not reachable: %v", c.addr, err)}
	}
	return c
}

// seed writes cached responses (cleared by the rollback) and other keys
// (which must survive it).
func (c *cache) seed(ctx context.Context) error {
	if c.client == nil {
		return nil
	}
	pipe := c.client.Pipeline()
	for i := 0; i < 200; i++ {
		pipe.Set(ctx, fmt.Sprintf("checkout:resp:%d", i), "cached", 0)
		pipe.Set(ctx, fmt.Sprintf("session:%d", i), "keep me", 0)
	}
	_, err := pipe.Exec(ctx)
	return err
}

func (c *cache) countKeys(ctx context.Context, pattern string) int {
	if c.client == nil {
		return 0
	}
	n := 0
	iter := c.client.Scan(ctx, 0, pattern, 500).Iterator()
	for iter.Next(ctx) {
		n++
	}
	return n
}

func (c *cache) close() {
	if c.client != nil {
		_ = c.client.Close()
	}
	if c.server != nil {
		c.server.Stop()
	}
}

// countsText writes counts by name for a person: "tripped 1, watch_started 2",
// sorted by name.
func countsText(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return strings.Join(parts, ", ")
}
