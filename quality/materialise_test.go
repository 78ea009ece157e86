package quality

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

func shippedTarget(t testing.TB) config.Target {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Targets[0]
}

func shippedOptions(t testing.TB) Options {
	t.Helper()
	o, err := TargetOptions(shippedTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	o := shippedOptions(t)
	for _, k := range Kinds() {
		t.Run(string(k.Kind), func(t *testing.T) {
			a, err := Generate(k.Kind, 7, o)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := Generate(k.Kind, 7, o); !bytes.Equal(a.Bytes, b.Bytes) {
				t.Error("same seed, different traces")
			}
			if k.Kind != GoodSteady {
				return
			}
			if c, _ := Generate(k.Kind, 8, o); bytes.Equal(a.Bytes, c.Bytes) {
				t.Error("different seeds, same trace")
			}
		})
	}
}

// handSim is a scenario whose periods are written by hand: 30 baseline
// periods of ten invocations 10..100 ms, then the deploy's minute with the
// same, then an empty minute.
func handSim() (*Sim, []delivery) {
	sc := &Scenario{Kind: GoodSteady, Seed: 1, Deploy: epoch.Add(20 * time.Second), Horizon: 2 * time.Minute,
		Old: Version{Name: "41"}, New: Version{Name: "42"}}
	s := &Sim{Sc: sc, First: epoch.Add(-baselineN * period)}
	var dl []delivery
	for i := range baselineN + 2 {
		p := Period{Start: s.First.Add(time.Duration(i) * period)}
		if i <= baselineN {
			p.Old = Agg{Inv: 10, Err: 2, Thr: 1, Dur: []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}}
		}
		s.Periods = append(s.Periods, p)
		end := p.Start.Add(period)
		k := deliverFull
		if i < baselineN {
			k = deliverBaseline
		}
		dl = append(dl, delivery{Kind: k, First: end.Add(5 * time.Second), Final: end.Add(5 * time.Second)})
	}
	return s, dl
}

func metricValues(recs []Record, typ string, start time.Time) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		if r.Type == typ && r.S.Kind == sample.KindMetric && r.S.Time.Equal(start) {
			v := string(r.S.Outcome)
			if r.S.Outcome == sample.OutcomeOK {
				v = fmt.Sprint(r.S.Value)
			}
			out[r.S.Metric] = v
		}
	}
	return out
}

// The materialiser against statistics computed by hand.
func TestMaterialiseStatistics(t *testing.T) {
	s, dl := handSim()
	tr, err := Materialise(s, dl, Options{Stats: []string{"TC(45:)", "PR(:45)", "Average", "Maximum", "p50"}, CustomMetrics: []string{"rule:x"}})
	if err != nil {
		t.Fatal(err)
	}
	deployMinute := s.Periods[baselineN].Start
	want := map[string]string{"Invocations": "10", "Errors": "2", "Throttles": "1", "Duration.p99": "100",
		"Duration.TC(45:)": "6", "Duration.PR(:45)": "40", "Duration.Average": "55", "Duration.Maximum": "100",
		"Duration.p50": "50", "rule:x": "no_data"}
	for _, typ := range []string{RecBaseline, RecSample} {
		start := deployMinute
		if typ == RecBaseline {
			start = s.First
		}
		if got := metricValues(tr.Records, typ, start); !mapsEqual(got, want) {
			t.Errorf("%s: %v, want %v", typ, got, want)
		}
	}
	empty := metricValues(tr.Records, RecSample, deployMinute.Add(period))
	for m, v := range empty {
		if v != "no_data" {
			t.Errorf("empty period: %s = %s, want no_data", m, v)
		}
	}
	if len(empty) != len(want) {
		t.Errorf("empty period has %d metrics, want %d", len(empty), len(want))
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// findCase returns the first seed's case of kind k for which ok holds.
func findCase(t *testing.T, k Kind, o Options, ok func(*Case) bool) *Case {
	t.Helper()
	for seed := uint64(1); seed < 50; seed++ {
		c, err := Generate(k, seed, o)
		if err != nil {
			t.Fatal(err)
		}
		if ok(c) {
			return c
		}
	}
	t.Fatalf("no %s seed below 50 has the property", k)
	return nil
}

func hasDelivery(kind deliveryKind, refilled bool) func(*Case) bool {
	return func(c *Case) bool {
		for _, d := range c.Delivery {
			if d.Kind == kind && d.Final.IsZero() != refilled && d.Final.Before(c.Scenario.Deploy.Add(c.Scenario.Horizon)) {
				return true
			}
		}
		return false
	}
}

// A late period is written twice: partial first, then the final value
// with a later delivery time.
func TestLateDataRevises(t *testing.T) {
	c := findCase(t, GoodGaps, Options{}, hasDelivery(deliverPartial, true))
	for i, d := range c.Delivery {
		if d.Kind != deliverPartial || d.Final.After(c.Scenario.Deploy.Add(c.Scenario.Horizon)) {
			continue
		}
		var got []Record
		for _, r := range c.Trace.Records {
			if r.Type == RecSample && r.S.Metric == "Invocations" && r.S.Version == "" && r.S.Time.Equal(c.Sim.Periods[i].Start) {
				got = append(got, r)
			}
		}
		final := c.Sim.Periods[i].Alias().Inv
		if len(got) != 2 || !got[0].At.Equal(d.First) || !got[1].At.Equal(d.Final) || !got[1].At.After(got[0].At) {
			t.Fatalf("period %d: records %+v, want a first and a later revision", i, got)
		}
		if got[1].S.Value != float64(final) || got[0].S.Value > got[1].S.Value {
			t.Errorf("period %d: delivered %v then %v, want a partial count, then the final %d", i, got[0].S.Value, got[1].S.Value, final)
		}
		return
	}
}

// Periods whose read failed during an outage are refilled only when the
// watcher's re-read window (metric_lag periods) still covers them.
func TestOutageGaps(t *testing.T) {
	c := findCase(t, GoodGaps, Options{}, hasDelivery(deliverSrcErr, false))
	for i, d := range c.Delivery {
		if d.Kind != deliverSrcErr {
			continue
		}
		var outcomes []sample.Outcome
		for _, r := range c.Trace.Records {
			if r.Type == RecSample && r.S.Metric == "Errors" && r.S.Version == "" && r.S.Time.Equal(c.Sim.Periods[i].Start) {
				outcomes = append(outcomes, r.S.Outcome)
			}
		}
		want := []sample.Outcome{sample.OutcomeSourceError}
		if !d.Final.IsZero() && !d.Final.After(c.Scenario.Deploy.Add(c.Scenario.Horizon)) {
			want = append(want, sample.OutcomeOK)
		}
		if !slices.Equal(outcomes, want) {
			t.Errorf("period %d: %v, want %v", i, outcomes, want)
		}
	}
}

// Baseline records end by the deploy, nothing is delivered after the
// horizon, and the trace ends with a tick at the horizon.
func TestTraceTimeline(t *testing.T) {
	for _, k := range []Kind{GoodSteady, GoodGaps, BadCanary} {
		c, _ := Generate(k, 3, Options{ProbeBaseline: true})
		sc := c.Scenario
		end := sc.Deploy.Add(sc.Horizon)
		recs := c.Trace.Records
		if last := recs[len(recs)-1]; last.Type != RecTick || !last.Time.Equal(end) {
			t.Errorf("%s: last record %+v, want a tick at %s", k, last, end)
		}
		probes := 0
		for _, r := range recs {
			switch {
			case r.Type == RecBaseline && r.Delivered().After(sc.Deploy):
				t.Errorf("%s: baseline record delivered at %s, after the deploy", k, r.Delivered())
			case r.Delivered().After(end):
				t.Errorf("%s: record delivered at %s, after the horizon", k, r.Delivered())
			case r.Type == RecBaseline && r.S.Kind == sample.KindProbe:
				probes++
			}
		}
		if probes < 170 {
			t.Errorf("%s: %d baseline probe records, want 30 minutes every 10s", k, probes)
		}
	}
	c, _ := Generate(GoodSteady, 3, Options{})
	for _, r := range c.Trace.Records {
		if r.Type == RecBaseline && r.S.Kind == sample.KindProbe {
			t.Fatal("baseline probe records without ProbeBaseline")
		}
	}
}

// The DurationStats hook sees the baseline (with p99) and its statistics
// are written for every period.
func TestDurationStatsHook(t *testing.T) {
	var threshold float64
	hook := func(base []sample.Sample, _ time.Time) []string {
		var xs []float64
		for _, s := range base {
			if s.Metric == "Duration.p99" && s.Outcome == sample.OutcomeOK {
				xs = append(xs, s.Value)
			}
		}
		threshold = median(xs)
		return []string{"p99", fmt.Sprintf("TC(%.0f:)", threshold)}
	}
	c, err := Generate(GoodSteady, 5, Options{DurationStats: hook})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("Duration.TC(%.0f:)", threshold)
	counts := map[string]int{}
	for _, r := range c.Trace.Records {
		if r.S.Metric == name {
			counts[r.Type]++
		}
	}
	if threshold == 0 || counts[RecBaseline] < 25 || counts[RecSample] < 25 {
		t.Errorf("threshold %v: %s written %v", threshold, name, counts)
	}
	if !slices.Equal(c.Trace.Stats, []string{"p99", name[len("Duration."):]}) {
		t.Errorf("stats %v", c.Trace.Stats)
	}
	if _, err := Generate(GoodSteady, 5, Options{Stats: []string{"p1000"}}); err == nil || !strings.Contains(err.Error(), "p1000") {
		t.Errorf("bad statistic: %v", err)
	}
}

func TestReadTraceRoundTrip(t *testing.T) {
	c, _ := Generate(GoodGaps, 2, Options{ProbeBaseline: true, DeployPeriods: 3})
	recs, err := ReadTrace(bytes.NewReader(c.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(c.Trace.Records) {
		t.Fatalf("read %d records, wrote %d", len(recs), len(c.Trace.Records))
	}
	// The reader orders by delivery; compare as sets keyed by what they are.
	key := func(r Record) string {
		return fmt.Sprintf("%s|%s|%s|%v|%s|%v|%s|%s", r.Type, r.S.Key(), r.Delivered().UTC(), r.S.Value, r.S.Outcome, r.S.Latency, r.S.Period, r.Time.UTC())
	}
	want := map[string]int{}
	for _, r := range c.Trace.Records {
		want[key(r)]++
	}
	for _, r := range recs {
		if want[key(r)] == 0 {
			t.Fatalf("read a record that was not written: %+v", r)
		}
		want[key(r)]--
	}
}

// The trace holds the target's baseline window of history, no more: the
// last BaselinePeriods periods before the deploy's minute and the probes
// since the first of them.
func TestBaselineWindow(t *testing.T) {
	t.Parallel()
	for _, n := range []int{10, 30, 0} {
		c, err := Generate(GoodSteady, 7, Options{BaselinePeriods: n, ProbeBaseline: true})
		if err != nil {
			t.Fatal(err)
		}
		want := n
		if n == 0 {
			want = baselineN // all the simulation has
		}
		first := c.Scenario.Deploy.Truncate(period).Add(-time.Duration(want) * period)
		periods := map[time.Time]bool{}
		probes := 0
		for _, r := range c.Trace.Records {
			if r.Type != RecBaseline {
				continue
			}
			if r.S.Time.Before(first) {
				t.Fatalf("window %d: a baseline record at %s, before the window's start %s", n, r.S.Time, first)
			}
			switch r.S.Kind {
			case sample.KindMetric:
				periods[r.S.Time] = true
			case sample.KindProbe:
				probes++
			}
		}
		// A few baseline periods may be missing (the generator drops some).
		if len(periods) > want || len(periods) < want*8/10 {
			t.Errorf("window %d: %d baseline periods", n, len(periods))
		}
		if probes < want*5 || probes > (want+1)*6 { // and the deploy's minute up to the deploy
			t.Errorf("window %d: %d baseline probes for %d minutes (and part of one) at one per 10 s", n, probes, want)
		}
	}
}

// Without a split, DeployPeriods writes the new version's own series for
// the deploy's period and the ones after it that the watcher reads with it,
// and the known-good's never.
func TestDeployPeriodsWriteTheNewVersion(t *testing.T) {
	c, err := Generate(GoodSteady, 3, Options{DeployPeriods: 3})
	if err != nil {
		t.Fatal(err)
	}
	sc := c.Scenario
	periods := map[time.Time]bool{}
	for _, r := range c.Trace.Records {
		if r.Type != RecSample || r.S.Kind != sample.KindMetric || r.S.Version == "" {
			continue
		}
		if r.S.Version != sc.New.Name {
			t.Fatalf("a series of version %q without a split", r.S.Version)
		}
		periods[r.S.Time] = true
	}
	d0 := sc.Deploy.Truncate(time.Minute)
	if len(periods) != 3 || !periods[d0] || !periods[d0.Add(2*time.Minute)] {
		t.Fatalf("the new version's own periods %v, want the 3 from %s", periods, d0)
	}
}

// A late period's partial first delivery counts whole invocations: the
// errors among the invocations it keeps, never more, and a period whose
// every invocation failed stays entirely failed (thinning errors on their
// own delivered 1 of 2 hard-failed invocations as a success, which a test
// of "everything fails" rightly takes as evidence against it).
func TestThinKeepsInvocationsWhole(t *testing.T) {
	r := newRNG(BadLowHard, 1, "thin-test")
	agg := func(inv, errs int) Agg {
		return Agg{Inv: inv, Err: errs, Dur: make([]float64, inv)}
	}
	for range 2000 {
		n := 1 + r.IntN(20)
		keep := r.uniform(0.6, 0.95)
		if out := thin(r, agg(n, n), keep); out.Err != out.Inv {
			t.Fatalf("all %d failed, kept %d: %d errors delivered, want %d", n, out.Inv, out.Err, out.Inv)
		}
		if out := thin(r, agg(n, 0), keep); out.Err != 0 {
			t.Fatalf("none of %d failed: %d errors delivered", n, out.Err)
		}
		e := r.IntN(n + 1)
		if out := thin(r, agg(n, e), keep); out.Err > min(e, out.Inv) || out.Inv-out.Err > n-e {
			t.Fatalf("%d of %d failed, kept %d: %d errors delivered", e, n, out.Inv, out.Err)
		}
	}
	// The kept share of the errors is the kept share of the invocations
	// on average: 300 of 1,000 failed, 700 kept, 210 errors expected
	// (hypergeometric sd 7.7; 1,000 draws put the mean's sd at 0.24).
	sum := 0
	for range 1000 {
		sum += thin(r, agg(1000, 300), 0.7).Err
	}
	if m := float64(sum) / 1000; math.Abs(m-210) > 1.5 {
		t.Errorf("mean errors delivered %.2f of 700 kept, want 210", m)
	}
}

// TestAfterFixPredecessor: a known-good that replaced a failing version
// inside the baseline window has the predecessor's error rate before the
// takeover and its own after, and the deploy record says since when it
// served alone (the daemon's baseline_since), which canaryd's reader
// reads back.
func TestAfterFixPredecessor(t *testing.T) {
	t.Parallel()
	o := shippedOptions(t)
	var before, after [2]float64 // errors, invocations
	for seed := uint64(1); seed <= 20; seed++ {
		c, err := Generate(BadAfterFix, seed, o)
		if err != nil {
			t.Fatal(err)
		}
		sc := c.Scenario
		if sc.Prev == nil || sc.Prev.Until >= 0 || sc.Prev.Seen < sc.Prev.Until {
			t.Fatalf("seed %d: predecessor %+v", seed, sc.Prev)
		}
		recs, err := ReadTrace(bytes.NewReader(c.Bytes))
		if err != nil {
			t.Fatal(err)
		}
		if want := sc.Deploy.Add(sc.Prev.Seen); !recs[0].BaselineSince.Equal(want) {
			t.Fatalf("seed %d: baseline_since %v, want %v", seed, recs[0].BaselineSince, want)
		}
		// The simulated hour's errors relative to each side's true rate.
		for _, r := range recs {
			if r.Type != RecBaseline || r.S.Kind != sample.KindMetric || r.S.Outcome != sample.OutcomeOK {
				continue
			}
			mid := r.S.Time.Add(period / 2).Sub(sc.Deploy)
			if mid < -baselineN*period {
				continue // the shape history (TestShapeHistoryRatesSane)
			}
			side, rate := &after, sc.Old.ErrRate
			if mid < sc.Prev.Until {
				side, rate = &before, sc.Prev.ErrRate
			}
			switch r.S.Metric {
			case "Errors":
				side[0] += r.S.Value / rate
			case "Invocations":
				side[1] += r.S.Value
			}
		}
	}
	// Each side's errors over its expected count: about 1 (bursts and
	// drift allowed for), where the wrong rate would be 3-200x off.
	for name, s := range map[string][2]float64{"before the takeover": before, "after it": after} {
		if r := s[0] / s[1]; r < 0.7 || r > 1.4 {
			t.Errorf("%s: errors %.3g of what the side's rate expects", name, r)
		}
	}
	if c, _ := Generate(BadErrors2x, 1, o); bytes.Contains(c.Bytes, []byte("baseline_since")) {
		t.Errorf("a kind without a predecessor writes baseline_since")
	}
}

// With Concurrency (the shipped target's throttles rule reads it), every
// alias-level period with invocations carries the use of its concurrency
// limit, a share, and no version's does: PoolUse of the account's
// unreserved pool, far below it at steady traffic and all of it while
// another function exhausts it (good/pool-exhausted), or ConcurrencyUse of
// the reservation good/concurrency-limit's cap is, at the limit in its
// spikes beyond it. Without the option, none.
func TestConcurrencyUse(t *testing.T) {
	t.Parallel()
	o := shippedOptions(t)
	if !o.Concurrency {
		t.Fatal("the shipped target's throttles rule does not read the concurrency's use")
	}
	top := func(k Kind, o Options, metric string) (n, full int, most float64) {
		c, err := Generate(k, 5, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range c.Trace.Records {
			switch r.S.Metric {
			case metric:
			case sample.MetricConcurrencyUse, sample.MetricPoolUse:
				t.Fatalf("%s: %+v, want %s", k, r, metric)
			default:
				continue
			}
			if r.S.Version != "" || r.S.Value < 0 || r.S.Value > 1 {
				t.Fatalf("%s: %+v", k, r)
			}
			if r.S.Outcome == sample.OutcomeOK {
				n, most = n+1, max(most, r.S.Value)
				if r.S.Value == 1 {
					full++
				}
			}
		}
		return n, full, most
	}
	if n, _, most := top(GoodSteady, o, sample.MetricPoolUse); n < 60 || most <= 0 || most > 0.2 {
		t.Errorf("good/steady: %d periods, at most %g of the account's pool; want every period, a small share", n, most)
	}
	if n, full, _ := top(GoodPoolOut, o, sample.MetricPoolUse); n < 60 || full < 2 {
		t.Errorf("good/pool-exhausted: %d periods, %d with the pool all in use; want the stretches' two or more", n, full)
	}
	if n, _, most := top(GoodConcurrency, o, sample.MetricConcurrencyUse); n < 60 || most < 0.95 {
		t.Errorf("good/concurrency-limit: %d periods, at most %g of the limit; want its spikes at the limit", n, most)
	}
	o.Concurrency = false
	if n, _, _ := top(GoodSteady, o, sample.MetricPoolUse); n != 0 {
		t.Errorf("without Concurrency: %d PoolUse records", n)
	}
}

// The trace's header says which of drawP99's three ways a latency
// regression took, and nothing where the latency did not change.
func TestHeaderNamesTheLatencyChange(t *testing.T) {
	t.Parallel()
	ways := map[string]int{}
	for seed := uint64(1); seed <= 12; seed++ {
		c, err := Generate(BadP99x2, seed, Options{})
		if err != nil {
			t.Fatal(err)
		}
		n, h := 0, strings.Join(c.Trace.Comments, "\n")
		for _, way := range []string{"(all slower: median", "(wider body and tail: sigma", "(more requests on the slow path:"} {
			if strings.Contains(h, way) {
				ways[way]++
				n++
			}
		}
		if n != 1 {
			t.Errorf("seed %d: %d ways named in %q", seed, n, c.Trace.Comments)
		}
	}
	if len(ways) != 3 {
		t.Errorf("12 seeds named %v, want all three ways", ways)
	}
	c, err := Generate(GoodSteady, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if h := strings.Join(c.Trace.Comments, "\n"); strings.Contains(h, "slower: median") || strings.Contains(h, "sigma") || strings.Contains(h, "slow path") {
		t.Errorf("good/steady's header names a latency change: %q", h)
	}
}
