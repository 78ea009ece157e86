package quality

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"
)

const historyDay = 24 * 60 // a shape_window of 24h, in periods

// withShape are the shipped target's options with a shape history of n
// periods.
func withShape(t testing.TB, n int) Options {
	o := shippedOptions(t)
	o.ShapePeriods = n
	return o
}

// splitHistory splits a case's records into the shape history (baseline
// records of periods before the first the baseline window covers, at the
// head of the trace) and the rest; it fails the test if a history record
// is anywhere else.
func splitHistory(t *testing.T, c *Case, baselinePeriods int) (hist, rest []Record) {
	t.Helper()
	first := c.Scenario.Deploy.Truncate(period).Add(-time.Duration(baselinePeriods) * period)
	isHist := func(r Record) bool { return r.Type == RecBaseline && r.S.Time.Before(first) }
	n := 0
	for n < len(c.Trace.Records) && isHist(c.Trace.Records[n]) {
		n++
	}
	for _, r := range c.Trace.Records[n:] {
		if isHist(r) {
			t.Fatalf("a shape history record after the head of the trace: %+v", r)
		}
	}
	return c.Trace.Records[:n], c.Trace.Records[n:]
}

// histPeriods are a history's periods: the metrics written for each.
func histPeriods(t *testing.T, hist []Record) map[time.Time][]string {
	t.Helper()
	out := map[time.Time][]string{}
	for _, r := range hist {
		s := r.S
		if s.Kind != sample.KindMetric || s.Version != "" || s.Period != period || !r.At.IsZero() || s.Source != sourceCloudWatch ||
			(s.Outcome != sample.OutcomeOK && s.Outcome != sample.OutcomeNoData) {
			t.Fatalf("shape history record %+v: want an alias-level one-minute metric, ok or no_data, delivered with the baseline", r)
		}
		if slices.Contains(out[s.Time], s.Metric) {
			t.Fatalf("shape history: %s at %s twice", s.Metric, s.Time)
		}
		out[s.Time] = append(out[s.Time], s.Metric)
	}
	for at, ms := range out {
		counts := []string{"Invocations", "Errors", "Throttles"}
		if !slices.Equal(ms, counts) && !slices.Equal(ms, append(counts, sample.MetricPoolUse)) && !slices.Equal(ms, append(counts, sample.MetricConcurrencyUse)) {
			t.Fatalf("shape history at %s: metrics %v, want Invocations, Errors, Throttles (and PoolUse or ConcurrencyUse)", at, ms)
		}
	}
	return out
}

// The history holds the periods from ShapePeriods before the deploy's
// minute up to the baseline's first, counts only, and nothing else; none
// when ShapePeriods is not more than the baseline.
func TestShapeHistoryPeriods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		kind        Kind
		base, shape int
		want        int // history periods (before missing ones)
		missing     bool
	}{
		{"a day", GoodSteady, 60, historyDay, historyDay - 60, false},
		{"a day with missing periods", GoodGaps, 60, historyDay, historyDay - 60, true},
		{"the simulated hour and older", GoodSteady, 30, 120, 90, false},
		{"within the simulated hour", GoodSteady, 10, 40, 30, false},
		{"the whole simulation as baseline", GoodSteady, 0, 90, 30, false},
		{"a longer baseline than the simulation", GoodSteady, 90, 120, 60, false},
		{"shape window = baseline window", GoodSteady, 60, 60, 0, false},
		{"shape window < baseline window", GoodSteady, 60, 30, 0, false},
		{"all the simulation, no longer", GoodSteady, 0, 60, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{BaselinePeriods: tc.base, ProbeBaseline: true, ShapePeriods: tc.shape}
			c, err := Generate(tc.kind, 3, o)
			if err != nil {
				t.Fatal(err)
			}
			covered := tc.base
			if covered <= 0 || covered > baselineN {
				covered = baselineN
			}
			hist, _ := splitHistory(t, c, covered)
			periods := histPeriods(t, hist)
			d0 := c.Scenario.Deploy.Truncate(period)
			from, to := d0.Add(-time.Duration(tc.shape)*period), d0.Add(-time.Duration(covered)*period)
			for at := range periods {
				if at.Before(from) || !at.Before(to) || at.Sub(from)%period != 0 {
					t.Fatalf("a history period at %s, want [%s, %s) on the minute", at, from, to)
				}
			}
			switch {
			case !tc.missing && len(periods) != tc.want:
				t.Errorf("%d history periods, want %d", len(periods), tc.want)
			case tc.missing && (len(periods) >= tc.want || len(periods) < tc.want*9/10):
				t.Errorf("%d history periods, want 90-99.9%% of %d (5%% missing)", len(periods), tc.want)
			}
			if hasLine := slices.ContainsFunc(c.Trace.Comments, func(s string) bool { return strings.HasPrefix(s, "shape history:") }); hasLine != (tc.want > 0) {
				t.Errorf("header says the shape history: %v, want %v", hasLine, tc.want > 0)
			}
			if tc.want > 0 {
				return
			}
			o.ShapePeriods = 0
			if c0, _ := Generate(tc.kind, 3, o); !bytes.Equal(c0.Bytes, c.Bytes) {
				t.Error("no history, yet the trace differs from one without ShapePeriods")
			}
		})
	}
}

// Periods the simulation has are written from it: the history joins the
// baseline without a seam.
func TestShapeHistoryFromTheSimulation(t *testing.T) {
	t.Parallel()
	c, err := Generate(GoodSteady, 4, Options{BaselinePeriods: 30, ShapePeriods: 120})
	if err != nil {
		t.Fatal(err)
	}
	hist, _ := splitHistory(t, c, 30)
	simulated := 0
	for _, r := range hist {
		i := int(r.S.Time.Sub(c.Sim.First) / period)
		if i < 0 {
			continue
		}
		a := c.Sim.Periods[i].Alias()
		want := map[string]int{"Invocations": a.Inv, "Errors": a.Err, "Throttles": a.Thr}[r.S.Metric]
		if r.S.Value != float64(want) {
			t.Errorf("%s at %s = %v, the simulation's %d", r.S.Metric, r.S.Time, r.S.Value, want)
		}
		simulated++
	}
	if simulated != 3*30 {
		t.Errorf("%d records from the simulated hour, want 90", simulated)
	}
}

// The same seed gives the same history; another seed another; a longer
// history only adds older periods.
func TestShapeHistoryDeterministic(t *testing.T) {
	t.Parallel()
	o := withShape(t, historyDay)
	a, err := Generate(GoodClumpy, 9, o)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := Generate(GoodClumpy, 9, o); !bytes.Equal(a.Bytes, b.Bytes) {
		t.Error("same seed, different traces")
	}
	ha, _ := splitHistory(t, a, 60)
	c, _ := Generate(GoodClumpy, 10, o)
	if hc, _ := splitHistory(t, c, 60); reflect.DeepEqual(values(ha), values(hc)) {
		t.Error("different seeds, same history")
	}
	short, _ := Generate(GoodClumpy, 9, withShape(t, 180))
	hs, _ := splitHistory(t, short, 60)
	if n := len(histPeriods(t, hs)); n != 120 || !reflect.DeepEqual(hs, ha[len(ha)-len(hs):]) {
		t.Errorf("a 3-hour history (%d records) is not the newest of a day's", len(hs))
	}
}

func values(recs []Record) []float64 {
	out := make([]float64, len(recs))
	for i, r := range recs {
		out[i] = r.S.Value
	}
	return out
}

// The history draws from its own stream: every other record, the
// simulation and the delivery are those of the trace without it, for
// every kind.
func TestShapeHistoryLeavesTheRestAlone(t *testing.T) {
	t.Parallel()
	o := withShape(t, 0)
	oh := withShape(t, historyDay)
	for _, k := range Kinds() {
		t.Run(string(k.Kind), func(t *testing.T) {
			without, err := Generate(k.Kind, 11, o)
			if err != nil {
				t.Fatal(err)
			}
			with, err := Generate(k.Kind, 11, oh)
			if err != nil {
				t.Fatal(err)
			}
			hist, rest := splitHistory(t, with, 60)
			if n := len(histPeriods(t, hist)); n < (historyDay-60)*9/10 {
				t.Errorf("%d history periods", n)
			}
			if !reflect.DeepEqual(rest, without.Trace.Records) {
				t.Error("the records after the history differ from the trace without it")
			}
			if !reflect.DeepEqual(with.Sim, without.Sim) || !reflect.DeepEqual(with.Delivery, without.Delivery) {
				t.Error("the history changed the simulation or its delivery")
			}
			if n := len(without.Trace.Comments); len(with.Trace.Comments) != n+1 || !slices.Equal(with.Trace.Comments[:n], without.Trace.Comments) {
				t.Errorf("header %q, want %q and a line about the history", with.Trace.Comments, without.Trace.Comments)
			}
		})
	}
}

// hourFreeShape fits a negative binomial shape to per-minute error counts
// by the method of moments, with each hour's error rate free: with e the
// expected count of a minute (the hour's errors per invocation times its
// invocations), Var = e + e²/k. It also returns the Pearson dispersion
// (1 for Poisson counts). k is +Inf when the counts are no more variable
// than Poisson.
func hourFreeShape(ps []histPeriod) (k, disp float64) { return nbShape(ps, 60) }

// nbShape is hourFreeShape with the rate free in blocks of w periods.
func nbShape(ps []histPeriod, w int) (k, disp float64) {
	var dev2, sumE, sumE2, pearson float64
	n := 0
	for h := 0; h+w <= len(ps); h += w {
		var x, inv float64
		for _, p := range ps[h : h+w] {
			x, inv = x+float64(p.Err), inv+float64(p.Inv)
		}
		if x == 0 {
			continue
		}
		for _, p := range ps[h : h+w] {
			if p.Inv == 0 {
				continue
			}
			e := x / inv * float64(p.Inv)
			d := float64(p.Err) - e
			dev2, sumE, sumE2, pearson, n = dev2+d*d, sumE+e, sumE2+e*e, pearson+d*d/e, n+1
		}
	}
	if dev2 <= sumE {
		return math.Inf(1), pearson / float64(n)
	}
	return sumE2 / (dev2 - sumE), pearson / float64(n)
}

func dayOfHistory(t *testing.T, k Kind, seed uint64) (*Scenario, []histPeriod) {
	t.Helper()
	sc, err := NewScenario(k, seed)
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := history(sc, sc.Deploy.Truncate(period).Add(-baselineN*period), historyDay)
	return sc, ps
}

// A day of good/clumpy-errors' history shows its clumps: with each hour's
// rate free, a fitted shape far below 1 on every seed, where good/steady's
// errors are close to Poisson; over the seeds, the scenario's own error
// rate and shape (fitted with one rate for the day: with the hour's rate
// free a moment fit over rare clumps overestimates the shape, by about a
// third). So for good/bursty-errors.
func TestShapeHistoryClumps(t *testing.T) {
	t.Parallel()
	const seeds = 40
	var clumpyK, clumpyRate, burstyK []float64
	for seed := uint64(1); seed <= seeds; seed++ {
		sc, ps := dayOfHistory(t, GoodClumpy, seed)
		if k, _ := hourFreeShape(ps); k >= 0.5 {
			t.Errorf("clumpy seed %d: fitted shape %.3g (its kappa %.3g), want < 0.5", seed, k, sc.Old.ErrKappa)
		}
		var errs, inv float64
		for _, p := range ps {
			errs, inv = errs+float64(p.Err), inv+float64(p.Inv)
		}
		k, _ := nbShape(ps, len(ps))
		clumpyK, clumpyRate = append(clumpyK, k/sc.Old.ErrKappa), append(clumpyRate, errs/inv/sc.Old.ErrRate)

		sc, ps = dayOfHistory(t, GoodSteady, seed)
		if k, _ := hourFreeShape(ps); k < 2 {
			t.Errorf("steady seed %d: fitted shape %.3g (its kappa %.3g), want > 2", seed, k, sc.Old.ErrKappa)
		}

		sc, ps = dayOfHistory(t, GoodBursty, seed)
		k, _ = nbShape(ps, len(ps))
		burstyK = append(burstyK, k/sc.Old.ErrKappa)
	}
	for _, c := range []struct {
		what string
		xs   []float64
	}{{"clumpy fitted shape / kappa", clumpyK}, {"clumpy error rate / ErrRate", clumpyRate}, {"bursty fitted shape / kappa", burstyK}} {
		if m := median(c.xs); m < 0.75 || m > 1.33 {
			t.Errorf("median %s over %d seeds = %.3g, want about 1", c.what, seeds, m)
		}
	}
}

// betaDraw has betaRate's distribution.
func TestBetaDraw(t *testing.T) {
	t.Parallel()
	r := newRNG(GoodSteady, 1, "test")
	const n = 20000
	for _, c := range []struct{ p, kappa float64 }{{0.01, 30}, {0.01, 0.5}, {2e-4, 0.05}, {1e-4, 0.5}, {0.1, 5}} {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = r.betaDraw(c.p, c.kappa)
		}
		for _, q := range []float64{0.05, 0.5, 0.9, 0.99} {
			x := betaRate(c.p, c.kappa, q)
			below := 0
			for _, v := range xs {
				if v <= x {
					below++
				}
			}
			if got := float64(below) / n; math.Abs(got-q) > 4*math.Sqrt(q*(1-q)/n)+1e-3 {
				t.Errorf("p %g kappa %g: share at or below betaRate's %g-quantile %.3g, want %g", c.p, c.kappa, q, got, q)
			}
		}
		if m, _ := meanVar(xs); c.kappa >= 0.5 && math.Abs(m/c.p-1) > 0.05 {
			t.Errorf("p %g kappa %g: mean %.4g", c.p, c.kappa, m)
		}
	}
	if r.betaDraw(0.01, 0) != 0.01 || r.betaDraw(0, 3) != 0 {
		t.Error("a rate without dispersion is not its mean")
	}
}

// normalErr is the error rate the shape history runs at without drift or
// load: the known-good's, or its predecessor's (Scenario.Prev), which
// served the day before it.
func normalErr(sc *Scenario) float64 {
	if sc.Prev != nil {
		return sc.Prev.ErrRate
	}
	return sc.Old.ErrRate
}

// For every kind and many seeds the history's rates are positive, finite
// and sane over CloudWatch's 15 days; they join the simulated hour; an
// incident or drift before the deploy does not reach back into the day.
func TestShapeHistoryRatesSane(t *testing.T) {
	t.Parallel()
	const days = 15
	for _, k := range Kinds() {
		for seed := uint64(1); seed <= 200; seed++ {
			sc, err := NewScenario(k.Kind, seed)
			if err != nil {
				t.Fatal(err)
			}
			first := sc.Deploy.Truncate(period).Add(-baselineN * period)
			h := newHistModel(sc, first, newRNG(sc.Kind, sc.Seed, "history"))
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("%s seed %d: "+format, append([]any{k.Kind, seed}, args...)...)
			}
			// The join: the hour's rates where it begins.
			if want := sc.Traffic.level(h.t0); math.Abs(h.level(h.t0)/want-1) > 1e-9 {
				fail("traffic %.4g at the join, the hour's %.4g", h.level(h.t0), want)
			}
			if got, want := h.errRate(h.t0, h.level(h.t0)), sc.Old.errRate(sc, h.t0); math.Abs(got/want-1) > 1e-9 {
				fail("error rate %.4g at the join, the hour's %.4g", got, want)
			}
			// One minute on either side of the join.
			if a, b := h.level(h.t0-period), sc.Traffic.level(h.t0+period); math.Abs(a/b-1) > 0.03 {
				fail("traffic %.4g a minute before the join, %.4g a minute after", a, b)
			}
			loL, hiL, loE, hiE := math.Inf(1), 0.0, math.Inf(1), 0.0
			for dt := period; dt <= days*24*time.Hour; dt += 7 * period {
				at := h.t0 - dt
				l := h.level(at)
				e := h.errRate(at, l)
				if !(l > 0) || math.IsInf(l, 0) || !(e > 0) || e > 1 || math.IsInf(e, 0) {
					fail("%s before the join: traffic %v, error rate %v", dt, l, e)
				}
				loL, hiL, loE, hiE = min(loL, l), max(hiL, l), min(loE, e), max(hiE, e)
			}
			if r := hiL / loL; r < 1.9 || r > 4 {
				fail("traffic peak/trough %.3g over %d days, want 2-4", r, days)
			}
			switch r := hiE / loE; {
			case sc.ErrLoad != 0 && math.Abs(math.Log(r)-sc.ErrLoad*math.Log(hiL/loL)) > 1e-9:
				fail("error rate's peak/trough %.3g, want the traffic's %.3g to the power %.3g", r, hiL/loL, sc.ErrLoad)
			case sc.ErrLoad != 0:
			case sc.ErrDrift == 0 && r != 1:
				fail("error rate varies %.3gx without a drift", r)
			case sc.ErrDrift == 0 && loE != normalErr(sc):
				fail("error rate %.4g, the known-good's normal %.4g", loE, normalErr(sc))
			case sc.ErrDrift != 0 && (r < 1.4 || r > 4):
				fail("error rate's peak/trough %.3g, want 1.5-4", r)
			}
			if seed > 10 {
				continue
			}
			// Drawn counts: finite and about the model's.
			ps, _ := history(sc, first, historyDay)
			var inv, thr, want float64
			for _, p := range ps {
				if p.Inv < 0 || p.Err < 0 || p.Thr < 0 || p.Err > p.Inv {
					fail("period %s: %+v", p.Start, p)
				}
				inv, thr = inv+float64(p.Inv), thr+float64(p.Thr)
				want += h.level(p.Start.Sub(sc.Deploy) + period/2)
			}
			// Spikes add to the model's level.
			if r := (inv + thr) / want; want > 1000 && (r < 0.5 || r > 1.5 && len(sc.Traffic.Spikes) == 0) {
				fail("%.0f requests in a day, the model's mean without spikes %.0f", inv+thr, want)
			}
		}
	}
}

// TargetOptions reads shape_window.
func TestTargetOptionsShapePeriods(t *testing.T) {
	tg := shippedTarget(t)
	if o, _ := TargetOptions(tg); o.ShapePeriods != historyDay || o.BaselinePeriods != 60 {
		t.Errorf("ShapePeriods %d, BaselinePeriods %d with the shipped config (shape_window 24h), want %d and 60", o.ShapePeriods, o.BaselinePeriods, historyDay)
	}
	tg.ShapeWindow = tg.BaselineWindow
	if o, _ := TargetOptions(tg); o.ShapePeriods != 0 {
		t.Errorf("ShapePeriods %d with shape_window = baseline_window, want 0", o.ShapePeriods)
	}
}

// The history carries the trimmed counts the watch asks for (TC(X:) at
// the known-good's p99 and above it), drawn from the known-good's latency
// model: each at most the period's invocations and nested (slower than
// 1.2X at most as many as slower than X), the last hour's slow share like
// the simulated baseline's, and, where the model's per-minute noise is
// all there is (no drift, load or scale-out), the periods' spread about
// what that noise gives.
func TestShapeHistorySlowCounts(t *testing.T) {
	t.Parallel()
	for _, k := range []Kind{GoodSteady, GoodHeavyTail, GoodLatDrift, GoodLoadLatency, GoodScaleOut} {
		for seed := uint64(1); seed <= 4; seed++ {
			sc, err := NewScenario(k, seed)
			if err != nil {
				t.Fatal(err)
			}
			x0 := math.Round(sc.Old.Latency.steady().quantile(0.99))
			st0, st1 := fmt.Sprintf("TC(%g:)", x0), fmt.Sprintf("TC(%g:)", math.Round(1.2*x0))
			o := withShape(t, historyDay)
			o.Stats = append(slices.Clone(o.Stats), st0, st1)
			c, err := Generate(k, seed, o)
			if err != nil {
				t.Fatal(err)
			}
			hist, _ := splitHistory(t, c, o.BaselinePeriods)
			type per struct{ inv, s0, s1 float64 }
			ps := map[time.Time]*per{}
			for _, r := range hist {
				p := ps[r.S.Time]
				if p == nil {
					p = &per{inv: -1, s0: -1, s1: -1}
					ps[r.S.Time] = p
				}
				if r.S.Outcome != sample.OutcomeOK {
					continue
				}
				switch r.S.Metric {
				case "Invocations":
					p.inv = r.S.Value
				case "Duration." + st0:
					p.s0 = r.S.Value
				case "Duration." + st1:
					p.s1 = r.S.Value
				}
			}
			var ts []time.Time
			for at, p := range ps {
				if p.inv > 0 && (p.s0 < 0 || p.s1 < 0 || p.s1 > p.s0 || p.s0 > p.inv) {
					t.Fatalf("%s seed %d, %s: %d invocations, %s %v, %s %v", k, seed, at, int(p.inv), st0, p.s0, st1, p.s1)
				}
				if p.inv > 0 {
					ts = append(ts, at)
				}
			}
			slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
			if len(ts) < historyDay/2 {
				t.Fatalf("%s seed %d: %d history periods with invocations", k, seed, len(ts))
			}
			// The last hour against the simulated baseline hour.
			var hs, hn, bs, bn float64
			for _, at := range ts[len(ts)-60:] {
				hs, hn = hs+ps[at].s0, hn+ps[at].inv
			}
			for i := range c.Sim.DeployIndex() {
				a := c.Sim.Periods[i].Alias()
				for _, d := range a.Dur {
					if d > x0 {
						bs++
					}
				}
				bn += float64(len(a.Dur))
			}
			// (Latency that follows load moves with the hour's traffic
			// slope: a tenth more load is twice the share above a p99.)
			if r := (hs / hn) / (bs / bn); bs >= 30 && sc.LatLoad == 0 && (r < 0.5 || r > 2) {
				t.Errorf("%s seed %d: the history's last hour %.4f slower than %g ms, the baseline %.4f", k, seed, hs/hn, x0, bs/bn)
			}
			if k != GoodSteady && k != GoodHeavyTail {
				continue
			}
			// The spread: Pearson's X² per period against what the
			// per-minute noise nodes give (1 + n·Var(p)/E(p)).
			var ep, ep2 float64
			scales, tails := sc.Old.Latency.scaleNodes(), sc.Old.Latency.tailNodes()
			for _, s := range scales {
				for _, h := range tails {
					p := sc.Old.Latency.mix(s, h, 0, sc.Old.Cold).sf(x0)
					ep, ep2 = ep+p, ep2+p*p
				}
			}
			m := float64(len(scales) * len(tails))
			ep, ep2 = ep/m, ep2/m
			var sx, sn, chi, want float64
			for _, at := range ts {
				sx, sn = sx+ps[at].s0, sn+ps[at].inv
			}
			for _, at := range ts {
				p := ps[at]
				mu := sx / sn * p.inv
				chi += (p.s0 - mu) * (p.s0 - mu) / mu
				want += 1 + p.inv*(ep2-ep*ep)/ep
			}
			if r := chi / want; r < 0.75 || r > 1.33 {
				t.Errorf("%s seed %d: the history's slow counts spread %.3g times what the latency noise gives (X² %.0f, expected %.0f)", k, seed, r, chi, want)
			}
		}
	}
}
