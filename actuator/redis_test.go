package actuator

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
)

// redisStep runs a plan whose only action is act and returns the redis
// step's result.
func redisStep(t *testing.T, e *env, act config.RedisAction) StepResult {
	t.Helper()
	tg := e.target()
	tg.Actions = config.Actions{Redis: []config.RedisAction{act}}
	res := e.execute(BuildPlan(tg, e.input()))
	return res.Steps[1]
}

func keysRemoved(t *testing.T, sr StepResult) int64 {
	t.Helper()
	var d redisDetail
	if err := json.Unmarshal(sr.Detail, &d); err != nil {
		t.Fatalf("redis detail %s: %v", sr.Detail, err)
	}
	return d.KeysRemoved
}

func TestRedisRemovesOnlyMatchingKeys(t *testing.T) {
	e := newEnv(t, nil, nil)
	seed(t, e.rc, "page:", 5000)
	seed(t, e.rc, "frag:", 500)
	seed(t, e.rc, "session:", 5000)
	seed(t, e.rc, "pagex", 100) // close to the pattern, not matching it

	sr := redisStep(t, e, config.RedisAction{Name: "pages", Conn: config.RedisConn{Addrs: []string{e.rds.Addr}},
		Patterns: []string{"page:*", "frag:*"}, BatchSize: 250})

	if sr.Status != store.StepDone {
		t.Fatalf("redis step %s: %s", sr.Status, sr.Error)
	}
	if got := keysRemoved(t, sr); got != 5500 {
		t.Errorf("keys_removed = %d, want 5500", got)
	}
	for pattern, want := range map[string]int{"page:*": 0, "frag:*": 0, "session:*": 5000, "pagex*": 100} {
		if got := countKeys(t, e.rc, pattern); got != want {
			t.Errorf("%s: %d keys, want %d", pattern, got, want)
		}
	}
	if n := e.rc.DBSize(context.Background()).Val(); n != 5100 {
		t.Errorf("dbsize %d, want 5100", n)
	}
	stats := e.rc.Info(context.Background(), "commandstats").Val()
	for _, forbidden := range []string{"cmdstat_keys:", "cmdstat_flushall:", "cmdstat_flushdb:", "cmdstat_del:"} {
		if strings.Contains(stats, forbidden) {
			t.Errorf("server ran %s", strings.TrimSuffix(forbidden, ":"))
		}
	}
	for _, used := range []string{"cmdstat_scan:", "cmdstat_unlink:"} {
		if !strings.Contains(stats, used) {
			t.Errorf("server never ran %s", strings.TrimSuffix(used, ":"))
		}
	}
}

func TestRedisFlushDBOnlyWhenConfiguredAndOnlyThatDB(t *testing.T) {
	cases := []struct {
		name      string
		flush     bool
		wantDB0   int64
		wantCount int64
	}{
		{name: "patterns only", flush: false, wantDB0: 200, wantCount: 100},
		{name: "flush_db", flush: true, wantDB0: 0, wantCount: 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			seed(t, e.rc, "page:", 100)
			seed(t, e.rc, "other:", 200)
			db1 := redis.NewClient(&redis.Options{Addr: e.rds.Addr, DB: 1})
			t.Cleanup(func() { _ = db1.Close() })
			seed(t, db1, "page:", 70)

			sr := redisStep(t, e, config.RedisAction{Name: "c", Conn: config.RedisConn{Addrs: []string{e.rds.Addr}},
				Patterns: []string{"page:*"}, FlushDB: tc.flush})

			if sr.Status != store.StepDone || keysRemoved(t, sr) != tc.wantCount {
				t.Fatalf("step %s removed %d (%s), want done with %d", sr.Status, keysRemoved(t, sr), sr.Error, tc.wantCount)
			}
			if n := e.rc.DBSize(context.Background()).Val(); n != tc.wantDB0 {
				t.Errorf("db 0 has %d keys, want %d", n, tc.wantDB0)
			}
			if n := db1.DBSize(context.Background()).Val(); n != 70 {
				t.Errorf("db 1 has %d keys, want 70 (never FLUSHALL)", n)
			}
		})
	}
}

func TestRedisPasswordAndCriticality(t *testing.T) {
	srv := testredis.Start(t, "--requirepass", "s3cret-pw")
	cases := []struct {
		name       string
		password   string
		critical   bool
		wantStatus store.StepStatus
		wantOut    Outcome
	}{
		{name: "right password", password: "s3cret-pw", wantStatus: store.StepDone, wantOut: OutcomeRolledBack},
		{name: "wrong password, critical", password: "nope", critical: true, wantStatus: store.StepFailed, wantOut: OutcomeFailed},
		{name: "wrong password, not critical", password: "nope", wantStatus: store.StepFailed, wantOut: OutcomeRolledBack},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			tg := e.target()
			tg.Actions = config.Actions{
				Redis: []config.RedisAction{{Name: "auth", Conn: config.RedisConn{Addrs: []string{srv.Addr},
					Password: config.NewSecret(tc.password)}, Patterns: []string{"x:*"}, Critical: tc.critical}},
				Exec: []config.ExecHook{{Name: "after", Argv: []string{"/bin/true"}}},
			}
			res := e.execute(BuildPlan(tg, e.input()))
			sr := res.Steps[1]
			if sr.Status != tc.wantStatus || res.Outcome != tc.wantOut {
				t.Fatalf("redis %s, outcome %s (%s); want %s, %s", sr.Status, res.Outcome, sr.Error, tc.wantStatus, tc.wantOut)
			}
			if strings.Contains(sr.Error+string(sr.Detail)+res.Reason, tc.password) {
				t.Errorf("password leaked: %s %s", sr.Error, sr.Detail)
			}
			wantExec := store.StepDone
			if tc.critical {
				wantExec = store.StepSkipped
			}
			if res.Steps[2].Status != wantExec {
				t.Errorf("exec after redis: %s, want %s", res.Steps[2].Status, wantExec)
			}
		})
	}
}
