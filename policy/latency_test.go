package policy

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// DurationStats and HistoryStatsSince: the statistics a watch reads over
// its baseline, and those of them its shape history needs.
func TestDurationStats(t *testing.T) {
	// Baseline p99 per minute: 400 at 1000 invocations, one quiet minute
	// at 3000 ms with 2 invocations (weighted median ignores it).
	var base []sample.Sample
	for i := -30; i < 0; i++ {
		v, inv := 400.0+float64(i%3), 1000.0
		if i == -7 {
			v, inv = 3000, 2
		}
		base = append(base, met("Duration.p99", "", i, v), met("Invocations", "", i, inv))
	}
	lat := func(name string, thr float64, rel string) config.Rule {
		return config.Rule{Name: name, Kind: config.RuleLatency, Stat: "p99", Threshold: thr, Baseline: rel}
	}
	cases := []struct {
		name     string
		rules    []config.Rule
		baseline []sample.Sample
		want     []string
		hist     []string // HistoryStatsSince: the known-good side's trimmed counts
	}{
		{"absolute threshold needs no baseline", []config.Rule{lat("abs", 800.4, "")}, nil, []string{"p99", "TC(800:)"}, []string{"TC(800:)"}},
		{"ratio of the baseline p99", []config.Rule{lat("ratio", 1.5, "ratio")}, base, []string{"p99", "TC(599:)"}, []string{"TC(599:)"}},
		{"delta over the baseline p99", []config.Rule{lat("delta", 100, "delta")}, base, []string{"p99", "TC(499:)"}, []string{"TC(499:)"}},
		{"relative without baseline: statistic only", []config.Rule{lat("ratio", 1.5, "ratio")}, nil, []string{"p99"}, nil},
		{"compare: known-good p99 and (1+min_effect) times it", []config.Rule{
			{Name: "cmp", Kind: config.RuleCompareLatency, Stat: "p99", MinEffect: 0.25}}, base, []string{"p99", "TC(399:)", "TC(499:)"}, []string{"TC(399:)"}},
		{"compare without min_effect: one threshold", []config.Rule{
			{Name: "cmp", Kind: config.RuleCompareLatency, Stat: "p99"}}, base, []string{"p99", "TC(399:)"}, []string{"TC(399:)"}},
		{"non-percentile statistic: no counts", []config.Rule{
			{Name: "avg", Kind: config.RuleLatency, Stat: "Average", Threshold: 300}}, base, []string{"Average"}, nil},
		{"no duplicates across rules, rule order", []config.Rule{lat("abs", 800, ""), lat("abs2", 800, ""),
			{Name: "p90", Kind: config.RuleLatency, Stat: "p90", Threshold: 300}}, nil, []string{"p99", "TC(800:)", "p90", "TC(300:)"}, []string{"TC(800:)", "TC(300:)"}},
		{"no latency rule", []config.Rule{{Name: "e", Kind: config.RuleErrorRate, Threshold: 0.05}}, base, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(target(10*time.Minute, tc.rules...))
			if err != nil {
				t.Fatal(err)
			}
			got := p.DurationStats(tc.baseline)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("DurationStats = %q, want %q", got, tc.want)
			}
			if again := p.DurationStats(tc.baseline); !slices.Equal(again, got) {
				t.Fatalf("not deterministic: %q then %q", got, again)
			}
			if h := p.HistoryStatsSince(tc.baseline, time.Time{}); !slices.Equal(h, tc.hist) {
				t.Fatalf("HistoryStatsSince = %q, want %q", h, tc.hist)
			}
		})
	}
}

// compare_latency's periods with a cold-start allowance cost evidence when
// their allowances are pooled into the null's mean: a steady 2.5x slow
// share (25 of 1,000 above X a minute, the known-good 1%) tripped in the
// 6th minute so. The joint test (TestCompareLatencyJointColdStarts) trips
// by the 5th, as the average with the test of only the periods after the
// cold starts that it replaced did.
func TestCompareLatencyAfterTheColdStarts(t *testing.T) {
	p := compareLatencyCold(t)
	tripsAt := tripMinute(p, latBase(), 10, func(m int) []sample.Sample { return latencyMinutes(0, m, 1000, 800, 25, 25) })
	if tripsAt == 0 || tripsAt > 5 {
		t.Fatalf("2.5x the slow share trips in minute %d, want by the 5th", tripsAt)
	}
}

// compare_latency's periods are judged jointly with the cold starts
// (seqtest.TwoSample.LogECold): a steady 6x slow share at 200
// invocations a minute (12 above X a minute against the known-good's 2;
// 20 in the deploy's minute, some of them cold) is not a decaying curve,
// so the first minutes bound what the later ones may blame on cold
// starts. Judged one minute at a time against the most the first
// minute's bound allowed, it tripped in the 5th minute; jointly, in the
// 4th.
func TestCompareLatencyJointColdStarts(t *testing.T) {
	p := compareLatencyCold(t)
	var base []sample.Sample
	for i := -60; i < 0; i++ {
		base = append(base, met("Invocations", "", i, 200), met("Duration.p99", "", i, 400), met("Duration.TC(400:)", "", i, 2))
	}
	tripsAt := tripMinute(p, base, 10, func(m int) []sample.Sample {
		out := latencyMinutes(0, 1, 200, 800, 20, 20)
		return append(out, latencyMinutes(1, m, 200, 800, 12, 12)...)
	})
	if tripsAt == 0 || tripsAt > 4 {
		t.Fatalf("6x the slow share at 200 invocations a minute trips in minute %d, want by the 4th", tripsAt)
	}
}

// warmup = 0 (a function whose new version starts warm) allows no cold
// starts: the same steady 6x slow share as TestCompareLatencyJointColdStarts
// trips in the 2nd minute, not the 4th; the known-good's own share
// never trips.
func TestCompareLatencyWithoutWarmup(t *testing.T) {
	p := compareLatencyWarm(t)
	var base []sample.Sample
	for i := -60; i < 0; i++ {
		base = append(base, met("Invocations", "", i, 200), met("Duration.p99", "", i, 400), met("Duration.TC(400:)", "", i, 2))
	}
	if at := tripMinute(p, base, 10, func(m int) []sample.Sample { return latencyMinutes(0, m, 200, 800, 12, 12) }); at == 0 || at > 2 {
		t.Errorf("6x the slow share without a warmup trips in minute %d, want by the 2nd", at)
	}
	if at := tripMinute(p, base, 10, func(m int) []sample.Sample { return latencyMinutes(0, m, 200, 800, 2, 2) }); at != 0 {
		t.Errorf("the known-good's own slow share trips in minute %d", at)
	}
}

// compareLatencyCold compiles a compare_latency rule (min_effect 0.1)
// with a warmup of 40 s, the shipped one.
func compareLatencyCold(t *testing.T) *Policy {
	t.Helper()
	r := config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency, MinEffect: 0.1, Warmup: config.Duration{Duration: 40 * time.Second}}
	p, err := Compile(target(10*time.Minute, r))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// compareLatencyWarm compiles a compare_latency rule (min_effect 0.1)
// with warmup = "0s": no cold-start allowance.
func compareLatencyWarm(t *testing.T) *Policy {
	t.Helper()
	tg := target(10*time.Minute, config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency, MinEffect: 0.1})
	tg.Rules[0].Warmup.Duration = 0 // as config.Load leaves a written "0s"
	p, err := Compile(tg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The cold-start scale bound (coldBound) is a count of a period's slow
// invocations, among which its cold ones are: the warm ones' bursts only
// add to it, so the bound needs no tempering for them. Tempered, a bursty
// known-good (slow counts 2-18 a minute around 10) made the first
// minutes' bound loose enough that a steady 6x slow share from the
// deploy on tripped in the 5th minute instead of the 4th.
func TestColdBoundIgnoresWarmBursts(t *testing.T) {
	p := compareLatencyCold(t)
	var base []sample.Sample
	for i := -30; i < 0; i++ {
		s := []float64{2, 18, 6, 14, 10}[(i+30)%5]
		base = append(base, met("Invocations", "", i, 1000), met("Duration.p99", "", i, 400),
			met("Duration.TC(400:)", "", i, s), met("Duration.TC(440:)", "", i, s))
	}
	tripsAt := tripMinute(p, base, 10, func(m int) []sample.Sample { return latencyMinutes(0, m, 1000, 800, 60, 60) })
	if tripsAt == 0 || tripsAt > 4 {
		t.Fatalf("6x the slow share trips in minute %d, want by the 4th", tripsAt)
	}
	if testing.Verbose() {
		t.Logf("trips in minute %d", tripsAt)
	}
}

// compare_latency's prior on the known-good's slow share is centred on
// 1 - NN/100, but a per-minute p99.9 of a hundred-odd invocations is
// about their largest, so the share above it is nearer 0.8% than 0.1%.
// The informed part of the prior (the baseline's first periods) is the
// vague prior's posterior, not the centred one's: a steady 6x share
// (6 of 125 a minute above the known-good's p99.9, 1 of 125 before)
// trips in the 6th minute; with the centred prior's posterior it took
// the 8th.
func TestCompareLatencyOffCentreShare(t *testing.T) {
	r := config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency, Stat: "p99.9"}
	p, err := Compile(target(10*time.Minute, r))
	if err != nil {
		t.Fatal(err)
	}
	var base []sample.Sample
	for i := -60; i < 0; i++ {
		base = append(base, met("Invocations", "", i, 125), met("Duration.p99.9", "", i, 400), met("Duration.TC(400:)", "", i, 1))
	}
	tripsAt := tripMinute(p, base, 12, func(m int) []sample.Sample {
		var s []sample.Sample
		for i := range m {
			s = append(s, met("Invocations", "", i, 125), met("Duration.p99.9", "", i, 600), met("Duration.TC(400:)", "", i, 6))
		}
		return s
	})
	if tripsAt == 0 || tripsAt > 6 {
		t.Fatalf("6x the slow share at 125 invocations a minute trips in minute %d, want by the 6th", tripsAt)
	}
}

// tripMinute is the first minute m (1..last) after a deploy at at(0) whose
// evaluation, 10 s into minute m with the samples upTo(m) returns, trips
// (0: none does).
func tripMinute(p *Policy, base []sample.Sample, last int, upTo func(m int) []sample.Sample) int {
	return tripMinuteOf(p, Input{Baseline: base}, last, upTo)
}

// tripMinuteOf is tripMinute for the baseline (raw or prepared) that in
// carries.
func tripMinuteOf(p *Policy, in Input, last int, upTo func(m int) []sample.Sample) int {
	in.WatchStart, in.NewVersion, in.KnownGood = at(0), "2", "1"
	for m := 1; m <= last; m++ {
		in.Samples = upTo(m)
		if p.Evaluate(in, at(m).Add(10*time.Second)).Kind == Failing {
			return m
		}
	}
	return 0
}

// driftingLatency is an hour of baseline and up to an hour of watch at
// 3,000 invocations a minute whose slow share rises e^0.8 an hour (load
// through the morning): a minute's counts above 400 ms (the known-good's
// p99 at the start) and above 440 ms, the latter times worse from the
// deploy on.
func driftingLatency(worse float64) (base []sample.Sample, upTo func(m int) []sample.Sample) {
	return driftingLatencyDraw(worse, math.Round)
}

// driftingLatencyDraw is driftingLatency with each count drawn by draw
// from its mean.
func driftingLatencyDraw(worse float64, draw func(mean float64) float64) (base []sample.Sample, upTo func(m int) []sample.Sample) {
	minute := func(i int, k float64) []sample.Sample {
		g := math.Exp(0.8 * (float64(i) + 0.5) / 60)
		return []sample.Sample{met("Invocations", "", i, 3000), met("Duration.p99", "", i, 400),
			met("Duration.TC(400:)", "", i, draw(30*g*k)), met("Duration.TC(440:)", "", i, draw(18*g*k))}
	}
	for i := -60; i < 0; i++ {
		base = append(base, minute(i, 1)...)
	}
	var watch []sample.Sample
	for i := range 60 {
		watch = append(watch, minute(i, worse)...)
	}
	return base, func(m int) []sample.Sample { return watch[:4*m] }
}

// compare_latency allows the known-good's own rise in slow share that its
// baseline shows (latencyTrend): a version exactly as slow as the
// known-good would be now is not rolled back within the hour (without the
// allowance it tripped in minute 52, when the drift had passed the 10%
// margin), and one with 5x as many invocations above 440 ms (2x the
// known-good's share above 400 ms at the baseline's centre, 1.5x what the
// allowance permits 10 minutes in) still trips within minutes.
func TestCompareLatencyAllowsTheBaselinesTrend(t *testing.T) {
	p := compareLatencyWarm(t)
	base, same := driftingLatency(1)
	if m := tripMinute(p, base, 60, same); m != 0 {
		t.Errorf("a version as slow as the drifting known-good trips in minute %d, want never within the hour", m)
	}
	v := p.Evaluate(Input{WatchStart: at(0), NewVersion: "2", KnownGood: "1", Baseline: base, Samples: same(30)}, at(30).Add(10*time.Second))
	if len(v.Findings) == 0 || !strings.Contains(v.Findings[0].Note, "slow share rising (allowed: ") {
		t.Errorf("findings %+v do not say the known-good's rise is allowed for", v.Findings)
	}
	base, worse := driftingLatency(5)
	if m := tripMinute(p, base, 10, worse); m == 0 || m > 4 {
		t.Errorf("5x the slow share on the same drift trips in minute %d, want by the 4th", m)
	} else if testing.Verbose() {
		t.Logf("5x trips in minute %d", m)
	}
}

// Simulated, with Poisson counts: of watches of a version as slow as the
// drifting known-good, judged every minute for an hour at α = 5%, at most
// 5% may trip (none does; without the allowance all 200 did).
func TestCompareLatencyTrendSimulated(t *testing.T) {
	r := config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency, MinEffect: 0.1, Confidence: 0.95}
	p, err := Compile(target(10*time.Minute, r))
	if err != nil {
		t.Fatal(err)
	}
	rnd := rng{rand.New(rand.NewPCG(11, 12))}
	watches := simN(200)
	tripped := 0
	for range watches {
		base, same := driftingLatencyDraw(1, rnd.poisson)
		if tripMinute(p, base, 60, same) != 0 {
			tripped++
		}
	}
	if float64(tripped) > 0.05*float64(watches) {
		t.Errorf("%d of %d watches tripped, want at most 5%%", tripped, watches)
	}
	t.Logf("%d of %d watches tripped", tripped, watches)
}
