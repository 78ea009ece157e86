package daemon

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/tracegen"
	"github.com/canaryd/canaryd/replay"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// The parity test is the contract that `canaryd replay` is a faithful
// backtest: a trace served to the real daemon — its metric periods through
// the AWS simulator as they are delivered, its probe results by a local
// health endpoint answering each probe as the trace says, the deploy
// announced at the trace's instant — reaches the same outcome as replaying
// the trace, within one tick.

const tracesDir = "../testdata/traces"

// parityScenarios is how many generated scenarios the parity test serves
// (`make parity` runs 300; each is about 0.2 s).
var parityScenarios = flag.Int("parity", 24, "generated scenarios in TestReplayAgreesWithTheDaemon")

// parityFirst is the seed of the first generated scenario: other seeds
// than make parity's 1-300 look for disagreements it has not seen.
var parityFirst = flag.Uint64("parity.first", 1, "seed of the first generated scenario in TestReplayAgreesWithTheDaemon")

// daemonOutcome is what the daemon did with the served trace.
type daemonOutcome struct {
	verdict   string // the watch's last verdict
	outcome   replay.Outcome
	decidedAt time.Time
	alertOnly bool
	probesOff []time.Time // probes the trace had no answer for
	history   bool        // the daemon read the counts a day back (shape_window)
	// historyQueries is how many series that read asked for: the three
	// counts and the known-good's trimmed counts (BaselineStats.History).
	historyQueries int
	traces         string // its daemon.trace_dir
}

func TestReplayAgreesWithTheDaemon(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(tracesDir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no traces: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) { checkParity(t, data) })
	}
	n := *parityScenarios
	if testing.Short() {
		n = min(n, 12)
	}
	for seed := *parityFirst; seed < *parityFirst+uint64(n); seed++ {
		data := randomScenario(seed)
		t.Run(fmt.Sprintf("scenario-%d", seed), func(t *testing.T) { checkParity(t, data) })
	}
}

func checkParity(t *testing.T, data []byte) {
	tgt := parityTarget(t, data)
	want, err := replay.Run(context.Background(), bytes.NewReader(data), tgt, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := runDaemonOn(t, tgt, data, want.Final.At)
	checkRecorded(t, tgt, got)
	if got.history != (tgt.ShapeWindow.Duration > tgt.BaselineWindow.Duration) {
		t.Fatalf("the daemon read a shape history: %v; the target has one: %v", got.history, tgt.ShapeWindow)
	}
	if got.history && bytes.Contains(data, []byte(`"metric":"Duration.TC(`)) && got.historyQueries <= 3 {
		t.Fatalf("the daemon read the shape history in %d queries: not the known-good's trimmed counts", got.historyQueries)
	}
	if len(got.probesOff) > 0 {
		t.Fatalf("the daemon probed at %v, where the trace has no probe result", got.probesOff)
	}
	diff := got.decidedAt.Sub(want.DecidedAt)
	if got.outcome != want.Outcome || got.alertOnly != want.AlertOnly || diff < -replay.Tick || diff > replay.Tick {
		var tl strings.Builder
		want.WriteTimeline(&tl)
		t.Fatalf("daemon: %s at %s (alert-only %v), last verdict %s\nreplay: %s at %s (alert-only %v)\n%s",
			got.outcome, got.decidedAt.Format(time.TimeOnly), got.alertOnly, got.verdict,
			want.Outcome, want.DecidedAt.Format(time.TimeOnly), want.AlertOnly, tl.String())
	}
}

// parityTarget is testdata/traces/target.toml; a trace without probe
// results is judged without the probe and its rule, by both.
func parityTarget(t *testing.T, data []byte) config.Target {
	cfg, err := config.Load(filepath.Join(tracesDir, "target.toml"))
	if err != nil {
		t.Fatal(err)
	}
	tgt := cfg.Targets[0]
	if hasShapeHistory(t, data, tgt) {
		tgt.ShapeWindow.Duration = 24 * time.Hour
	}
	if !bytes.Contains(data, []byte(`"kind":"probe"`)) {
		tgt.Probes = nil
		var rules []config.Rule
		for _, r := range tgt.Rules {
			if r.Kind != config.RuleProbe {
				rules = append(rules, r)
			}
		}
		tgt.Rules = rules
	}
	return tgt
}

// hasShapeHistory reports whether the trace has baseline records older
// than the target's baseline_window: a shape history, which both the
// daemon (through the simulator) and replay then read.
func hasShapeHistory(t *testing.T, data []byte, tgt config.Target) bool {
	tr, err := replay.Parse(bytes.NewReader(data), tgt.MetricPeriod.Duration)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tr.Records {
		if r.Type == replay.RecordBaseline && r.Sample.Time.Before(tr.Deploy.Time.Add(-tgt.BaselineWindow.Duration-tgt.MetricPeriod.Duration)) {
			return true
		}
	}
	return false
}

// runDaemonOn serves the trace to a daemon on a fake clock, one tick a
// second from two minutes before the deploy until the daemon decides or
// the trace ends.
func runDaemonOn(t *testing.T, tgt config.Target, data []byte, end time.Time) daemonOutcome {
	tr, err := replay.Parse(bytes.NewReader(data), tgt.MetricPeriod.Duration)
	if err != nil {
		t.Fatal(err)
	}
	dep := tr.Deploy
	clk := clockwork.NewFakeClockAt(dep.Time.Add(tracegen.DaemonStart.Sub(tracegen.Deploy)))
	sim, _ := awssim.Start(t, awssim.Options{Clock: clk, AutoCreateDistributions: true})
	fn, alias := tgt.Function, tgt.Alias
	if dep.KnownGood != "" {
		sim.Deploy(fn, alias, dep.KnownGood, nil)
	} else {
		sim.Deploy(fn, alias, "1", nil)
	}
	probes := newTraceProbes(clk, tr)
	srv := httptest.NewServer(probes)
	t.Cleanup(srv.Close)
	d, st, traces := parityDaemon(t, clk, sim, tgt, srv.URL)
	ctx := context.Background()
	if dep.KnownGood == "" { // canaryd has seen the alias, but never a version it could call good
		if err := st.PutTarget(ctx, store.TargetState{Name: tgt.Name, Version: "1", ObservedAt: clk.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	feed := newSimFeed(sim, fn, alias, tr)
	out := daemonOutcome{traces: traces}
	for now := clk.Now(); !now.After(end); now = clk.Now() {
		if now.Equal(dep.Time) {
			deploy(t, ctx, d, sim, tgt, dep)
		}
		feed.deliver(now)
		cycle := !now.Before(d.obs.NextMetrics())
		if cycle && feed.failing {
			// A recorded read failure fails the first cycle after it.
			sim.InjectFault(awssim.Fault{API: "GetMetricData", Kind: awssim.Fault5xx, Count: 2})
			feed.failing = false
		}
		d.Tick(ctx)
		sim.ClearFaults()
		if decided(t, st, tgt.Name, &out) {
			break
		}
		clk.Advance(replay.Tick)
	}
	if out.outcome == "" {
		out.outcome = replay.Undecided
	}
	if !d.traces.Flush(10 * time.Second) {
		t.Fatal("the daemon's trace was not written within 10 s")
	}
	for _, at := range probes.missed() {
		// A rollback's plan verifies the known-good's health with a
		// probe round at once (actions.verify), at the trip's instant,
		// where the clock stays: the plan is the daemon's, not the
		// watch's, and replay runs none. Whether it has probed by now is a
		// race with this read.
		if out.outcome == replay.RolledBack && at.Equal(out.decidedAt) {
			continue
		}
		out.probesOff = append(out.probesOff, at)
	}
	from, to := dep.Time.Truncate(time.Minute).Add(-tgt.ShapeWindow.Duration), dep.Time.Truncate(time.Minute).Add(-tgt.BaselineWindow.Duration)
	for _, c := range sim.Calls("GetMetricData") {
		st, _ := c.Params["StartTime"].(time.Time)
		en, _ := c.Params["EndTime"].(time.Time)
		if st.Equal(from) && en.Equal(to) {
			out.history = true
			out.historyQueries, _ = c.Params["Queries"].(int)
		}
	}
	return out
}

// deploy moves the alias as the trace's deploy says and announces it, so
// the watch starts at the trace's instant.
func deploy(t *testing.T, ctx context.Context, d *Daemon, sim *awssim.Sim, tgt config.Target, dep replay.Deploy) {
	if dep.Split {
		sim.Deploy(tgt.Function, tgt.Alias, dep.KnownGood, map[string]float64{dep.NewVersion: 0.1})
	} else {
		sim.Deploy(tgt.Function, tgt.Alias, dep.NewVersion, nil)
	}
	if _, err := d.Controller().AnnounceDeploy(ctx, tgt.Name, dep.NewVersion); err != nil {
		t.Fatalf("announce: %v", err)
	}
}

// decided reads what the daemon did: a rollback (its incident), a
// promotion, or a watch that failed while it could only alert.
func decided(t *testing.T, st store.Store, target string, out *daemonOutcome) bool {
	ws, err := st.ListWatches(context.Background(), store.WatchFilter{Target: target, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) == 0 {
		return false
	}
	w := ws[0]
	out.alertOnly, out.verdict = !w.AlertOnlyAt.IsZero(), string(w.LastVerdict)
	switch {
	case w.IncidentID != "":
		inc, err := st.GetIncident(context.Background(), w.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		out.outcome, out.decidedAt = replay.RolledBack, inc.OpenedAt
		return true
	case !w.PromotedAt.IsZero():
		out.outcome, out.decidedAt = replay.Promoted, w.PromotedAt
		return w.Phase.Final()
	}
	return false
}

func parityDaemon(t *testing.T, clk *clockwork.FakeClock, sim *awssim.Sim, tgt config.Target, probeURL string) (*Daemon, store.Store, string) {
	raw, err := os.ReadFile(filepath.Join(tracesDir, "target.toml"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(raw), "https://checkout.example.com/health", probeURL+"/health", 1)
	src = strings.Replace(src, "[aws]\n", fmt.Sprintf("[aws]\nendpoint_url = %q\nretry_mode = \"standard\"\nmax_attempts = 2\nmax_backoff = \"10ms\"\n", sim.URL()), 1)
	path := filepath.Join(t.TempDir(), "canaryd.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	conf.Targets[0].Probes, conf.Targets[0].Rules = withURL(tgt.Probes, probeURL), tgt.Rules
	conf.Targets[0].ShapeWindow = tgt.ShapeWindow
	conf.Daemon.TraceDir = t.TempDir()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "canaryd.db"), boltstore.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Conf: conf, Store: st, Clock: clk, Logger: zap.NewNop(), Synchronous: true,
		AWS: awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.runner.Cancel()
		d.runner.Wait()
		_ = st.Close()
	})
	return d, st, conf.Daemon.TraceDir
}

// checkRecorded replays the trace the daemon recorded of its watch
// (daemon.trace_dir) and requires the daemon's outcome, within one tick:
// a recorded trace reproduces the decision it records.
func checkRecorded(t *testing.T, tgt config.Target, got daemonOutcome) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(got.traces, "*", "*.jsonl"))
	if err != nil || len(files) != 1 {
		t.Fatalf("recorded traces: %v %v, want one", files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	res, err := replay.Run(context.Background(), bytes.NewReader(data), tgt, replay.Options{})
	if err != nil {
		t.Fatalf("replay of the recorded trace: %v", err)
	}
	diff := res.DecidedAt.Sub(got.decidedAt)
	if res.Outcome != got.outcome || res.AlertOnly != got.alertOnly || diff < -replay.Tick || diff > replay.Tick {
		var tl strings.Builder
		res.WriteTimeline(&tl)
		t.Fatalf("daemon: %s at %s (alert-only %v)\nits recorded trace replays to: %s at %s (alert-only %v)\n%s\ntrace %s",
			got.outcome, got.decidedAt.Format(time.TimeOnly), got.alertOnly,
			res.Outcome, res.DecidedAt.Format(time.TimeOnly), res.AlertOnly, tl.String(), files[0])
	}
}

func withURL(ps []config.Probe, base string) []config.Probe {
	out := append([]config.Probe(nil), ps...)
	for i := range out {
		out[i].URL = base + "/" + out[i].Name
	}
	return out
}

// traceProbes answers each probe with the trace's result for that instant.
type traceProbes struct {
	clk     clockwork.Clock
	results map[time.Time]bool

	mu   sync.Mutex
	miss []time.Time
}

func newTraceProbes(clk clockwork.Clock, tr replay.Trace) *traceProbes {
	p := &traceProbes{clk: clk, results: map[time.Time]bool{}}
	for _, r := range tr.Records {
		if (r.Type == replay.RecordSample || r.Type == replay.RecordBaseline) && r.Sample.Kind == sample.KindProbe {
			p.results[r.Sample.Time.UTC()] = r.Sample.Outcome == sample.OutcomeOK
		}
	}
	return p
}

func (p *traceProbes) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	now := p.clk.Now().UTC()
	ok, known := p.results[now]
	if !known {
		p.mu.Lock()
		p.miss = append(p.miss, now)
		p.mu.Unlock()
	}
	if known && !ok {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, `{"status":"ok"}`)
}

func (p *traceProbes) missed() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.miss
}

// simFeed puts the trace's metric periods into the simulator as they are
// delivered; a recorded read failure fails the next GetMetricData call.
type simFeed struct {
	sim       *awssim.Sim
	fn, alias string
	recs      []replay.Record
	next      int
	failing   bool // a read failure was delivered since the last cycle
}

func newSimFeed(sim *awssim.Sim, fn, alias string, tr replay.Trace) *simFeed {
	f := &simFeed{sim: sim, fn: fn, alias: alias, recs: tr.Records}
	// The baseline is in CloudWatch before the daemon starts.
	var base []sample.Sample
	for _, r := range tr.Records {
		if r.Type == replay.RecordBaseline && r.Sample.Kind == sample.KindMetric {
			base = append(base, r.Sample)
		}
	}
	f.put(base)
	return f
}

func (f *simFeed) deliver(now time.Time) {
	var ok []sample.Sample
	for ; f.next < len(f.recs) && !f.recs[f.next].At.After(now); f.next++ {
		r := f.recs[f.next]
		if r.Type != replay.RecordSample || r.Sample.Kind != sample.KindMetric {
			continue
		}
		switch r.Sample.Outcome {
		case sample.OutcomeOK:
			ok = append(ok, r.Sample)
		case sample.OutcomeSourceError:
			f.failing = true
		}
	}
	f.put(ok)
}

// put writes periods' values where the watcher reads them: the alias's
// Resource dimension, with ExecutedVersion for per-version samples. A
// period's Duration becomes raw values with exactly the trace's p99 and
// trimmed counts TC(X:) (tracegen.SlowCount keeps them consistent): its
// invocations split at the thresholds, each part at one value. A shape
// history period has trimmed counts and no p99: its values below the
// first threshold are 0 ms.
func (f *simFeed) put(ss []sample.Sample) {
	type key struct {
		t time.Time
		v string
	}
	inv := map[key]float64{}
	p99 := map[key]float64{}
	slow := map[key]map[float64]float64{}
	for _, s := range ss {
		k := key{s.Time, s.Version}
		switch {
		case s.Metric == "Invocations":
			inv[k] = s.Value
		case s.Metric == "Duration.p99":
			p99[k] = s.Value
			continue
		case strings.HasPrefix(s.Metric, "Duration.TC("):
			x, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(s.Metric, "Duration.TC("), ":)"), 64)
			if err != nil {
				panic(s.Metric)
			}
			if slow[k] == nil {
				slow[k] = map[float64]float64{}
			}
			slow[k][x] = s.Value
			continue
		}
		name, _, _ := strings.Cut(s.Metric, ".")
		f.sim.PutDatapoint("AWS/Lambda", name, f.dims(s.Version), s.Time, s.Value)
	}
	for k, v := range p99 {
		f.sim.PutDatapoint("AWS/Lambda", "Duration", f.dims(k.v), k.t, durations(v, inv[k], slow[k])...)
	}
	for k, s := range slow {
		if _, ok := p99[k]; !ok { // a shape history period: its trimmed counts alone
			f.sim.PutDatapoint("AWS/Lambda", "Duration", f.dims(k.v), k.t, durations(0, inv[k], s)...)
		}
	}
}

func (f *simFeed) dims(version string) map[string]string {
	dims := map[string]string{"FunctionName": f.fn, "Resource": f.fn + ":" + f.alias}
	if version != "" {
		dims["ExecutedVersion"] = version
	}
	return dims
}

// durations are n raw values whose 99th percentile is p99 and of which
// slow[X] are above X, for every X: between consecutive thresholds the
// invocations sit at p99 when it falls there, else at the upper threshold
// (one ms above the last).
func durations(p99, n float64, slow map[float64]float64) []float64 {
	if len(slow) == 0 || n <= 0 {
		return []float64{p99}
	}
	xs := make([]float64, 0, len(slow))
	for x := range slow {
		xs = append(xs, x)
	}
	slices.Sort(xs)
	var out []float64
	above := n // invocations above the previous threshold
	lo := math.Inf(-1)
	for i := 0; i <= len(xs); i++ {
		hi, rest := math.Inf(1), 0.0
		if i < len(xs) {
			hi, rest = xs[i], slow[xs[i]]
		}
		v := hi
		switch {
		case p99 > lo && p99 <= hi:
			v = p99
		case math.IsInf(hi, 1):
			v = xs[len(xs)-1] + 1
		}
		for j := 0.0; j < above-rest; j++ {
			out = append(out, v)
		}
		above, lo = rest, hi
	}
	return out
}
