package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemoRollsBackTheBadDeploy runs the whole demo (as `canaryd demo`
// does) and checks what it proved, not only its exit status.
func TestDemoRollsBackTheBadDeploy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full demo")
	}
	var out bytes.Buffer
	res, err := Run(context.Background(), &out, Options{Speed: 60})
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	if !res.RolledBack || res.AliasVersion != "2" || res.Invalidations != 1 {
		t.Fatalf("result %+v\n%s", res, out.String())
	}
	if res.RedisSkipped == "" && res.KeysRemoved != 200 {
		t.Errorf("keys removed = %d, want 200", res.KeysRemoved)
	}
	if res.Alerts < 3 {
		t.Errorf("alerts received = %d, want at least watch_started, tripped, rollback_done", res.Alerts)
	}
	for _, want := range []string{"Version 2 of checkout is promoted", "tripped", "read back through the AWS SDK: version 2",
		"CloudFront invalidation", "ALERT received", "## Timeline", "Demo passed",
		"web console (read-only): http://127.0.0.1:", "## Evidence", "(SVG chart, ",
		"the trace records the daemon's decision: rolled_back at ", "; replay agrees"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

// TestDemoWithoutRedisSaysSo: on a machine with only Go, the cache step is
// skipped and the demo says so, and the rollback still has to happen.
func TestDemoWithoutRedisSaysSo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full demo")
	}
	var out bytes.Buffer
	res, err := Run(context.Background(), &out, Options{Speed: 60, Redis: "off"})
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	if res.RedisSkipped == "" || !strings.Contains(out.String(), "Redis cache step skipped") || !res.RolledBack {
		t.Fatalf("result %+v\n%s", res, out.String())
	}
}
