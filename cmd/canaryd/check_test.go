package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/testredis"
)

func TestCheckAWSOneLinePerTarget(t *testing.T) {
	sim, _ := awssim.Start(t, awssim.Options{})
	sim.CreateFunction("good-fn")
	sim.PublishVersion("good-fn")
	sim.PublishVersion("good-fn")
	rev := sim.CreateAlias("good-fn", "live", "2")
	now := time.Now()
	sim.LambdaTraffic("good-fn", "live", "2", now.Add(-30*time.Minute), now.Add(-10*time.Minute), awssim.HealthyProfile(1))
	src := fmt.Sprintf(`
[aws]
region = "us-east-1"
endpoint_url = %q
max_attempts = 1
[[target]]
name = "good"
function = "good-fn"
alias = "live"
  [[target.rule]]
  name = "r"
  kind = "throttles"
  threshold = 1
[[target]]
name = "missing"
function = "no-such-fn"
alias = "live"
  [[target.rule]]
  name = "r"
  kind = "throttles"
  threshold = 1
`, sim.URL())
	cfg, err := config.Parse([]byte(src), "c.toml", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	failed := checkAWS(context.Background(), &out, cfg, awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("A", "B", "")})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if failed != 1 || len(lines) != 2 {
		t.Fatalf("failed=%d, output:\n%s", failed, out.String())
	}
	if !strings.HasPrefix(lines[0], "ok   good:") || !strings.Contains(lines[0], "version 2") || !strings.Contains(lines[0], rev) ||
		!strings.Contains(lines[0], "metrics readable (20 invocation datapoints") {
		t.Errorf("good line: %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "FAIL missing:") || !strings.Contains(lines[1], "ResourceNotFound") {
		t.Errorf("missing line: %q", lines[1])
	}
}

func TestCheckAWSNamesTheFailingMetricsRead(t *testing.T) {
	sim, _ := awssim.Start(t, awssim.Options{})
	sim.CreateFunction("fn")
	sim.PublishVersion("fn")
	sim.CreateAlias("fn", "live", "1")
	sim.InjectFault(awssim.Fault{API: "GetMetricData", Kind: awssim.Fault5xx, Rate: 1})
	src := fmt.Sprintf("[aws]\nregion = \"us-east-1\"\nendpoint_url = %q\nmax_attempts = 1\n[[target]]\nname = \"t\"\nfunction = \"fn\"\nalias = \"live\"\n  [[target.rule]]\n  name = \"r\"\n  kind = \"throttles\"\n  threshold = 1\n", sim.URL())
	cfg, err := config.Parse([]byte(src), "c.toml", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if failed := checkAWS(context.Background(), &out, cfg, awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("A", "B", "")}); failed != 1 {
		t.Fatalf("failed = %d\n%s", failed, out.String())
	}
	if !strings.Contains(out.String(), "FAIL t: cloudwatch:GetMetricData for fn:live") {
		t.Fatalf("output %q", out.String())
	}
}

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
