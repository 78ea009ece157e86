package main

import (
	"context"
	"os"
	"path/filepath"
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

// TestCheckSummaryNamesTheEventQueue: `canaryd check` says where deploy
// events come from and how slow the polls become while they flow.
func TestCheckSummaryNamesTheEventQueue(t *testing.T) {
	src := `[aws]
region = "us-east-1"
[events]
queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/canaryd-events"
sweep = "10m"
[[target]]
name = "api"
function = "api-fn"
alias = "live"
  [[target.rule]]
  name = "errors"
  kind = "error_rate"
  threshold = 0.05
`
	cfg, err := config.Parse([]byte(src), "c.toml", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printSummary(&out, cfg)
	want := "deploy events: https://sqs.eu-west-1.amazonaws.com/123456789012/canaryd-events (eu-west-1), long poll 20s; while they flow each alias is read every 10m0s, at most 2/s"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("summary:\n%s\nwant %q", out.String(), want)
	}
}

// TestCheckPrintsWarnings: `canaryd check` prints each key that loads
// without effect and each rule a compare rule would write better, with its
// file and line, and still passes.
func TestCheckPrintsWarnings(t *testing.T) {
	src := `[aws]
region = "us-east-1"
[[target]]
name = "api"
function = "api-fn"
alias = "live"
  [[target.rule]]
  name = "errors"
  kind = "error_rate"
  threshold = 0.05
  for = "3m"
  [[target.rule]]
  name = "p99"
  kind = "latency"
  threshold = 1.5
  baseline = "ratio"
`
	path := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	env := &cliEnv{stdout: &out, stderr: &errOut}
	if err := cmdCheck(context.Background(), env, []string{"--config", path}); err != nil {
		t.Fatalf("check: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{
		"warning: " + path + ":11: target[0].rule[0].for: has no effect on kind error_rate",
		"warning: " + path + ":16: target[0].rule[1].baseline: a latency threshold relative to the known-good's p99",
		"kind compare_latency counts",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check printed:\n%s\nwant %q", out.String(), want)
		}
	}
}
