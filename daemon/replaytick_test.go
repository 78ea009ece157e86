package daemon

import (
	"bytes"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/replay"
	"github.com/canaryd/canaryd/store"
)

// TestRecordedTraceReplaysToTheTick: a probe result that arrives after its
// tick's evaluation, at the same instant (the daemon does not wait for its
// probes; here the clock has not moved meanwhile), is first judged at the
// next tick. The trace records it as delivered then, so the recorded trace
// replays to the very instant the daemon tripped at, not a tick before.
func TestRecordedTraceReplaysToTheTick(t *testing.T) {
	pb := newProbeBaselineWorld(t, map[string]bool{"2": true})
	v := pb.deployAndJudge("2", func(v policy.Verdict) bool { return v.Kind == policy.Failing })
	for range 5 { // the incident is opened by the tick that tripped
		pb.step()
	}
	incs, err := pb.st.ListIncidents(pb.ctx, "api", 1)
	if err != nil || len(incs) == 0 {
		t.Fatalf("failing (%s), but no incident: %v", v.Summary, err)
	}
	res := pb.replayTrace()
	if res.Outcome != replay.RolledBack || !res.DecidedAt.Equal(incs[0].OpenedAt) {
		t.Fatalf("the recorded trace replays to %s at %s, the daemon tripped at %s", res.Outcome,
			res.DecidedAt.Format("15:04:05.000"), incs[0].OpenedAt.Format("15:04:05.000"))
	}
	// The trace records the trip itself, and replay says it agrees.
	if o, at, ok := res.RecordedOutcome(); !ok || o != replay.RolledBack || !at.Equal(incs[0].OpenedAt) {
		t.Fatalf("the trace records %s at %s (%v), want the trip at %s", o, at, ok, incs[0].OpenedAt)
	}
	var out strings.Builder
	res.WriteTimeline(&out)
	if !strings.Contains(out.String(), "replay agrees with the daemon: rolled_back at +") {
		t.Fatalf("replay's report of the recorded trace:\n%s", out.String())
	}
}

// TestRecordedTraceReplaysSlowReads: CloudWatch answers every
// GetMetricData call late (20 ms of real time, while the test's ticks run
// on: several seconds of the daemon's), so each metric cycle's periods
// reach the watch seconds after the cycle began. The recorded trace says
// when ("answered"), and replaying it trips at the very instant the daemon
// did; without "answered", replay would judge each read when it began,
// and trip sooner.
func TestRecordedTraceReplaysSlowReads(t *testing.T) {
	h := errorsRecorded(t, true)
	h.sim.InjectFault(awssim.Fault{API: "GetMetricData", Kind: awssim.FaultLatency, Latency: 20 * time.Millisecond, Rate: 1})
	deadline := time.Now().Add(60 * time.Second)
	// A tick, its alias reads and probes done before the clock moves on
	// (the metric cycles are not waited for).
	step := func() {
		h.step(time.Second)
		h.d.current().prober.Wait()
		for len(h.d.current().detector.Reading()) > 0 {
			if time.Now().After(deadline) {
				t.Fatal("alias reads still in flight")
			}
			runtime.Gosched()
		}
	}
	for i := 0; h.target().KnownGood != "1"; i++ {
		if i == 60 {
			t.Fatal("version 1 not adopted in a minute")
		}
		step()
	}
	h.sim.Deploy(fn, alias, "3", nil)
	var inc store.Incident
	for inc.ID == "" {
		if time.Now().After(deadline) {
			t.Fatal("no trip within 60 s")
		}
		step()
		inc = h.incident()
	}
	w, err := h.store.GetWatch(h.ctx, inc.WatchID)
	if err != nil {
		t.Fatal(err)
	}
	data := h.recordedTrace(w)
	if !bytes.Contains(data, []byte(`"answered"`)) {
		t.Fatal(`no read answered late: the test meant CloudWatch to be slow`)
	}
	tgt := h.conf.Targets[0]
	res, err := replay.Run(h.ctx, bytes.NewReader(data), tgt, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(inc.Verdict), `"errors"`) {
		t.Fatalf("tripped on %s, want the errors rule", inc.Verdict)
	}
	if res.Outcome != replay.RolledBack || !res.DecidedAt.Equal(inc.OpenedAt) {
		t.Fatalf("the recorded trace replays to %s at %s, the daemon tripped at %s", res.Outcome,
			res.DecidedAt.Format("15:04:05.000"), inc.OpenedAt.Format("15:04:05.000"))
	}
	// Without "answered" the trace would say the reads were there when
	// they began: replay trips sooner than the daemon did.
	plain := regexp.MustCompile(`,"answered":"[^"]*"`).ReplaceAll(data, nil)
	early, err := replay.Run(h.ctx, bytes.NewReader(plain), tgt, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if early.Outcome != replay.RolledBack || !early.DecidedAt.Before(inc.OpenedAt) {
		t.Fatalf("without answered: %s at %s, want a trip before the daemon's %s", early.Outcome,
			early.DecidedAt.Format("15:04:05.000"), inc.OpenedAt.Format("15:04:05.000"))
	}
	t.Logf("tripped at +%s; the reads' answers ignored, replay would trip at +%s",
		inc.OpenedAt.Sub(w.DetectedAt), early.DecidedAt.Sub(w.DetectedAt))
}

// TestRecordedTraceReplaysSlippedTicks: a daemon whose ticks do not come
// every second (a slow tick, a paused process) or whose restart moved
// their phase runs its metric cycles at other instants than replay's
// model of them (a period boundary plus watch.MetricDelay, on a grid of
// seconds from the deploy): before the deploy record's "reads", replay
// read each period at its modelled cycle, before the daemon's read had
// it, then 10 s later at the next, and promoted a deploy the daemon
// rolled back. The trace records when each cycle read, and replay gives
// the watch each read then, so it trips at the daemon's instant whatever
// the ticks were.
func TestRecordedTraceReplaysSlippedTicks(t *testing.T) {
	for _, c := range []struct {
		name    string
		dt      time.Duration // between ticks
		restart int           // a restart after this many ticks of the watch, 3.4 s down (0: none)
	}{{"1.7s", 1700 * time.Millisecond, 0}, {"2.3s", 2300 * time.Millisecond, 0}, {"restart", time.Second, 100}} {
		dt := c.dt
		t.Run(c.name, func(t *testing.T) {
			h := errorsRecorded(t, false)
			for i := 0; h.target().KnownGood != "1"; i++ {
				if i == 60 {
					t.Fatal("version 1 not adopted in a minute")
				}
				h.step(dt)
			}
			h.sim.Deploy(fn, alias, "3", nil)
			var inc store.Incident
			for i := 0; inc.ID == ""; i++ {
				if i == 300 {
					t.Fatal("no trip within 300 ticks")
				}
				if i == c.restart && c.restart > 0 {
					h.stop()
					h.clk.Advance(3400 * time.Millisecond) // the ticks' phase moves by 0.4 s
					h.start(false)
				}
				h.step(dt)
				inc = h.incident()
			}
			w, err := h.store.GetWatch(h.ctx, inc.WatchID)
			if err != nil {
				t.Fatal(err)
			}
			data := h.recordedTrace(w)
			res, err := replay.Run(h.ctx, bytes.NewReader(data), h.conf.Targets[0], replay.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var tl strings.Builder
			res.WriteTimeline(&tl)
			if !res.RecordedReads || !strings.Contains(tl.String(), "; metric periods when the daemon read them)") {
				t.Fatalf("the daemon's trace does not say its reads are recorded, or replay does not say it used them:\n%s", tl.String())
			}
			if res.Outcome != replay.RolledBack || !res.DecidedAt.Equal(inc.OpenedAt) {
				t.Fatalf("the recorded trace replays to %s at %s, the daemon tripped at %s\n%s", res.Outcome,
					res.DecidedAt.Format("15:04:05.000"), inc.OpenedAt.Format("15:04:05.000"), tl.String())
			}
			t.Logf("tripped at +%s", inc.OpenedAt.Sub(w.DetectedAt))
		})
	}
}

// errorsRecorded is a daemon recording its traces, with an error_rate rule
// beside the probe (which passes), and traffic at 600 a minute: version 1
// at 0.1 % errors, version 3 at 30 %. async: probes, alias reads and
// metric cycles in the background.
func errorsRecorded(t *testing.T, async bool) *harness {
	h := newHarness(t, harnessOpts{async: async, daemonTOML: fmt.Sprintf("trace_dir = %q", t.TempDir()), extraTarget: `
  [[target.rule]]
  name = "errors"
  kind = "error_rate"
  threshold = 0.05
`})
	h.setBad("3", false) // the probe passes: the errors decide
	h.withTraffic(func(v string) awssim.Profile {
		p := awssim.Profile{InvocationsPerMin: 600, ErrorRate: 0.001, DurationMs: 40, DurationJitterMs: 5, Seed: 7}
		if v == "3" {
			p.ErrorRate = 0.3
		}
		return p
	})
	return h
}
