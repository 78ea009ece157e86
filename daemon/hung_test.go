package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// TestHungAliasReadDelaysNoTrip: the daemon as it runs in production
// (nothing synchronous: detector, probes, metric cycles and plans in the
// background). Target "api" gets a bad deploy whose health probe fails;
// target "other" has every GetAlias black-holed. The trip of api must come
// as fast as without the hung target (issue #13: one hung GetAlias delayed a
// trip from 4.7 s to 124.7 s).
func TestHungAliasReadDelaysNoTrip(t *testing.T) {
	base := tripAfterBadDeploy(t, false)
	hung := tripAfterBadDeploy(t, true)
	t.Logf("bad deploy to rollback (fake time): %s without a hung target, %s with one", base, hung)
	if hung > base+5*time.Second {
		t.Fatalf("a hung alias read of another target delayed the trip from %s to %s", base, hung)
	}
}

// tripAfterBadDeploy returns the fake time from the bad deploy to the
// incident opening.
func tripAfterBadDeploy(t *testing.T, hang bool) time.Duration {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	sim, _ := awssim.Start(t, awssim.Options{Clock: clk, AutoCreateDistributions: true})
	sim.Deploy("api", "live", "1", nil)
	sim.Deploy("other", "live", "1", nil)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if v, _, _ := sim.Alias("api", "live"); v == "2" {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(health.Close)
	src := fmt.Sprintf(`
[daemon]
poll_interval = "2s"
[aws]
region = "us-east-1"
endpoint_url = %q
max_backoff = "10ms"
retry_mode = "standard"
%s
%s
`, sim.URL(), hungTarget("api", health.URL), hungTarget("other", health.URL))
	conf, err := config.Parse([]byte(src), "test.toml", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "canaryd.db"), boltstore.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Conf: conf, Store: st, Clock: clk, Logger: zap.NewNop(),
		AWS: awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		d.runner.Cancel()
		d.runner.Wait()
		d.current().detector.Wait()
		_ = st.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	hung := ""
	// step is one second of fake time: a tick, then its probes and every
	// alias read but the hung one done before the clock moves on.
	step := func() {
		clk.Advance(time.Second)
		d.Tick(ctx)
		d.current().prober.Wait()
		for {
			reading := d.current().detector.Reading()
			if len(reading) == 0 || (len(reading) == 1 && reading[0] == hung) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("alias reads of %v still in flight", reading)
			}
			runtime.Gosched()
		}
	}
	for known(t, st, "api") != "1" || known(t, st, "other") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("aliases never observed")
		}
		step()
	}
	if hang {
		hung = "other"
		sim.InjectFault(awssim.Fault{API: "GetAlias", Kind: awssim.FaultLatency, Latency: time.Hour, Rate: 1,
			Match: map[string]string{"FunctionName": "other"}})
	}
	sim.Deploy("api", "live", "2", nil)
	deployed := clk.Now()
	for {
		incs, err := st.ListIncidents(ctx, "api", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(incs) > 0 {
			return incs[0].OpenedAt.Sub(deployed)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback of api after %s of fake time (hung target: %v)", clk.Now().Sub(deployed), hang)
		}
		step()
	}
}

func known(t *testing.T, st store.Store, target string) string {
	s, err := st.GetTarget(context.Background(), target)
	if err != nil {
		return ""
	}
	return s.KnownGood
}

func hungTarget(name, healthURL string) string {
	return fmt.Sprintf(`
[[target]]
name = %q
function = %q
alias = "live"
bake_time = "1m"

  [[target.probe]]
  name = "health"
  url = %q
  interval = "5s"
  timeout = "2s"

  [[target.rule]]
  name = "health-probe"
  kind = "probe"
  probe = "health"
  consecutive_failures = 3

  [target.actions.verify]
  window = "0s"
`, name, name, healthURL)
}
