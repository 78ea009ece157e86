package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/store"
)

const e2eDeployerToken = "e2e-deployer-token-77aa"

// rolloutWorld is a daemon subprocess with a rollout target, the
// simulator, a health endpoint and a pre-traffic hook server.
type rolloutWorld struct {
	*e2e
	lam          *lambda.Client
	deployerFile string // the deployer token, for the CLI's --token-file

	hookMu   sync.Mutex
	hookFail map[string]bool // versions whose pre-traffic hook fails
	hookRuns []string
}

// TestEndToEndRollout: canaryd drives rollouts end to end, as a pipeline
// uses it: `canaryd deploy --wait` and the shipped examples/deploy.sh
// against the daemon as a subprocess, the simulator answering the real
// SDK, a real HTTP health probe. The probe reaches the version being
// rolled out whenever it takes traffic (as a probe of the canary's own
// function URL would), so a bad canary fails its probes at 10 %.
//
// Four worlds, each with its own daemon, simulator, health endpoint and
// hook server, run in parallel: a rollout waits on the real clock (the
// 20 s hold at 10 %, the bake, the probe interval) and uses little CPU,
// so the four one after another took 145 s, in parallel about as long as
// the slowest (40 s). Within a world the steps run in order, each
// starting from what the previous one left.
func TestEndToEndRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the daemon as a subprocess")
	}
	t.Parallel() // with TestEndToEndDaemon: both mostly wait on their daemons' clocks
	ctx := context.Background()

	t.Run("promote", func(t *testing.T) {
		t.Parallel()
		w := newRolloutWorld(t)
		t.Run("good rollout 10, 50, 100 with deploy --wait", func(t *testing.T) {
			seen := w.recordWeights(ctx, "2")
			code, out, errOut := w.cli(t, "deploy", "shop", "--version", "2", "--wait", "--timeout", "2m", "--interval", "200ms")
			steps := seen()
			if code != 0 || !strings.Contains(out, "promoted") {
				t.Fatalf("deploy --wait: exit %d\n%s%s", code, out, errOut)
			}
			if got := fmt.Sprint(steps); got != "[10 50 100]" {
				t.Fatalf("weights read back through the SDK: %s, want [10 50 100]", got)
			}
			for _, want := range []string{"step 1/3 at 10%", "step 2/3 at 50%", "step 3/3 at 100%"} {
				if !strings.Contains(out, want) {
					t.Errorf("deploy --wait output lacks %q:\n%s", want, out)
				}
			}
			w.assertAlias("2")
			if code, out, errOut := w.cli(t, "wait", "shop", "--version", "2", "--timeout", "10s"); code != 0 || !strings.Contains(out, "promoted") {
				t.Fatalf("wait for a promoted version: exit %d\n%s%s", code, out, errOut)
			}
			if code, _, errOut := w.cli(t, "wait", "shop", "--version", "99", "--timeout", "1s", "--interval", "200ms"); code != exitUndecided || !strings.Contains(errOut, "timed out") {
				t.Fatalf("wait for a version never deployed: exit %d %s", code, errOut)
			}
		})

		t.Run("status --watch redraws", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			defer cancel()
			var out, errOut strings.Builder
			if code := Main(ctx, w.clientArgs("status", "--watch", "--interval", "200ms"), &out, &errOut); code != 0 {
				t.Fatalf("status --watch: exit %d %s", code, errOut.String())
			}
			if n := strings.Count(out.String(), "\033[H\033[2J"); n < 3 || !strings.Contains(out.String(), "shop") {
				t.Fatalf("status --watch drew %d times:\n%s", n, out.String())
			}
		})
		w.stopDaemon()
	})

	t.Run("refuse and roll back", func(t *testing.T) {
		t.Parallel()
		w := newRolloutWorld(t)
		t.Run("bad version fails at 10 % and exits 3", func(t *testing.T) {
			seen := w.recordWeights(ctx, "3")
			code, out, errOut := w.cli(t, "deploy", "shop", "--version", "3", "--wait", "--timeout", "2m", "--interval", "200ms")
			steps := seen()
			if code != exitRolledBack || !strings.Contains(errOut, "rolled back") {
				t.Fatalf("deploy --wait of a bad version: exit %d\n%s%s\ndaemon log:\n%s", code, out, errOut, w.logs.String())
			}
			w.eventually("rollback of 3 finished", func() bool { return w.lastIncident().Outcome == store.OutcomeRolledBack })
			if got := fmt.Sprint(steps); got != "[10]" {
				t.Fatalf("weights of 3 seen: %s, want [10] only\n%s", got, w.logs.String())
			}
			w.assertAlias("1")
		})

		t.Run("failing pre-traffic hook moves no traffic", func(t *testing.T) {
			before := len(w.sim.Calls("UpdateAlias"))
			code, out, errOut := w.cli(t, "deploy", "shop", "--version", "4", "--wait", "--timeout", "1m", "--interval", "200ms")
			if code != exitRolledBack || !strings.Contains(errOut, "pre-traffic hook failed") {
				t.Fatalf("deploy with a failing pre-traffic hook: exit %d\n%s%s", code, out, errOut)
			}
			if n := len(w.sim.Calls("UpdateAlias")) - before; n != 0 {
				t.Fatalf("%d UpdateAlias calls after a failed pre-traffic hook", n)
			}
			w.assertAlias("1")
		})

		t.Run("redeploy of the known-bad version is refused", func(t *testing.T) {
			code, out, errOut := w.cli(t, "deploy", "shop", "--version", "3")
			if code == 0 || !strings.Contains(errOut, "rolled back by incident") {
				t.Fatalf("rollout of known-bad 3: exit %d\n%s%s", code, out, errOut)
			}
			w.assertAlias("1")
		})

		t.Run("the deployer token cannot force or mark good", func(t *testing.T) {
			code, _, errOut := w.cli(t, "abort", "shop")
			if code == 0 || !strings.Contains(errOut, "403") && !strings.Contains(strings.ToLower(errOut), "forbidden") {
				t.Fatalf("abort with a deployer token: exit %d %s", code, errOut)
			}
		})

		t.Run("a CodeDeploy deployment is stopped before the revert", func(t *testing.T) {
			w.setBad("6", true)
			id := w.sim.StartCodeDeployDeployment("shop", "live-group", "shop", "live", "6")
			w.sim.Deploy("shop", "live", "1", map[string]float64{"6": 0.1}) // CodeDeploy's first shift
			w.eventually("rollback of 6 finished", func() bool {
				inc := w.lastIncident()
				return inc.FromVersion == "6" && inc.Outcome == store.OutcomeRolledBack
			})
			var stopAt, revertAt time.Time
			for _, c := range w.sim.Calls("StopDeployment") {
				if c.Err == "" && stopAt.IsZero() {
					stopAt = c.Time
				}
			}
			for _, c := range w.sim.Calls("UpdateAlias") {
				if c.Err == "" && c.Params["FunctionVersion"] == "1" {
					revertAt = c.Time
				}
			}
			if stopAt.IsZero() || revertAt.IsZero() || revertAt.Before(stopAt) {
				t.Fatalf("StopDeployment at %v, revert at %v: want the deployment stopped before the revert", stopAt, revertAt)
			}
			if d, ok := w.sim.CodeDeployDeployment(id); !ok || d.Status != "Stopped" {
				t.Fatalf("deployment %s: %+v, want Stopped", id, d)
			}
			w.sim.CodeDeployShift() // CodeDeploy's next step: a stopped deployment shifts nothing more
			w.assertAlias("1")
		})
		w.stopDaemon()
	})

	t.Run("SIGKILL at each step boundary", func(t *testing.T) {
		t.Parallel()
		w := newRolloutWorld(t)
		seen := w.recordWeights(ctx, "7")
		if _, err := w.client.AnnounceDeploy(ctx, api.DeployRequest{Target: "shop", Version: "7", Rollout: true}); err != nil {
			t.Fatal(err)
		}
		for _, share := range []float64{0.1, 0.5} {
			w.eventually(fmt.Sprintf("7 at %g", share), func() bool {
				_, weights, _ := w.sim.Alias("shop", "live")
				return weights["7"] == share
			})
			w.kill() // SIGKILL, right after the step is in place
			w.startDaemon()
			w.eventually("daemon ready again", func() bool { return w.client.Ready(ctx) == nil })
		}
		w.eventually("7 promoted after two kills", func() bool { return w.status().KnownGood == "7" })
		if got := fmt.Sprint(seen()); got != "[10 50 100]" {
			t.Fatalf("weights of 7 across two SIGKILLs: %s, want [10 50 100]", got)
		}
		w.assertAlias("7")
		w.stopDaemon()
	})

	t.Run("examples/deploy.sh rolls out and exits 0", func(t *testing.T) {
		t.Parallel()
		w := newRolloutWorld(t)
		bin := t.TempDir()
		wrapper := filepath.Join(bin, "canaryd")
		script := fmt.Sprintf("#!/bin/sh\nCANARYD_E2E_ARGV=1 exec %q \"$@\"\n", os.Args[0])
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", filepath.Join("..", "..", "examples", "deploy.sh"), "shop", "shop")
		// The script reads the daemon's address and a deployer token
		// from the environment, as a pipeline passes them.
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "VERSION=5", "TIMEOUT=2m",
			"CANARYD_ADDR=http://"+w.addr, "CANARYD_ADMIN_TOKEN="+e2eDeployerToken)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "version 5 of shop promoted") {
			t.Fatalf("deploy.sh: %v\n%s", err, out)
		}
		w.assertAlias("5")
		w.stopDaemon()
	})
}

// newRolloutWorld starts a world: function shop with versions 1-8
// published and alias live on 1, the daemon adopted 1 as known-good.
// Version 3 fails its probes whenever it takes traffic; version 4's
// pre-traffic hook fails.
func newRolloutWorld(t *testing.T) *rolloutWorld {
	w := &rolloutWorld{e2e: &e2e{t: t, bad: map[string]bool{"3": true}, logs: &syncBuffer{}}, hookFail: map[string]bool{"4": true}}
	var awsCfg aws.Config
	w.sim, awsCfg = awssim.Start(t, awssim.Options{AutoCreateDistributions: true})
	w.lam = lambda.NewFromConfig(awsCfg)
	w.sim.CreateFunction("shop")
	for i := 0; i < 8; i++ {
		w.sim.PublishVersion("shop")
	}
	w.sim.CreateAlias("shop", "live", "1")
	health := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		v, weights, _ := w.sim.Alias("shop", "live")
		w.mu.Lock()
		bad := w.bad[v]
		for canary, share := range weights {
			bad = bad || (share > 0 && w.bad[canary])
		}
		w.mu.Unlock()
		if bad {
			http.Error(rw, "boom", http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(rw, "ok")
	}))
	t.Cleanup(health.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body := string(b)
		w.hookMu.Lock()
		defer w.hookMu.Unlock()
		if !strings.Contains(body, `"pre_traffic"`) {
			return // alerts
		}
		w.hookRuns = append(w.hookRuns, body)
		for v := range w.hookFail {
			if strings.Contains(body, `"to_version":"`+v+`"`) {
				http.Error(rw, "smoke test failed", http.StatusInternalServerError)
				return
			}
		}
	}))
	t.Cleanup(hook.Close)
	w.writeRolloutConfig(health.URL, hook.URL)
	w.client = api.NewClient("http://"+w.addr, e2eToken, &http.Client{Timeout: 30 * time.Second})
	w.startDaemon()
	ctx := context.Background()
	w.eventually("daemon ready", func() bool { return w.client.Ready(ctx) == nil })
	w.eventually("version 1 adopted", func() bool { return w.status().KnownGood == "1" })
	return w
}

// clientArgs adds to a CLI command the flags a pipeline would give it:
// this world's daemon and its deployer token (worlds run in parallel, so
// not through the process's environment; deploy.sh uses that).
func (w *rolloutWorld) clientArgs(args ...string) []string {
	return append(args, "--addr", "http://"+w.addr, "--token-file", w.deployerFile)
}

// cli runs a CLI command against this world's daemon with the deployer token.
func (w *rolloutWorld) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, w.clientArgs(args...)...)
}

// recordWeights reads the alias through the SDK until stop is called and
// returns the distinct traffic shares version had, in percent, in order
// ("100" once it is the alias's version).
func (w *rolloutWorld) recordWeights(ctx context.Context, version string) (stop func() []string) {
	ctx, cancel := context.WithCancel(ctx)
	var seen []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			a, err := w.lam.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("shop"), Name: aws.String("live")})
			if err == nil {
				share := ""
				if aws.ToString(a.FunctionVersion) == version {
					share = "100"
				} else if a.RoutingConfig != nil {
					if p, ok := a.RoutingConfig.AdditionalVersionWeights[version]; ok && p > 0 {
						share = strconv.FormatFloat(p*100, 'f', -1, 64)
					}
				}
				if share != "" && (len(seen) == 0 || seen[len(seen)-1] != share) {
					seen = append(seen, share)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() []string { cancel(); <-done; return seen }
}

func (w *rolloutWorld) lastIncident() store.Incident {
	incs, err := w.client.Incidents(context.Background(), "shop", 1)
	if err != nil || len(incs) == 0 {
		return store.Incident{}
	}
	return incs[0].Incident
}

func (w *rolloutWorld) writeRolloutConfig(healthURL, hookURL string) {
	dir := w.daemonDir()
	w.deployerFile = w.writeFile(dir, "deployer", e2eDeployerToken+"\n")
	src := fmt.Sprintf(`
[daemon]
listen = %q
admin_token_file = %q
poll_interval = "1s"
log_level = "debug"
shutdown_timeout = "5s"

  [[daemon.token]]
  name = "ci"
  scope = "deployer"
  token_file = %q

[aws]
region = "us-east-1"
endpoint_url = %q
max_backoff = "50ms"

[store]
path = %q

[[notifier]]
name = "oncall"
type = "webhook"
url = %q

[[target]]
name = "shop"
function = "shop"
alias = "live"
bake_time = "3s"
notify = ["oncall"]

  [[target.probe]]
  name = "health"
  url = %q
  # 2 s: under make test's load (race detector, packages side by side) a
  # 1 s timeout let the health endpoint in this test process answer late
  # often enough to read as a failing known-good (the bad canary then only
  # alerts); the first step's hold leaves room for the slower probes.
  interval = "2s"
  timeout = "2s"

  [[target.rule]]
  name = "health-probe"
  kind = "probe"
  probe = "health"

  [target.rollout]
  steps = [{ weight = 10, hold = "20s" }, { weight = 50, hold = "3s" }, { weight = 100 }]
    [target.rollout.pre_traffic.webhook]
    name = "smoke"
    url = %q
    retries = 0

  [target.codedeploy]
  application = "shop"
  deployment_group = "live-group"

  [target.actions.verify]
  window = "6s"
`, w.addr, w.tokenFile, w.deployerFile, w.sim.URL(), filepath.Join(dir, "canaryd.db"), hookURL, healthURL, hookURL)
	w.cfgPath = w.writeFile(dir, "config.toml", src)
}
