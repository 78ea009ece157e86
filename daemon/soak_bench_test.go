package daemon

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
)

// soakConfig sizes the soak; every field has an environment override.
type soakConfig struct {
	targets  int           // CANARYD_SOAK_TARGETS (10000)
	warmup   time.Duration // CANARYD_SOAK_WARMUP minutes (90): past soakRetention, not measured
	duration time.Duration // CANARYD_SOAK_MINUTES (120): the measured part
	every    time.Duration // CANARYD_SOAK_EVERY minutes (10): heap sample interval
	tick     time.Duration // CANARYD_SOAK_TICK (1s): the daemon's tick, as in production
	// profiles, when set, is a directory that gets a heap profile per
	// sample (CANARYD_SOAK_PROFILES).
	profiles string
	// maxGrowth, when > 0, fails the run when the live heap grows with
	// time (beyond what the watches under way explain) faster than this
	// many bytes per target per simulated minute (CANARYD_SOAK_MAX_GROWTH).
	maxGrowth float64
	// compare runs the soak once per soakVariants in one process
	// (CANARYD_SOAK_COMPARE=1) and prints their heaps side by side.
	compare bool
}

func soakConfigFromEnv() (soakConfig, error) {
	c := soakConfig{
		targets:  envInt("CANARYD_SOAK_TARGETS", 10_000),
		warmup:   time.Duration(envInt("CANARYD_SOAK_WARMUP", 90)) * time.Minute,
		duration: time.Duration(envInt("CANARYD_SOAK_MINUTES", 120)) * time.Minute,
		every:    time.Duration(envInt("CANARYD_SOAK_EVERY", 10)) * time.Minute,
		tick:     time.Second,
		profiles: os.Getenv("CANARYD_SOAK_PROFILES"),
		compare:  os.Getenv("CANARYD_SOAK_COMPARE") == "1",
	}
	if v := os.Getenv("CANARYD_SOAK_TICK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("CANARYD_SOAK_TICK=%q: want a positive duration", v)
		}
		c.tick = d
	}
	if v := os.Getenv("CANARYD_SOAK_MAX_GROWTH"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return c, fmt.Errorf("CANARYD_SOAK_MAX_GROWTH=%q: %w", v, err)
		}
		c.maxGrowth = f
	}
	return c, nil
}

// soakRetention is how long after a deploy the daemon may still hold what
// it kept for it, the longest retention the design intends: the watch
// (bake 10m + rollback window 10m, soakTOML), then its evidence series, kept
// for the console's charts an hour after its last verdict
// (evidence.Config.Idle, default 1h) and swept once a minute. Until
// soakRetention after the first deploys the number of series held rises
// with every deploy, by design: the heap is not in its steady state, and a
// shorter warm-up measures that filling as growth. A 30-minute warm-up
// fitted 428 B/target/min over a heap that rose for the first hour and was
// then flat (10,000 targets, 2026-11-30); a 75-minute one still rose
// 5.2 KB/target between its first two samples (1,000 targets). The
// default warm-up (90 minutes) is past it, with a sample interval to spare.
const soakRetention = 10*time.Minute + 10*time.Minute + time.Hour + time.Minute

// soakProfileRate samples the heap profile every 8 bytes per target on
// average (80 KiB at 10,000 targets; the default is 512 KiB), so that one
// sample is worth 8 B per target whatever the size of the run.
func soakProfileRate(targets int) int { return max(8*targets, 4096) }

// BenchmarkSoak runs the whole daemon for CANARYD_SOAK_TARGETS targets
// (10,000) on the shared Redis store against awssim, on a fake clock
// ticking every second, through a warm-up past soakRetention (90 minutes) and then
// CANARYD_SOAK_MINUTES (120) simulated minutes. Targets deploy every 30
// or 15 minutes (announced, or found by the alias poll); a deploy bakes
// 10 minutes, is promoted and watched for its 10-minute rollback window,
// or is superseded inside it; one in eight trips (health probe or error
// rate) and is rolled back (alias, CloudFront, verify) with alerts to a
// webhook. The simulator's call log is off and its state is written before
// the run. Every CANARYD_SOAK_EVERY simulated minutes it measures the live
// heap after a GC and attributes the heap profile's in-use bytes to their
// owners; it reports heap per target over time, the growth rate per target
// per minute (least squares over the measured part) and the owners of the
// growth. One op is the whole soak: run it with -benchtime 1x (make soak).
func BenchmarkSoak(b *testing.B) {
	cfg, err := soakConfigFromEnv()
	if err != nil {
		b.Fatal(err)
	}
	prevRate := runtime.MemProfileRate
	runtime.MemProfileRate = soakProfileRate(cfg.targets)
	defer func() { runtime.MemProfileRate = prevRate }()
	if !cfg.compare {
		soakOnce(b, cfg, soakVariant{})
		return
	}
	var runs [][]soakRow
	for _, v := range soakVariants {
		b.Run(v.name, func(b *testing.B) { runs = append(runs, soakOnce(b, cfg, v)) })
	}
	if len(runs) == len(soakVariants) {
		fmt.Print(sideBySide(runs, float64(cfg.targets)))
	}
}

// soakVariant is what a run changes to show a fix's effect in the same
// process: CANARYD_SOAK_COMPARE=1 runs each of soakVariants.
type soakVariant struct {
	name string
	// dirCache is the Redis store's DirCacheSize (0: the default).
	dirCache int
}

var soakVariants = []soakVariant{
	// Before the fix the Redis store kept every id it registered or
	// looked up; a cache this large never evicts in a soak.
	{name: "before-unbounded-id-cache", dirCache: 1 << 30},
	{name: "after"},
}

// soakOnce builds a world, runs it and reports it.
func soakOnce(b *testing.B, cfg soakConfig, v soakVariant) []soakRow {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	from := start.Add(cfg.warmup)
	end := from.Add(cfg.duration)
	w := newSoakWorld(b, soakWorldConfig{targets: cfg.targets, start: start, end: end, dirCache: v.dirCache})
	w.prefillSeries(cfg.targets)
	b.Logf("soak: %d targets, %d deploys scheduled, warm-up %s, measured %s, tick %s",
		cfg.targets, len(w.plan), cfg.warmup, cfg.duration, cfg.tick)
	if cfg.warmup < soakRetention {
		fmt.Printf("warm-up %s is shorter than what the daemon keeps for a deploy (%s, soakRetention): "+
			"the measured part includes the evidence series filling in, not only growth\n", cfg.warmup, soakRetention)
	}
	if cfg.profiles != "" && v.name != "" {
		cfg.profiles = filepath.Join(cfg.profiles, v.name)
		if err := os.MkdirAll(cfg.profiles, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	rows := w.run(b, cfg, from, end)
	b.StopTimer()
	w.report(b, cfg, rows)
	return rows
}

// prefillSeries creates, at zero, every Prometheus series labelled by
// target that the daemon creates with its first event: verdicts by kind and
// samples by kind and outcome, at most 12 a target. A long-running daemon
// has them all; in the soak they fill in for hours, as each target meets its
// first failing verdict (one deploy in eight) or failed probe, about 570 B
// each (0.7 a target in the two hours after a 90-minute warm-up: 3.3 of the
// 7.2 B/target/min that run fitted). Bounded, and not what the gate looks
// for: created here, the measured part starts where a daemon running for
// days is.
func (w *soakWorld) prefillSeries(targets int) {
	kinds := []policy.Kind{policy.Healthy, policy.Failing, policy.Inconclusive, policy.Promote}
	outcomes := []sample.Outcome{sample.OutcomeOK, sample.OutcomeFail, sample.OutcomeNoData, sample.OutcomeSourceError}
	for i := range targets {
		name := soakName(i)
		for _, k := range kinds {
			w.d.metrics.Verdicts.WithLabelValues(name, string(k))
		}
		for _, k := range []sample.Kind{sample.KindProbe, sample.KindMetric} {
			for _, o := range outcomes {
				w.d.wmetrics.Samples.WithLabelValues(name, string(k), string(o))
			}
		}
	}
}

// sideBySide prints the live heap per target of each variant's run.
func sideBySide(runs [][]soakRow, n float64) string {
	var out strings.Builder
	fmt.Fprintf(&out, "\nlive heap per target (B), side by side:\n%7s", "sim-min")
	for _, v := range soakVariants {
		fmt.Fprintf(&out, " %26s", v.name)
	}
	out.WriteString("\n")
	for i := range runs[0] {
		fmt.Fprintf(&out, "%7.0f", runs[0][i].heap.at.Minutes())
		for _, rows := range runs {
			if i < len(rows) {
				fmt.Fprintf(&out, " %26.0f", float64(rows[i].heap.live)/n)
			}
		}
		out.WriteString("\n")
	}
	fmt.Fprintf(&out, "%7s", "B/t/min")
	for _, rows := range runs {
		fmt.Fprintf(&out, " %26.2f", soakGrowth(rows, n).live)
	}
	out.WriteString("\n")
	return out.String()
}

// soakRow is one heap sample with what the daemon was doing then.
type soakRow struct {
	heap      heapSample
	phases    map[store.Phase]int // active watches by phase
	deploys   int                 // deploys so far
	rollbacks int                 // UpdateAlias calls so far (each rollback makes one)
	alerts    int64               // alerts the webhook received so far
	dropped   float64             // alerts dropped from the notifier's full queue so far
	outbox    int                 // alerts in the store's outbox (not delivered yet)
	series    int                 // evidence series held for the charts (evidence.Recorder.Len)
	// promSeries counts the Prometheus series labelled by target that
	// appear with their first event (verdicts by kind, samples by kind and
	// outcome): bounded by targets x labels, they fill in for hours.
	promSeries int
	wall       time.Duration // real time since the run began
	maps       daemonMaps
}

// run ticks the daemon from the world's start to end, making each
// scheduled deploy when its time comes, and samples the heap every
// cfg.every from `from` on.
func (w *soakWorld) run(b *testing.B, cfg soakConfig, from, end time.Time) []soakRow {
	ctx := context.Background()
	began := time.Now()
	var rows []soakRow
	next, nextSample, failed := 0, from, 0
	for now := w.clk.Now(); !now.After(end); now = w.clk.Now() {
		for ; next < len(w.plan) && !w.plan[next].at.After(now); next++ {
			if err := w.deploy(ctx, w.plan[next]); err != nil {
				failed++
				if failed <= 3 {
					b.Logf("deploy %s v%s: %v", soakName(w.plan[next].target), w.plan[next].version, err)
				}
			}
		}
		w.d.Tick(ctx)
		if !now.Before(nextSample) {
			row := w.sample(b, cfg, now.Sub(from), next, time.Since(began))
			w.trend.add(row.heap)
			row.heap.byOwner = nil // the heap is measured, not grown
			rows = append(rows, row)
			nextSample = nextSample.Add(cfg.every)
		}
		w.clk.Advance(cfg.tick)
	}
	if failed > 0 {
		b.Errorf("%d deploys could not be announced", failed)
	}
	return rows
}

// deploy moves the alias as a pipeline would and, for most deploys,
// announces it.
func (w *soakWorld) deploy(ctx context.Context, d soakDeploy) error {
	name := soakName(d.target)
	w.sim.Deploy(name, "live", d.version, nil)
	if !d.announce {
		return nil
	}
	_, err := w.d.Controller().AnnounceDeploy(ctx, name, d.version)
	return err
}

func (w *soakWorld) sample(b *testing.B, cfg soakConfig, at time.Duration, deploys int, wall time.Duration) soakRow {
	row := soakRow{phases: map[store.Phase]int{}, deploys: deploys, rollbacks: w.sim.CallCount("UpdateAlias"),
		alerts: w.alerts.Load(), wall: wall}
	ws, err := w.store.ListWatches(context.Background(), store.WatchFilter{ActiveOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, x := range ws {
		row.phases[x.Phase]++
	}
	ws = nil
	out, err := w.store.ListOutbox(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	row.outbox = len(out)
	row.dropped = testutil.ToFloat64(w.d.nmetrics.Dropped.WithLabelValues("oncall"))
	row.series = w.d.Evidence().Len()
	row.promSeries = testutil.CollectAndCount(w.d.metrics.Verdicts) + testutil.CollectAndCount(w.d.wmetrics.Samples)
	row.maps = w.d.maps()
	if row.heap, err = sampleHeap(at, cfg.profiles); err != nil {
		b.Fatal(err)
	}
	return row
}

// report prints the table and the attribution and reports the metrics.
func (w *soakWorld) report(b *testing.B, cfg soakConfig, rows []soakRow) {
	if len(rows) == 0 {
		b.Fatal("no heap sample")
	}
	n := float64(cfg.targets)
	var out strings.Builder
	writeSoakTable(&out, rows, n)
	g := soakGrowth(rows, n)
	fmt.Fprintf(&out, "growth, least squares over the measured part: live %.2f B/target/min, in-use %.2f B/target/min\n", g.live, g.inuse)
	if g.fitted {
		fmt.Fprintf(&out, "live growth the number of watches under way does not explain: %.2f B/target/min (%.0f B per watch)\n", g.perMin, g.perWatch)
	}
	writeOwners(&out, w.trend, n)
	// The gate is the growth the number of watches under way does not
	// explain: the heap rises and falls with them by tens of kilobytes
	// per watch, which is not growth with time. Nor is the simulator's
	// growth (one more CloudFront invalidation kept per rollback, as
	// CloudFront keeps them): the soak's world, not the daemon, though it
	// shares the heap.
	gated := g.live
	if g.fitted {
		gated = g.perMin
	}
	world := w.trend.growthOf("awssim.") / n
	gated -= world
	fmt.Fprintf(&out, "of which the simulated AWS (awssim, the soak's world, not the daemon): %+.2f B/target/min\n", world)
	fmt.Fprintf(&out, "gated: %.2f B/target/min (the growth the watches under way do not explain, less the simulator's)\n", gated)
	// The table goes to stdout: the testing package keeps only the first
	// lines of a benchmark's log.
	fmt.Print(out.String())
	final := rows[len(rows)-1]
	b.ReportMetric(float64(final.heap.live)/n, "live-B/target")
	b.ReportMetric(g.live, "live-growth-B/target/min")
	b.ReportMetric(g.inuse, "inuse-growth-B/target/min")
	b.ReportMetric(float64(final.rollbacks), "rollbacks")
	b.ReportMetric(float64(final.deploys), "deploys")
	if final.rollbacks == 0 || final.alerts == 0 {
		b.Errorf("the soak made %d rollbacks and sent %d alerts: the scenario did not exercise them", final.rollbacks, final.alerts)
	}
	b.ReportMetric(gated, "unexplained-growth-B/target/min")
	if cfg.maxGrowth > 0 && gated > cfg.maxGrowth {
		b.Errorf("live heap grows %.2f B/target/min with time (the simulator's growth excluded), more than CANARYD_SOAK_MAX_GROWTH=%g", gated, cfg.maxGrowth)
	}
}

func writeSoakTable(out *strings.Builder, rows []soakRow, n float64) {
	fmt.Fprintf(out, "\n%7s %10s %11s %8s %6s | %7s %8s %7s %8s %6s %6s %6s %6s | %6s %6s %6s | %7s %9s %6s %6s\n",
		"sim-min", "live-B/tgt", "inuse-B/tgt", "objs/tgt", "gorout",
		"baking", "promoted", "rolling", "evidence", "smp/w", "base/w", "series", "prom/t",
		"inflt", "outbox", "dropd", "deploys", "rollbacks", "alerts", "wall-s")
	for _, r := range rows {
		m := r.maps
		perW := func(x int) float64 { return float64(x) / float64(max(m.evidence, 1)) }
		fmt.Fprintf(out, "%7.0f %10.0f %11.0f %8.1f %6d | %7d %8d %7d %8d %6.1f %6.1f %6d %6.2f | %6d %6d %6.0f | %7d %9d %6d %6.0f\n",
			r.heap.at.Minutes(), float64(r.heap.live)/n, float64(r.heap.inuse)/n, float64(r.heap.objects)/n, r.heap.goroutines,
			r.phases[store.PhaseBaking], r.phases[store.PhasePromoted], r.phases[store.PhaseTripped]+r.phases[store.PhaseRollingBack],
			m.evidence, perW(m.samples), perW(m.baseline), r.series, float64(r.promSeries)/n, m.inFlight, r.outbox, r.dropped,
			r.deploys, r.rollbacks, r.alerts, r.wall.Seconds())
	}
}

// growth is the heap's growth over the measured part.
type growth struct {
	live, inuse      float64 // B/target/min, least squares against time
	perMin, perWatch float64 // live heap fitted against time and watches with evidence
	fitted           bool
}

func soakGrowth(rows []soakRow, n float64) growth {
	samples := make([]heapSample, len(rows))
	var ts, ws, ys []float64
	for i, r := range rows {
		samples[i] = r.heap
		ts = append(ts, r.heap.at.Minutes())
		ws = append(ws, float64(r.maps.evidence))
		ys = append(ys, float64(r.heap.live)/n)
	}
	g := growth{
		live:  slope(samples, func(s heapSample) float64 { return float64(s.live) / n }),
		inuse: slope(samples, func(s heapSample) float64 { return float64(s.inuse) / n }),
	}
	g.perMin, g.perWatch, g.fitted = fitGrowth(ts, ws, ys)
	g.perWatch *= n // per target per watch -> per watch
	return g
}

// writeOwners lists the owners whose in-use bytes grew or shrank fastest
// over the measured part.
func writeOwners(out *strings.Builder, t *ownerTrend, n float64) {
	grew, shrank, rest := t.growth(12, 5)
	if len(grew)+len(shrank) == 0 {
		return
	}
	fmt.Fprintf(out, "in-use bytes by owner, least squares over the measured part (heap profile, B/target/min):\n")
	for _, g := range append(grew, shrank...) {
		fmt.Fprintf(out, "  %+9.3f  %s\n", g.perMin/n, g.owner)
	}
	fmt.Fprintf(out, "  %+9.3f  (all other owners)\n", rest/n)
}

// growthOf is the summed growth of the owners whose name begins with
// prefix, in bytes per minute. awssim keeps every CloudFront invalidation,
// as CloudFront does: one more per rollback, for the whole run.
func (o *ownerTrend) growthOf(prefix string) float64 {
	den := o.n*o.sxx - o.sx*o.sx
	if den == 0 {
		return 0
	}
	var sum float64
	for k, sy := range o.sy {
		if strings.HasPrefix(k, prefix) {
			sum += (o.n*o.sxy[k] - o.sx*sy) / den
		}
	}
	return sum
}

func TestSoakGrowthOf(t *testing.T) {
	tr := newOwnerTrend()
	for i, m := range []map[string]int64{
		{"awssim.(*Sim).a": 100, "awssim.b": 0, "daemon.x": 10},
		{"awssim.(*Sim).a": 200, "awssim.b": 30, "daemon.x": 500},
		{"awssim.(*Sim).a": 300, "awssim.b": 60, "daemon.x": 20},
	} {
		tr.add(heapSample{at: time.Duration(i) * time.Minute, byOwner: m})
	}
	if got := tr.growthOf("awssim."); math.Abs(got-130) > 1e-9 {
		t.Errorf("growthOf(awssim.) = %v, want 130 (100 + 30 per minute)", got)
	}
	if got := tr.growthOf("nobody."); got != 0 {
		t.Errorf("growthOf(nobody.) = %v, want 0", got)
	}
}
