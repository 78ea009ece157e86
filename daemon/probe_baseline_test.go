package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/replay"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// The probe baseline (the known-good's probe results from before the
// deploy) is in memory when a watch begins: the probe rule judges against
// it from the first verdict on, whether CloudWatch answers the baseline
// read late (throttling, retries), never (a hung call), or with an error.
// These run the daemon as in production (nothing synchronous: the baseline
// read runs in the background) on a fake clock, with every GetMetricData
// call after the known-good's adoption hung or throttled.

// TestProbeBaselineWhileCloudWatchHangs: CloudWatch does not answer the
// baseline read at all while the new version fails its health probe.
//   - The known-good failed its probe before the deploy too: the verdict
//     is Failing, alert only (rolling back to an equally broken version
//     would not help), and nothing is rolled back.
//   - The known-good passed: the verdict is a trip (not alert-only)
//     against the known-good's probe results (the finding names them).
func TestProbeBaselineWhileCloudWatchHangs(t *testing.T) {
	hang := awssim.Fault{API: "GetMetricData", Kind: awssim.FaultLatency, Latency: time.Hour, Rate: 1}
	t.Run("known-good failing too", func(t *testing.T) {
		pb := newProbeBaselineWorld(t, map[string]bool{"1": true, "2": true})
		pb.inject(hang)
		v := pb.deployAndJudge("2", func(v policy.Verdict) bool { return v.Kind == policy.Failing })
		if !v.AlertOnly || !strings.Contains(v.AlertWhy, "already failing") {
			t.Fatalf("the known-good failed its probe before the deploy: want an alert-only verdict, got %s (alert-only %v)", v.Summary, v.AlertOnly)
		}
		pb.requireNoRollback()
		pb.requireCloudWatchSilent()
		if res := pb.replayTrace(); res.Outcome != replay.Undecided || !res.AlertOnly {
			t.Fatalf("the recorded trace replays to %s (alert-only %v), want undecided, alert only", res.Outcome, res.AlertOnly)
		}
		// A reload with other settings rebuilds the watch's evidence for
		// the new policy: the probe results, kept while CloudWatch has not
		// answered, are its probe baseline again at once.
		next := *pb.conf
		next.Targets = append([]config.Target(nil), pb.conf.Targets...)
		next.Targets[0].BakeTime.Duration = 2 * time.Minute
		if err := pb.d.Reload(&next); err != nil {
			t.Fatal(err)
		}
		v = pb.judgeUntil(func(policy.Verdict) bool { return true })
		if !v.AlertOnly {
			t.Fatalf("after a reload: %s (alert-only %v), want alert only", v.Summary, v.AlertOnly)
		}
		requireKnownGoodProbes(t, v)
		pb.requireNoRollback()
	})
	t.Run("known-good passing", func(t *testing.T) {
		pb := newProbeBaselineWorld(t, map[string]bool{"2": true})
		pb.inject(hang)
		v := pb.deployAndJudge("2", func(v policy.Verdict) bool { return v.Kind == policy.Failing })
		if v.AlertOnly {
			t.Fatalf("the known-good passed its probe: want a trip, got alert-only %s", v.Summary)
		}
		requireKnownGoodProbes(t, v)
		pb.requireCloudWatchSilent()
		incs, err := pb.st.ListIncidents(pb.ctx, "api", 1)
		if err != nil || len(incs) == 0 {
			t.Fatalf("tripped, but no incident: %v", err)
		}
		res := pb.replayTrace()
		if d := res.DecidedAt.Sub(incs[0].OpenedAt); res.Outcome != replay.RolledBack || d < -replay.Tick || d > replay.Tick {
			t.Fatalf("the recorded trace replays to %s at %s, the daemon tripped at %s", res.Outcome, res.DecidedAt, incs[0].OpenedAt)
		}
	})
}

// TestProbeBaselineAfterFailedBaselineRead: the CloudWatch baseline read
// fails (every GetMetricData throttled); the probe baseline stays, so a
// deploy onto a known-good that was already failing its probe only alerts.
func TestProbeBaselineAfterFailedBaselineRead(t *testing.T) {
	pb := newProbeBaselineWorld(t, map[string]bool{"1": true, "2": true})
	pb.inject(awssim.Fault{API: "GetMetricData", Kind: awssim.FaultThrottle, Rate: 1})
	pb.deployAndJudge("2", func(policy.Verdict) bool {
		return pb.logs.FilterMessage("baseline read failed; relative rules stay inconclusive for this watch").Len() > 0
	})
	v := pb.judgeUntil(func(v policy.Verdict) bool { return v.Kind == policy.Failing })
	if !v.AlertOnly || !strings.Contains(v.AlertWhy, "already failing") {
		t.Fatalf("after the failed baseline read: want an alert-only verdict, got %s (alert-only %v)", v.Summary, v.AlertOnly)
	}
	requireKnownGoodProbes(t, v)
	pb.requireNoRollback()
	if res := pb.replayTrace(); res.Outcome != replay.Undecided || !res.AlertOnly {
		t.Fatalf("the recorded trace replays to %s (alert-only %v), want undecided, alert only", res.Outcome, res.AlertOnly)
	}
}

// TestProbeBaselineSurvivesReload: a reload with other settings after
// the CloudWatch baseline is in rebuilds the watch's evidence and reads
// that baseline again; the probe results from before the deploy, which
// nothing can read again, are kept, so a deploy onto a known-good that
// was already failing its probe still only alerts.
func TestProbeBaselineSurvivesReload(t *testing.T) {
	pb := newProbeBaselineWorld(t, map[string]bool{"1": true, "2": true})
	v := pb.deployAndJudge("2", func(v policy.Verdict) bool {
		_, ts, _ := pb.d.snapshot()
		return v.Kind == policy.Failing && ts["api"].Memory.Baselined(pb.watch.ID)
	})
	if !v.AlertOnly {
		t.Fatalf("before the reload: %s, want alert only", v.Summary)
	}
	next := *pb.conf
	next.Targets = append([]config.Target(nil), pb.conf.Targets...)
	next.Targets[0].BakeTime.Duration = 2 * time.Minute
	if err := pb.d.Reload(&next); err != nil {
		t.Fatal(err)
	}
	v = pb.judgeUntil(func(v policy.Verdict) bool {
		_, ts, _ := pb.d.snapshot()
		return v.Kind == policy.Failing && ts["api"].Memory.Baselined(pb.watch.ID)
	})
	if !v.AlertOnly {
		t.Fatalf("after a reload: %s (alert-only %v), want alert only", v.Summary, v.AlertOnly)
	}
	requireKnownGoodProbes(t, v)
	pb.requireNoRollback()
}

// TestProbeBaselineSurvivesRestart: a deploy onto a known-good that was
// already failing its probe only alerts, and still only alerts after
// canaryd restarts: the new process never saw the known-good alone, and
// judges with the probe baseline the watch's record keeps. (Before it was
// kept there, the restarted process had no probe baseline and rolled back
// to the equally broken known-good.) The trace, written by both processes,
// replays to the same.
func TestProbeBaselineSurvivesRestart(t *testing.T) {
	pb := newProbeBaselineWorld(t, map[string]bool{"1": true, "2": true})
	v := pb.deployAndJudge("2", func(v policy.Verdict) bool { return v.Kind == policy.Failing })
	if !v.AlertOnly {
		t.Fatalf("before the restart: %s (alert-only %v), want alert only", v.Summary, v.AlertOnly)
	}
	if pb.watch.ProbeBaseline == nil || len(pb.watch.ProbeBaseline.AtNS) < 10 {
		t.Fatalf("the watch's record keeps %+v, want the known-good's probe results of the minutes before the deploy", pb.watch.ProbeBaseline)
	}
	pb.start()
	v = pb.judgeUntil(func(v policy.Verdict) bool { return v.Kind == policy.Failing })
	if !v.AlertOnly || !strings.Contains(v.AlertWhy, "already failing") {
		t.Fatalf("after the restart: %s (alert-only %v), want alert only", v.Summary, v.AlertOnly)
	}
	requireKnownGoodProbes(t, v)
	for range 60 {
		pb.step()
	}
	pb.requireNoRollback()
	if res := pb.replayTrace(); res.Outcome != replay.Undecided || !res.AlertOnly {
		t.Fatalf("the recorded trace replays to %s (alert-only %v), want undecided, alert only", res.Outcome, res.AlertOnly)
	}
}

// probeBaselineWorld is a daemon on a fake clock against awssim, target
// "api" probed every 5 s by a health endpoint that fails for the versions
// in bad.
type probeBaselineWorld struct {
	t     *testing.T
	ctx   context.Context
	clk   *clockwork.FakeClock
	sim   *awssim.Sim
	st    store.Store
	d     *Daemon
	conf  *config.Config
	logs  *observer.ObservedLogs
	watch store.Watch // the deploy's, once seen
	reads int         // GetMetricData calls answered before the fault (the known-good's adoption)

	deadline time.Time // real time: a test that hangs fails instead
}

func newProbeBaselineWorld(t *testing.T, bad map[string]bool) *probeBaselineWorld {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	sim, _ := awssim.Start(t, awssim.Options{Clock: clk, AutoCreateDistributions: true})
	sim.Deploy("api", "live", "1", nil)
	var mu sync.Mutex
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v, _, _ := sim.Alias("api", "live")
		mu.Lock()
		failing := bad[v]
		mu.Unlock()
		if failing {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(health.Close)
	// The AWS deadlines are long: a hung call stays hung for the test.
	src := fmt.Sprintf(`
[daemon]
poll_interval = "2s"
trace_dir = %q
[aws]
region = "us-east-1"
endpoint_url = %q
max_backoff = "10ms"
max_attempts = 2
retry_mode = "standard"
read_timeout = "10m"
response_header_timeout = "10m"
%s
`, t.TempDir(), sim.URL(), hungTarget("api", health.URL))
	conf, err := config.Parse([]byte(src), "test.toml", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "canaryd.db"), boltstore.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		_ = st.Close() // after the daemons' cleanups (LIFO)
	})
	pb := &probeBaselineWorld{t: t, ctx: ctx, clk: clk, sim: sim, st: st, conf: conf, deadline: time.Now().Add(60 * time.Second)}
	pb.start()
	// Three minutes of the known-good version 1 alone: its probe results
	// are the next watch's probe baseline.
	for known(t, st, "api") != "1" {
		pb.step()
	}
	for range 180 {
		pb.step()
	}
	return pb
}

// start starts a daemon process on the world's store and trace directory;
// the one before, if any, is no longer stepped (as if it had died).
func (pb *probeBaselineWorld) start() {
	t := pb.t
	core, logs := observer.New(zap.WarnLevel)
	d, err := New(Config{Conf: pb.conf, Store: pb.st, Clock: pb.clk, Logger: zap.New(core),
		AWS: awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.runner.Cancel() // ends the hung reads
		d.runner.Wait()
		d.current().detector.Wait()
		d.traces.Flush(10 * time.Second) // before the trace directory is removed
	})
	pb.d, pb.logs = d, logs
}

// inject makes every GetMetricData call from now on fail as f says.
func (pb *probeBaselineWorld) inject(f awssim.Fault) {
	pb.reads = len(pb.sim.Calls("GetMetricData"))
	pb.sim.InjectFault(f)
}

// step is one second of fake time: a tick, then its probes and alias reads
// done before the clock moves on.
func (pb *probeBaselineWorld) step() {
	pb.t.Helper()
	pb.clk.Advance(time.Second)
	pb.d.Tick(pb.ctx)
	pb.d.current().prober.Wait()
	for len(pb.d.current().detector.Reading()) > 0 {
		if time.Now().After(pb.deadline) {
			pb.t.Fatalf("alias reads still in flight")
		}
		runtime.Gosched()
	}
	if time.Now().After(pb.deadline) {
		pb.t.Fatal("no result within 60 s")
	}
}

// deployAndJudge moves the alias to version and steps until the watch's
// verdict satisfies done (at most 5 minutes of fake time).
func (pb *probeBaselineWorld) deployAndJudge(version string, done func(policy.Verdict) bool) policy.Verdict {
	pb.t.Helper()
	pb.sim.Deploy("api", "live", version, nil)
	return pb.judgeUntil(done)
}

func (pb *probeBaselineWorld) judgeUntil(done func(policy.Verdict) bool) policy.Verdict {
	pb.t.Helper()
	var last policy.Verdict
	for range 300 {
		pb.step()
		w, err := pb.st.ListWatches(pb.ctx, store.WatchFilter{Target: "api", Limit: 1})
		if err != nil {
			pb.t.Fatal(err)
		}
		if len(w) == 0 {
			continue
		}
		pb.watch = w[0]
		_, ts, _ := pb.d.snapshot()
		v, ok := ts["api"].Memory.Verdict(pb.watch.ID)
		if !ok {
			continue
		}
		if last = v; done(v) {
			return v
		}
	}
	pb.t.Fatalf("after 5 minutes of fake time, the last verdict: %s", last.Summary)
	return last
}

// replayTrace replays the trace the daemon recorded of the watch.
func (pb *probeBaselineWorld) replayTrace() replay.Result {
	pb.t.Helper()
	f, _, err := pb.d.Traces().OpenTrace(pb.watch)
	if err != nil {
		pb.t.Fatal(err)
	}
	defer f.Close()
	res, err := replay.Run(pb.ctx, f, pb.conf.Targets[0], replay.Options{})
	if err != nil {
		pb.t.Fatalf("replay of the recorded trace: %v", err)
	}
	return res
}

// requireNoRollback: no incident, no UpdateAlias.
func (pb *probeBaselineWorld) requireNoRollback() {
	pb.t.Helper()
	incs, err := pb.st.ListIncidents(pb.ctx, "api", 1)
	if err != nil {
		pb.t.Fatal(err)
	}
	if len(incs) > 0 || len(pb.sim.Calls("UpdateAlias")) > 0 {
		pb.t.Fatalf("rolled back to a version that was failing its probe before the deploy: incidents %+v, UpdateAlias %d", incs, len(pb.sim.Calls("UpdateAlias")))
	}
}

// requireCloudWatchSilent: no GetMetricData call was answered (every one
// hangs): the verdict came without the CloudWatch baseline.
func (pb *probeBaselineWorld) requireCloudWatchSilent() {
	pb.t.Helper()
	if n := len(pb.sim.Calls("GetMetricData")) - pb.reads; n != 0 {
		pb.t.Fatalf("CloudWatch answered %d GetMetricData calls since the fault: the test meant them to hang", n)
	}
}

// requireKnownGoodProbes: the probe rule's finding compares with the
// known-good's probe results from before the deploy.
func requireKnownGoodProbes(t *testing.T, v policy.Verdict) {
	t.Helper()
	for _, f := range v.Findings {
		if f.RuleKind == config.RuleProbe && f.Breached {
			if !strings.Contains(f.Note, "known-good before the deploy") {
				t.Fatalf("the probe rule tripped without the known-good's probe results: %s", f)
			}
			return
		}
	}
	t.Fatalf("no probe rule tripped: %s", v.Summary)
}
