package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy/seqtest"
	"github.com/canaryd/canaryd/sample"
)

// wobble is Invocations and Errors for minutes [from, to): inv each, the
// errors cycling around mean errs (±20 %), so the counts have some spread.
func wobble(ver string, from, to int, inv, errs float64) []sample.Sample {
	mult := []float64{1, 1.2, 0.8, 1.1, 0.9}
	var out []sample.Sample
	for i := from; i < to; i++ {
		out = append(out, met("Invocations", ver, i, inv), met("Errors", ver, i, errs*mult[((i%len(mult))+len(mult))%len(mult)]))
	}
	return out
}

// sincePolicy is a target with an hour's baseline_window and a
// compare_errors rule.
func sincePolicy(t *testing.T) *Policy {
	t.Helper()
	tg := target(30*time.Minute, config.Rule{Name: "cmp-err", Kind: config.RuleCompareErrors, MinEffect: 0.25})
	tg.BaselineWindow, tg.ShapeWindow = dur(time.Hour), dur(time.Hour)
	p, err := Compile(tg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBaselineSinceLeavesOutTheVersionBefore: the version before the
// deploy fixed an incident ten minutes before it (its predecessor failed
// 5 % for fifty minutes, it fails 0.5 %), and the deploy fails 1.5 %:
// three times the known-good. Judged against the hour it passes (the
// hour averages 4.2 %); told since when the known-good served alone, the
// rule takes its rate from the ten minutes and rolls back. The other way
// round (a predecessor better than the known-good), the hour would roll
// back a deploy no worse than the known-good; the ten minutes do not.
func TestBaselineSinceLeavesOutTheVersionBefore(t *testing.T) {
	p := sincePolicy(t)
	since := at(-10).Add(-20 * time.Second) // first seen alone 20 s before minute -10
	judge := func(base []sample.Sample, since time.Time, errs float64) Verdict {
		in := Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Baseline: base, BaselineSince: since,
			Samples: wobble("", 0, 8, 2000, errs)}
		return p.Evaluate(in, at(8))
	}
	fixed := cat(wobble("", -60, -10, 2000, 100), wobble("", -10, 0, 2000, 10))
	if v := judge(fixed, since, 30); v.Kind != Failing {
		t.Errorf("3x the known-good, told since when it served alone: %s, want failing: %s", v.Kind, v.Summary)
	}
	if v := judge(fixed, time.Time{}, 30); v.Kind == Failing {
		t.Errorf("without the time the hour's 4.2 %% hides it, but the rule tripped: %s", v.Summary)
	}
	worse := cat(wobble("", -60, -10, 2000, 10), wobble("", -10, 0, 2000, 30))
	if v := judge(worse, since, 30); v.Kind == Failing {
		t.Errorf("no worse than the known-good: %s", v.Summary)
	}
	if v := judge(worse, time.Time{}, 30); v.Kind != Failing {
		t.Errorf("without the time, the better predecessor's fifty minutes should make the known-good's own rate look like a regression: %s", v.Summary)
	}
}

// TestSplitHistoryAtBaselineSince: the version before failed ten times as
// often as the known-good. The baseline starts at the first whole period
// at or after the time; the window's samples before it are dropped, not
// even shape history; a time within the last period, or
// before the window, leaves the metrics whole. Probe results before the
// time are dropped when none came since; a version before like the
// known-good leaves the window whole.
func TestSplitHistoryAtBaselineSince(t *testing.T) {
	p := sincePolicy(t)
	// The version before failed 10 %, the known-good 1 %.
	base := cat(rate("", -60, -10, 100, 10), rate("", -10, 0, 100, 1), vals("Duration.p99", "", -60, repeat(300, 60)...), probes("health", -2, ".."))
	metricTimes := func(ss []sample.Sample, metric string) (first, last int) {
		first, last = 1<<30, -1<<30
		for _, s := range ss {
			if s.Kind == sample.KindMetric && s.Metric == metric {
				m := int(s.Time.Sub(t0) / time.Minute)
				first, last = min(first, m), max(last, m)
			}
		}
		return first, last
	}
	recent, old, cut := p.splitHistory(base, at(-10).Add(-20*time.Second))
	if cut != at(-10).UnixNano() {
		t.Fatalf("cut at %v, want minute -10", time.Unix(0, cut).UTC())
	}
	if f, l := metricTimes(recent, "Errors"); f != -10 || l != -1 {
		t.Errorf("baseline Errors from %d to %d, want -10 to -1", f, l)
	}
	if f, l := metricTimes(recent, "Duration.p99"); f != -10 || l != -1 {
		t.Errorf("baseline p99 from %d to %d, want -10 to -1", f, l)
	}
	if len(old) != 0 {
		t.Errorf("%d samples of the version before's minutes kept as shape history, want none", len(old))
	}
	if !slices.ContainsFunc(recent, func(s sample.Sample) bool { return s.Kind == sample.KindProbe }) {
		t.Errorf("probe results left the baseline")
	}
	metrics := func(ss []sample.Sample) (n int) {
		for _, s := range ss {
			if s.Kind == sample.KindMetric {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		since  time.Time
		probes int // of the two, at -2m and -1m30s
	}{{at(-1).Add(time.Second), 0}, {at(-70), 2}, {time.Time{}, 2}} {
		recent, old, cut := p.splitHistory(base, c.since)
		if cut != 0 || len(old) != 0 || metrics(recent) != metrics(base) {
			t.Errorf("since %v: cut %d, %d history samples, %d of %d metric samples in the baseline; want the whole window", c.since, cut, len(old), metrics(recent), metrics(base))
		}
		if n := len(recent) - metrics(recent); n != c.probes {
			t.Errorf("since %v: %d probe results, want %d (those before it measured the version before)", c.since, n, c.probes)
		}
	}
	same := cat(rate("", -60, 0, 100, 1), vals("Duration.p99", "", -60, repeat(300, 60)...), probes("health", -12, strings.Repeat(".", 40)))
	if recent, old, cut := p.splitHistory(same, at(-10).Add(-20*time.Second)); cut != 0 || len(old) != 0 || len(recent) != len(same) {
		t.Errorf("a version before like the known-good: cut %d, %d history samples, %d of %d in the baseline; want the whole window", cut, len(old), len(recent), len(same))
	}
}

// TestDurationStatsSince: the latency thresholds come from the baseline
// the policy keeps, the known-good's own minutes.
func TestDurationStatsSince(t *testing.T) {
	tg := target(30*time.Minute, config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency, MinEffect: 0.25})
	tg.BaselineWindow, tg.ShapeWindow = dur(time.Hour), dur(time.Hour)
	p, err := Compile(tg)
	if err != nil {
		t.Fatal(err)
	}
	base := cat(rate("", -60, 0, 1000, 0), vals("Duration.p99", "", -60, repeat(900, 50)...), vals("Duration.p99", "", -10, repeat(300, 10)...))
	all, since := p.DurationStats(base), p.DurationStatsSince(base, at(-10))
	if slices.Equal(all, since) {
		t.Fatalf("the same statistics with and without the time: %v", all)
	}
	if !slices.Contains(since, "TC(300:)") || slices.Contains(since, "TC(900:)") {
		t.Errorf("since minute -10 (p99 300 ms): %v, want TC(300:)", since)
	}
}

// TestSameRate: the version before's minutes inform the prior only when
// their rate agrees with the known-good's own.
func TestSameRate(t *testing.T) {
	for _, c := range []struct {
		a, b seqtest.Block
		want bool
	}{
		{seqtest.Block{X: 100, N: 10000}, seqtest.Block{X: 12, N: 1000}, true},    // 1 % and 1.2 %
		{seqtest.Block{X: 500, N: 10000}, seqtest.Block{X: 5, N: 1000}, false},    // 5 % and 0.5 %
		{seqtest.Block{X: 3, N: 1000}, seqtest.Block{X: 1, N: 100}, true},         // few events: cannot tell
		{seqtest.Block{X: 300, N: 10000}, seqtest.Block{X: 100, N: 10000}, false}, // 3x, many events
		{seqtest.Block{}, seqtest.Block{X: 1, N: 100}, false},
	} {
		if got := sameRate(c.a, c.b); got != c.want {
			t.Errorf("sameRate(%+v, %+v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestBaselineSinceProbes: the version before failed its health probes
// until five minutes before the deploy; the known-good passes every one
// since. A new version failing every probe is a regression to roll back,
// not a deploy during an incident: told since when the known-good served
// alone, the probe rule judges the known-good by its own results. Not
// told, it takes the version before's failures for the known-good's (a
// deploy during an incident), and rolls back only because the new version
// is significantly worse than the known-good's last minutes, all passing
// (fisherAbove; before it, that version only alerted).
func TestBaselineSinceProbes(t *testing.T) {
	tg := target(30*time.Minute, config.Rule{Name: "health", Kind: config.RuleProbe, Probe: "health"})
	p, err := Compile(tg)
	if err != nil {
		t.Fatal(err)
	}
	base := probes("health", -10, "xxxxxxxxxx..........")
	judge := func(since time.Time) Verdict {
		return p.Evaluate(Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Baseline: base, BaselineSince: since,
			Samples: probes("health", 0, "xxxxxxxxxx")}, at(5))
	}
	const incident = "failing too before the deploy"
	if v := judge(at(-5)); v.Kind != Failing || v.AlertOnly || strings.Contains(v.Summary, incident) {
		t.Errorf("with the time: %s (alert only %v), want a rollback, the known-good not failing: %s", v.Kind, v.AlertOnly, v.Summary)
	}
	if v := judge(time.Time{}); v.Kind != Failing || v.AlertOnly || !strings.Contains(v.Summary, incident) {
		t.Errorf("without the time the version before's failures should be the known-good's (%q), the new version worse than its last minutes (a rollback); the test no longer shows the difference: %s", incident, v.Summary)
	}
}

// TestCountsDifferSeesABurstOfAnotherVersion: the minutes before the
// takeover are the known-good's at 0.5 % but for two of a rolled-back
// version at 10 %. Their average differs from the known-good's own; the
// comparison is at the known-good's own dispersion, so the two minutes
// cannot widen it until they hide themselves (pooled, they did).
func TestCountsDifferSeesABurstOfAnotherVersion(t *testing.T) {
	base := cat(wobble("", -20, -12, 2000, 10), wobble("", -12, -10, 2000, 200), wobble("", -10, 0, 2000, 10))
	if !countsDiffer(base, at(-20).UnixNano(), at(-10).UnixNano(), at(0).UnixNano()) {
		t.Error("two minutes at 10 % among the known-good's 0.5 %: the sides counted as one version's")
	}
	same := cat(wobble("", -20, 0, 2000, 10))
	if countsDiffer(same, at(-20).UnixNano(), at(-10).UnixNano(), at(0).UnixNano()) {
		t.Error("one version's minutes on both sides counted as two")
	}
}

// TestDayShowsTheShapeOfAFewMinutesErrors: the known-good replaced a
// version failing 5 % eleven minutes before the deploy, and failed 8 of
// its 22,000 invocations since: too few errors to show their bursts'
// shape, which the day of the version before, 2,000 a minute in steady
// minutes, does. A 5x regression (4 errors a minute) is rolled back
// within twenty minutes with that day (18: the known-good's 8 errors
// bound what the new version's can show), and not in twenty-four without
// it (against every burst shape eleven minutes allow). A version like the
// known-good is not rolled back either way.
func TestDayShowsTheShapeOfAFewMinutesErrors(t *testing.T) {
	policy := func(shape time.Duration) *Policy {
		tg := target(30*time.Minute, config.Rule{Name: "cmp-err", Kind: config.RuleCompareErrors, MinEffect: 0.05, Confidence: 0.9995})
		tg.BaselineWindow, tg.ShapeWindow = dur(time.Hour), dur(shape)
		p, err := Compile(tg)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	kg := []float64{1, 0, 2, 0, 1, 0, 1, 0, 2, 1, 0} // minutes -11 .. -1: 8 errors
	base := cat(wobble("", -24*60, -11, 2000, 100), vals("Invocations", "", -11, repeat(2000, 11)...), vals("Errors", "", -11, kg...))
	since := at(-11).Add(-20 * time.Second)
	judge := func(p *Policy, errs []float64) Verdict {
		in := Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Baseline: base, BaselineSince: since,
			Samples: cat(vals("Invocations", "", 0, repeat(2000, len(errs))...), vals("Errors", "", 0, errs...))}
		return p.Evaluate(in, at(len(errs)))
	}
	regression := []float64{4, 3, 5, 4, 4, 3, 5, 4} // 0.2 %
	same := []float64{1, 0, 2, 1, 0, 1, 0, 2, 1, 0, 1, 1, 0, 2, 1, 0, 1, 0, 1, 1}
	day, hour := policy(24*time.Hour), policy(time.Hour)
	if v := judge(day, slices.Concat(regression, regression, regression[:4])); v.Kind != Failing {
		t.Errorf("5x the known-good, its shape shown by the day: %s, want failing: %s", v.Kind, v.Summary)
	}
	if v := judge(hour, slices.Concat(regression, regression, regression)); v.Kind == Failing {
		t.Errorf("without the day the rule cannot tell the errors' shape from eleven minutes, but it tripped: %s", v.Summary)
	}
	for _, p := range []*Policy{day, hour} {
		if v := judge(p, same); v.Kind == Failing {
			t.Errorf("no worse than the known-good: %s", v.Summary)
		}
	}
}
