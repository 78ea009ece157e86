package actuator

// Shared test fixtures: a real awssim, a real redis-server, a bbolt store,
// all on one fake clock, and an actuator wired to them.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

const (
	fnName   = "checkout"
	aliasNm  = "live"
	distID   = "E2QWRUHAPOMQZL"
	incident = "inc-checkout-1"
)

var epoch = time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)

type env struct {
	t     testing.TB
	sim   *awssim.Sim
	aws   aws.Config
	clk   *clockwork.FakeClock
	st    *boltstore.Store
	rds   *testredis.Server
	rc    *redis.Client
	act   *Actuator
	cfg   Config
	rev   string           // alias RevisionId after the bad deploy
	proxy *httptest.Server // optional: a server in front of the simulator
	mu    sync.Mutex
	steps []store.JournalEntry // seen by OnStep
}

// newEnv starts the simulator and redis, deploys version 2 of the function
// over known-good 1 (with weights if given) and builds an actuator.
func newEnv(t testing.TB, weights map[string]float64, mut func(*Config)) *env {
	t.Helper()
	return newEnvSim(t, awssim.Options{}, weights, mut)
}

// newEnvSim is newEnv with simulator options (its clock is always the env's).
func newEnvSim(t testing.TB, o awssim.Options, weights map[string]float64, mut func(*Config)) *env {
	t.Helper()
	e := &env{t: t, clk: clockwork.NewFakeClockAt(epoch)}
	o.Clock = e.clk
	e.sim, e.aws = awssim.Start(t, o)
	e.sim.CreateDistribution(distID)
	e.sim.Deploy(fnName, aliasNm, "1", nil)
	if weights != nil {
		e.rev = e.sim.Deploy(fnName, aliasNm, "1", weights)
	} else {
		e.rev = e.sim.Deploy(fnName, aliasNm, "2", nil)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e.st = st
	e.rds = testredis.Start(t)
	e.rc = e.rds.Client(t)
	e.cfg = Config{
		Store:      st,
		Lambda:     func(string) *lambda.Client { return lambda.NewFromConfig(e.aws) },
		CloudFront: func(string) *cloudfront.Client { return cloudfront.NewFromConfig(e.aws) },
		Clock:      e.clk,
		Retry:      RetryPolicy{Attempts: 4, Base: time.Second, Max: 4 * time.Second},
		OnStep: func(j store.JournalEntry) {
			e.mu.Lock()
			e.steps = append(e.steps, j)
			e.mu.Unlock()
		},
	}
	if mut != nil {
		mut(&e.cfg)
	}
	e.act = New(e.cfg)
	return e
}

// target returns the standard target: one invalidation and one Redis
// pattern action on the test redis.
func (e *env) target() config.Target {
	return config.Target{
		Name: "checkout", Function: fnName, Alias: aliasNm,
		Actions: config.Actions{
			CloudFront: []config.CloudFrontAction{{Distribution: distID, Paths: []string{"/*"}}},
			Redis: []config.RedisAction{{Name: "pages", Conn: config.RedisConn{Addrs: []string{e.rds.Addr}},
				Patterns: []string{"page:*"}, BatchSize: 100}},
		},
	}
}

// input is the plan input of the standard incident: 2 is bad, 1 is good.
func (e *env) input() PlanInput {
	return PlanInput{IncidentID: incident, FromVersion: "2", ToVersion: "1", RevisionID: e.rev, Trigger: "policy"}
}

func (e *env) execute(p Plan) Result {
	e.t.Helper()
	res, err := e.act.Execute(context.Background(), p, store.Fence{})
	if err != nil {
		e.t.Fatalf("Execute: %v", err)
	}
	return res
}

// seed writes n keys named prefix0..prefixN-1 in db 0.
func seed(t testing.TB, rc *redis.Client, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	pipe := rc.Pipeline()
	for i := 0; i < n; i++ {
		pipe.Set(ctx, fmt.Sprintf("%s%d", prefix, i), "v", 0)
		if i%1000 == 999 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// countKeys counts keys matching pattern with SCAN.
func countKeys(t testing.TB, rc redis.Cmdable, pattern string) int {
	t.Helper()
	n := 0
	iter := rc.Scan(context.Background(), 0, pattern, 1000).Iterator()
	for iter.Next(context.Background()) {
		n++
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// okCalls counts recorded calls of api that succeeded.
func okCalls(s *awssim.Sim, api string) int {
	n := 0
	for _, c := range s.Calls(api) {
		if c.Err == "" {
			n++
		}
	}
	return n
}

// autoAdvance moves the fake clock forward by step whenever something waits
// on it, until the test ends: for retry backoffs and polling.
func autoAdvance(t testing.TB, clk *clockwork.FakeClock, step time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for clk.BlockUntilContext(ctx, 1) == nil {
			clk.Advance(step)
		}
	}()
}

// statuses returns each step's status in order.
func statuses(r Result) []store.StepStatus {
	out := make([]store.StepStatus, len(r.Steps))
	for i, s := range r.Steps {
		out[i] = s.Status
	}
	return out
}
