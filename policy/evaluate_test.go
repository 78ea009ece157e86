package policy

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

type evalCase struct {
	name      string
	rules     []config.Rule
	bake      time.Duration // default 30m: not promoting
	in        Input
	now       int // minutes after t0
	want      Kind
	breached  []string // rules that must be breached (others must not)
	alertOnly bool
	contains  string // in Summary or a Note
	check     func(t *testing.T, v Verdict)
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bake := tc.bake
			if bake == 0 {
				bake = 30 * time.Minute
			}
			p, err := Compile(target(bake, tc.rules...))
			if err != nil {
				t.Fatal(err)
			}
			in := tc.in
			in.WatchStart = t0
			if in.NewVersion == "" {
				in.NewVersion, in.KnownGood = "2", "1"
			}
			v := p.Evaluate(in, at(tc.now))
			if v.Kind != tc.want {
				t.Errorf("kind %s, want %s; summary: %s", v.Kind, tc.want, v.Summary)
			}
			checkBreached(t, v, tc.breached)
			if v.AlertOnly != tc.alertOnly {
				t.Errorf("alert_only %v, want %v: %s", v.AlertOnly, tc.alertOnly, v.Summary)
			}
			if tc.contains != "" && !strings.Contains(dump(v), tc.contains) {
				t.Errorf("verdict does not mention %q: %s", tc.contains, dump(v))
			}
			if _, err := json.Marshal(v); err != nil {
				t.Errorf("verdict not JSON-encodable: %v", err)
			}
			if tc.check != nil {
				tc.check(t, v)
			}
		})
	}
}

func dump(v Verdict) string {
	var b strings.Builder
	b.WriteString(v.Summary)
	for _, f := range v.Findings {
		b.WriteString(" || " + f.String())
	}
	return b.String()
}

func finding(t *testing.T, v Verdict, rule string) Finding {
	t.Helper()
	for _, f := range v.Findings {
		if f.Rule == rule {
			return f
		}
	}
	t.Fatalf("no finding for %s", rule)
	return Finding{}
}

var (
	errRate = config.Rule{Name: "err", Kind: config.RuleErrorRate, Threshold: 0.05}
	lat     = config.Rule{Name: "lat", Kind: config.RuleLatency, Threshold: 800}
	thr     = config.Rule{Name: "thr", Kind: config.RuleThrottles, Threshold: 10}
	queue   = config.Rule{Name: "queue", Kind: config.RuleMetric, Threshold: 100, Namespace: "App", MetricName: "Queue"}
	health  = config.Rule{Name: "health", Kind: config.RuleProbe, Probe: "health"}
	cmpErr  = config.Rule{Name: "cmp-err", Kind: config.RuleCompareErrors, MinEffect: 0.25}
	cmpLat  = config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency, MinEffect: 0.25}
)

func with(r config.Rule, f func(*config.Rule)) config.Rule { f(&r); return r }

// baseRate is 30 baseline minutes of n invocations with e errors each.
func baseRate(n, e float64) []sample.Sample { return rate("", -30, 0, n, e) }

// seqOf is n copies of v.
func seqOf(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// latBase is 30 baseline minutes at 1000 invocations with p99 400 ms and
// the trimmed counts of the given thresholds (1% above 400, 0.1% above
// 500, none above 800).
func latBase() []sample.Sample {
	var out []sample.Sample
	for i := -30; i < 0; i++ {
		out = append(out, met("Invocations", "", i, 1000), met("Duration.p99", "", i, 400),
			met("Duration.TC(400:)", "", i, 10), met("Duration.TC(500:)", "", i, 1), met("Duration.TC(800:)", "", i, 0))
	}
	return out
}

// latBaseFew is 30 baseline minutes of n invocations with p99 400 ms and
// tc a minute slower than 600 ms.
func latBaseFew(n, tc float64) []sample.Sample {
	var out []sample.Sample
	for i := -30; i < 0; i++ {
		out = append(out, met("Invocations", "", i, n), met("Duration.p99", "", i, 400), met("Duration.TC(600:)", "", i, tc))
	}
	return out
}

// deltaErr is errRate at 1% above the baseline's error rate.
var deltaErr = with(errRate, func(r *config.Rule) { r.Baseline, r.Threshold = "delta", 0.01 })

// ratioLat is lat at 1.5 times the known-good p99.
var ratioLat = with(lat, func(r *config.Rule) { r.Baseline, r.Threshold = "ratio", 1.5 })

// latBaseAbove800 is latBase with n invocations a minute slower than
// 800 ms.
func latBaseAbove800(n float64) []sample.Sample {
	out := latBase()
	for i := range out {
		if out[i].Metric == "Duration.TC(800:)" {
			out[i].Value = n
		}
	}
	return out
}

// slow is a minute's invocations and count above threshold x.
func slow(ver string, from, to int, x string, n, s, p99 float64) []sample.Sample {
	var out []sample.Sample
	for i := from; i < to; i++ {
		out = append(out, met("Invocations", ver, i, n), met("Duration.TC("+x+":)", ver, i, s), met("Duration.p99", ver, i, p99))
	}
	return out
}

func TestEvaluateErrorRules(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "error rate far above the threshold trips", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 1000, 100), Baseline: baseRate(1000, 10)}, now: 5, want: Failing, breached: []string{"err"},
			check: func(t *testing.T, v Verdict) {
				f := finding(t, v, "err")
				if f.Observed != 0.1 || f.Evidence != 5000 || f.MinEvidence != 50 || f.Samples != 5 || f.Threshold != 0.05 ||
					f.Op != ">" || f.Version != "2" || f.EValue < 1/f.Alpha || math.Abs(f.Alpha-2e-4*(1-burstDelta)) > 1e-12 || *f.PValue > f.Alpha {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "error rate below the threshold vouches", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 1000, 10)}, now: 5, want: Healthy},
		{name: "30 of 30 failing trips whatever min_invocations says", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 1, 30, 30), Baseline: baseRate(30, 1)}, now: 1, want: Failing, breached: []string{"err"}},
		// Without a baseline the threshold's bursts are unbounded: a 5%
		// error rate could come as a rare minute of everything failing, so
		// one such minute is not enough, and five in a row are.
		{name: "no baseline: one minute of 30 of 30 failing is not enough", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 1, 30, 30)}, now: 1, want: Inconclusive, contains: "null bursts of any shape"},
		// A rule that asserts how bursty errors at the threshold can be
		// needs no baseline to bound them.
		{name: "no baseline, burst_cv 1: one minute of 30 of 30 failing trips", rules: []config.Rule{with(errRate, func(r *config.Rule) { r.BurstCV = 1 })},
			in: Input{Samples: rate("", 0, 1, 30, 30)}, now: 1, want: Failing, breached: []string{"err"}, contains: "null bursts down to k=1 (burst_cv 1)"},
		{name: "no baseline: five minutes of 30 of 30 failing trip", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 30, 30)}, now: 5, want: Failing, breached: []string{"err"}},
		// A hard failure at a few invocations a minute after an hour of
		// no errors (which bounds no burst shape): one minute at 60%
		// between minutes failing entirely cost the test against the
		// burst shapes 11x (the null's rare clumps explain it better
		// than the alternatives that fit the rest), and it tripped a
		// minute later; the minutes' shares against 5% (seqtest.Hedge)
		// count it as evidence.
		{name: "low traffic: a minute at 60% among minutes failing entirely does not set the trip back", rules: []config.Rule{errRate},
			in:  Input{Samples: slices.Concat(rate("", 0, 1, 4, 4), rate("", 1, 2, 15, 15), rate("", 2, 3, 10, 6), rate("", 3, 4, 16, 16)), Baseline: baseRate(30, 0)},
			now: 4, want: Failing, breached: []string{"err"}, contains: "e averages two tests: each minute's share against the threshold, whatever the bursts (2.64e+04), and against the burst shapes (310)"},
		{name: "1 of 3 failing is no evidence", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 1, 3, 1)}, now: 1, want: Inconclusive, contains: "3 invocations < min_invocations 50"},
		{name: "slightly above the threshold needs more evidence", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 2, 1000, 60)}, now: 2, want: Healthy, contains: "120 of 2000 invocations failed"},
		{name: "periods wholly before the deploy are not evidence", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", -3, 0, 1000, 500)}, now: 0, want: Inconclusive},
		{name: "periods not yet complete are ignored", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 1000, 500)}, now: 0, want: Inconclusive, contains: "no recent data delivered"},
		{name: "delta to the baseline", rules: []config.Rule{with(errRate, func(r *config.Rule) { r.Baseline, r.Threshold = "delta", 0.03 })},
			in: Input{Samples: rate("", 0, 5, 1000, 80), Baseline: baseRate(1000, 10)}, now: 5, want: Failing, breached: []string{"err"}},
		{name: "ratio to the baseline is a two-sample test", rules: []config.Rule{with(errRate, func(r *config.Rule) { r.Baseline, r.Threshold = "ratio", 2 })},
			in: Input{Samples: rate("", 0, 5, 1000, 60), Baseline: baseRate(1000, 10)}, now: 5, want: Failing, breached: []string{"err"},
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "err"); math.Abs(f.Observed-6) > 1e-9 || f.Threshold != 2 || *f.Baseline != 0.01 {
					t.Errorf("ratio finding shows %v against %v (baseline %v), want the ratio 6 against 2", f.Observed, f.Threshold, *f.Baseline)
				}
			}},
		{name: "ratio: 2x on ~1 expected error is no evidence", rules: []config.Rule{with(errRate, func(r *config.Rule) { r.Baseline, r.Threshold = "ratio", 1.5 })},
			in: Input{Samples: rate("", 0, 1, 100, 2), Baseline: baseRate(100, 1)}, now: 1, want: Healthy},
		{name: "relative rule without a baseline cannot judge", rules: []config.Rule{with(errRate, func(r *config.Rule) { r.Baseline, r.Threshold = "ratio", 2 })},
			in: Input{Samples: rate("", 0, 5, 1000, 300)}, now: 5, want: Inconclusive, contains: "no pre-deploy baseline"},
		{name: "compare_errors against the baseline", rules: []config.Rule{cmpErr},
			in: Input{Samples: rate("", 0, 3, 1000, 50), Baseline: baseRate(1000, 10)}, now: 3, want: Failing, breached: []string{"cmp-err"}},
		{name: "compare_errors: the same rate as the baseline", rules: []config.Rule{cmpErr},
			in: Input{Samples: rate("", 0, 10, 1000, 10), Baseline: baseRate(1000, 10)}, now: 10, want: Healthy},
		{name: "compare_errors per version while split", rules: []config.Rule{cmpErr},
			in: Input{Split: true, Samples: cat(rate("2", 0, 5, 100, 6), rate("1", 0, 5, 900, 9))}, now: 5, want: Failing, breached: []string{"cmp-err"},
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "cmp-err"); *f.Baseline != 0.01 || !strings.Contains(f.Note, "known-good 1 alongside: 45 of 4500") {
					t.Errorf("split finding %s", f)
				}
			}},
		{name: "compare_errors per version while split, against a bursty baseline", rules: []config.Rule{cmpErr},
			// The baseline's region of burst shapes judges the periods
			// against it; the split periods, against the known-good
			// alongside, must count as well (they were dropped).
			in: Input{Split: true, Baseline: burstyBase(), Samples: cat(rate("2", 0, 8, 100, 50), rate("1", 0, 8, 900, 9))}, now: 8, want: Failing, breached: []string{"cmp-err"},
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "cmp-err"); !strings.Contains(f.Note, "null bursts down to k=") {
					t.Errorf("no bursty region: %s", f)
				}
			}},
		{name: "compare_errors: split judges the new version, not the alias", rules: []config.Rule{cmpErr},
			in: Input{Split: true, Samples: cat(rate("", 0, 5, 1000, 300), rate("2", 0, 5, 100, 1), rate("1", 0, 5, 900, 9))}, now: 5, want: Healthy},
		{name: "compare_errors: all zero", rules: []config.Rule{cmpErr},
			in: Input{Split: true, Samples: cat(rate("2", 0, 5, 1000, 0), rate("1", 0, 5, 1000, 0))}, now: 5, want: Healthy},
		{name: "bursty healthy errors do not trip", rules: []config.Rule{cmpErr},
			in: Input{Samples: rate("", 0, 1, 1000, 60), Baseline: burstyBase()}, now: 1, want: Healthy, contains: "null bursts down to k="},
		{name: "the same burst against a steady baseline trips", rules: []config.Rule{cmpErr},
			in: Input{Samples: rate("", 0, 1, 1000, 60), Baseline: baseRate(1000, 12)}, now: 1, want: Failing, breached: []string{"cmp-err"}},
	})
}

// burstyBase averages 1.2% errors, but in bursts: most minutes 0-5
// errors, some 40-60.
func burstyBase() []sample.Sample {
	var out []sample.Sample
	errs := []float64{2, 0, 5, 1, 45, 3, 0, 2, 60, 1, 4, 0, 1, 50, 2, 3, 0, 1, 40, 2, 5, 0, 1, 55, 3, 2, 0, 4, 1, 60}
	for i, e := range errs {
		out = append(out, met("Invocations", "", i-30, 1000), met("Errors", "", i-30, e))
	}
	return out
}

// The period containing the deploy mixes two versions; under the null
// both are no worse than known-good, so it is evidence too.
func TestEvaluateDeployPeriod(t *testing.T) {
	p, err := Compile(target(30*time.Minute, errRate))
	if err != nil {
		t.Fatal(err)
	}
	in := Input{WatchStart: t0.Add(30 * time.Second), KnownGood: "1", NewVersion: "2", Samples: rate("", 0, 1, 1000, 500), Baseline: baseRate(1000, 10)}
	if v := p.Evaluate(in, at(1)); v.Kind != Failing {
		t.Fatalf("deploy period with 50%% errors: %s", v.Summary)
	}
}

func TestEvaluateLatencyRules(t *testing.T) {
	runEvalCases(t, []evalCase{
		// 5% slow from the first period on is no cold start (those decay):
		// the first period bounds the cold starts, the next ones count
		// (coldBound); with c = 1 the first three were skipped.
		{name: "p99 above the threshold: 5% of invocations slower than it", rules: []config.Rule{lat},
			in: Input{Samples: slow("", 0, 6, "800", 1000, 50, 900), Baseline: latBaseAbove800(3)}, now: 6, want: Failing, breached: []string{"lat"},
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "lat"); math.Abs(f.Observed-900) > 1e-9 || f.Threshold != 800 || !strings.Contains(f.Note, "250 of 5000 invocations slower than 800 ms") {
					t.Errorf("finding %s", f)
				}
			}},
		// With no baseline invocation slower than 800 ms, how bursty slow
		// ones at the threshold would be is open: 5% a minute for five
		// minutes is not yet proof, ten are.
		{name: "p99 above the threshold, no baseline above it: slower", rules: []config.Rule{lat},
			in: Input{Samples: slow("", 0, 6, "800", 1000, 50, 900), Baseline: latBase()}, now: 6, want: Healthy, contains: "null bursts of any shape"},
		{name: "p99 above the threshold, no baseline above it: trips later", rules: []config.Rule{lat},
			in: Input{Samples: slow("", 0, 11, "800", 1000, 50, 900), Baseline: latBase()}, now: 11, want: Failing, breached: []string{"lat"}},
		{name: "p99 below the threshold vouches", rules: []config.Rule{lat},
			in: Input{Samples: slow("", 0, 6, "800", 1000, 2, 500), Baseline: latBase()}, now: 6, want: Healthy},
		{name: "cold starts right after the deploy are no evidence", rules: []config.Rule{lat},
			in: Input{Samples: cat(slow("", 0, 1, "800", 1000, 500, 2000), slow("", 1, 2, "800", 1000, 150, 1500), slow("", 2, 3, "800", 1000, 40, 900),
				slow("", 3, 10, "800", 1000, 0, 400)), Baseline: latBase()}, now: 10, want: Healthy},
		{name: "known-good slower than the threshold too: alert only", rules: []config.Rule{with(lat, func(r *config.Rule) { r.Threshold = 300 })},
			in: Input{Samples: slow("", 0, 6, "300", 1000, 100, 450), Baseline: latBase()}, now: 6, want: Failing, breached: []string{"lat"}, alertOnly: true},
		{name: "ratio: X is 1.5 times the baseline p99", rules: []config.Rule{with(lat, func(r *config.Rule) { r.Baseline, r.Threshold = "ratio", 1.5 })},
			in: Input{Samples: slow("", 0, 6, "600", 1000, 80, 700), Baseline: latBase()}, now: 6, want: Failing, breached: []string{"lat"},
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "lat"); math.Abs(f.Observed-1.75) > 1e-9 || f.Threshold != 1.5 || *f.Baseline != 400 {
					t.Errorf("ratio finding %s", f)
				}
			}},
		// At ten invocations a minute a minute's p99 is its slowest
		// invocation, below the known-good's real p99: its own counts show
		// 10% of its invocations above 1.5 times it. A new version as slow
		// breaches the rule, and so does the known-good.
		{name: "ratio: known-good counts above X too: alert only", rules: []config.Rule{ratioLat},
			in: Input{Samples: slow("", 0, 25, "600", 10, 2, 700), Baseline: latBaseFew(10, 1)}, now: 25, want: Failing,
			breached: []string{"lat"}, alertOnly: true, contains: "30 of 300 of its invocations before the deploy slower than 600 ms, more than the 1% a p99 allows"},
		// A p99 of fewer than 100 invocations is no p99.
		{name: "ratio: a baseline p99 of 90 invocations is not judged", rules: []config.Rule{ratioLat},
			in: Input{Samples: slow("", 0, 25, "600", 3, 3, 900), Baseline: latBaseFew(3, 0)}, now: 25, want: Inconclusive,
			contains: "rests on 90 invocations, fewer than the 100 a p99 needs"},
		{name: "compare_latency: new side above 1.25x the known-good p99", rules: []config.Rule{cmpLat},
			in: Input{Samples: slow("", 0, 6, "500", 1000, 100, 700), Baseline: latBase()}, now: 6, want: Failing, breached: []string{"cmp-lat"},
			// both sides' counts: the new one's above 1.25x, the known-good's above its p99
			contains: "600 of 6000 invocations slower than 500 ms over 6m0s; known-good p99 before the deploy 400 ms, 300 of 30000 invocations slower than 400 ms"},
		{name: "compare_latency: as slow as the known-good", rules: []config.Rule{cmpLat},
			in: Input{Samples: slow("", 0, 5, "500", 1000, 1, 400), Baseline: latBase()}, now: 5, want: Healthy},
		{name: "compare_latency per version while split", rules: []config.Rule{cmpLat},
			in:  Input{Split: true, Baseline: latBase(), Samples: cat(slow("2", 0, 7, "500", 200, 40, 800), slow("1", 0, 7, "400", 800, 8, 400))},
			now: 7, want: Failing, breached: []string{"cmp-lat"}},
		{name: "fallback without trimmed counts: log p99 per period", rules: []config.Rule{lat},
			in: Input{Samples: cat(vals("Duration.p99", "", 0, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000), vals("Invocations", "", 0, repeat(1000, 8)...)),
				Baseline: latBase()}, now: 8, want: Failing, breached: []string{"lat"}, contains: "without counts"},
		{name: "fallback: a few invocations count for little", rules: []config.Rule{lat},
			in: Input{Samples: cat(vals("Duration.p99", "", 0, 2000, 2000, 2000, 2000), vals("Invocations", "", 0, 3, 3, 3, 3)),
				Baseline: latBase()}, now: 4, want: Inconclusive},
	})
}

func TestEvaluateThrottlesAndMetrics(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "throttles per period", rules: []config.Rule{thr},
			in: Input{Samples: vals("Throttles", "", 0, 40, 40, 40), Baseline: vals("Throttles", "", -30, seqOf(30, 4)...)}, now: 3, want: Failing, breached: []string{"thr"}},
		{name: "throttles per period, no baseline: bursts unbounded", rules: []config.Rule{thr},
			in: Input{Samples: vals("Throttles", "", 0, 40, 40)}, now: 2, want: Inconclusive, contains: "null bursts of any shape"},
		{name: "throttles below the per-period threshold", rules: []config.Rule{thr},
			in: Input{Samples: vals("Throttles", "", 0, 2, 0, 5, 1)}, now: 4, want: Healthy},
		{name: "throttled share of requests", rules: []config.Rule{with(thr, func(r *config.Rule) { r.Threshold = 0.01 })},
			in: Input{Samples: cat(vals("Throttles", "", 0, 100, 100), vals("Invocations", "", 0, 900, 900)), Baseline: cat(vals("Throttles", "", -30, seqOf(30, 2)...), vals("Invocations", "", -30, seqOf(30, 998)...))}, now: 2, want: Failing, breached: []string{"thr"}},
		{name: "custom metric breach", rules: []config.Rule{queue},
			in: Input{Samples: vals("rule:queue", "", 0, 500, 500, 500)}, now: 3, want: Failing, breached: []string{"queue"}},
		{name: "custom metric op <", rules: []config.Rule{with(queue, func(r *config.Rule) { r.Op, r.Threshold = "<", 10 })},
			in: Input{Samples: vals("rule:queue", "", 0, 5, 4, 3)}, now: 3, want: Failing, breached: []string{"queue"}},
		{name: "custom metric per version while split", rules: []config.Rule{queue},
			in: Input{Split: true, Samples: cat(vals("rule:queue", "2", 0, 500, 500, 500), vals("rule:queue", "", 0, 5, 5, 5))}, now: 3, want: Failing, breached: []string{"queue"}},
		{name: "custom metric per version, alias not split", rules: []config.Rule{queue},
			in: Input{Samples: vals("rule:queue", "2", 0, 500, 500, 500)}, now: 3, want: Failing, breached: []string{"queue"}},
	})
}

func TestEvaluateProbeRules(t *testing.T) {
	var fine, failing, flaky []sample.Sample
	for i := 0; i < 60; i++ {
		ts := t0.Add(time.Duration(i-60) * 30 * time.Second)
		fine = append(fine, sample.Sample{Kind: sample.KindProbe, Source: "health", Time: ts, Outcome: sample.OutcomeOK})
		failing = append(failing, sample.Sample{Kind: sample.KindProbe, Source: "health", Time: ts, Outcome: sample.OutcomeFail})
		o := sample.OutcomeOK
		if i%20 == 7 {
			o = sample.OutcomeFail
		}
		flaky = append(flaky, sample.Sample{Kind: sample.KindProbe, Source: "health", Time: ts, Outcome: o})
	}
	runEvalCases(t, []evalCase{
		{name: "hard-down health endpoint trips within a few probes", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, "xxxxxx"), Baseline: fine}, now: 3, want: Failing, breached: []string{"health"}},
		{name: "without a probe baseline: against the tolerated rate", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, "xxxxxxx")}, now: 4, want: Failing, breached: []string{"health"}},
		{name: "a flaky probe failing 5% before and after never trips", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, strings.Repeat("...x..............x.", 3)), Baseline: flaky}, now: 30, want: Healthy},
		{name: "failing before and after: alert only", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, "xxxxxxxxxx"), Baseline: failing}, now: 5, want: Failing, breached: []string{"health"}, alertOnly: true},
		{name: "failing before, fixed after: promotes", rules: []config.Rule{health}, bake: 10 * time.Minute,
			in: Input{Samples: probes("health", 0, strings.Repeat(".", 24)), Baseline: failing}, now: 11, want: Promote},
		{name: "source errors are not evidence", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, "eeeeeeee")}, now: 4, want: Inconclusive},
		{name: "other probes are not this rule's", rules: []config.Rule{health},
			in: Input{Samples: probes("deep", 0, "xxxxxxxx")}, now: 4, want: Inconclusive},
	})
}

func TestEvaluateSourceErrors(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "source errors are never breaching", rules: []config.Rule{errRate},
			in: Input{Samples: rateOut("", 0, 5, sample.OutcomeSourceError)}, now: 5, want: Inconclusive, contains: "only source errors"},
		{name: "source errors beside data: judged on the data", rules: []config.Rule{errRate},
			in: Input{Samples: cat(rateOut("", 0, 3, sample.OutcomeSourceError), rate("", 3, 5, 1000, 200)), Baseline: baseRate(1000, 10)}, now: 5, want: Failing, breached: []string{"err"}},
		{name: "an errors source error drops the period", rules: []config.Rule{errRate},
			in: Input{Samples: cat(rate("", 0, 1, 1000, 5), []sample.Sample{met("Invocations", "", 1, 1000), metOut("Errors", "", 1, sample.OutcomeSourceError)})}, now: 2, want: Healthy,
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "err"); f.Evidence != 1000 {
					t.Errorf("evidence %v, want 1000 (the period with a source error dropped)", f.Evidence)
				}
			}},
		{name: "nothing delivered yet", rules: []config.Rule{errRate}, in: Input{}, now: 2, want: Inconclusive, contains: "no recent data delivered"},
	})
}

func TestEvaluateForAndMOfN(t *testing.T) {
	oneMin := func(r config.Rule) config.Rule { r.Window = dur(time.Minute); r.MinSamples = 1; return r }
	forRule := with(oneMin(queue), func(r *config.Rule) { r.For = dur(3 * time.Minute) })
	mofn := with(oneMin(queue), func(r *config.Rule) { r.Breaches, r.OfWindows = 2, 3 })
	hi, lo := 1000.0, 10.0
	q := func(v ...float64) []sample.Sample { return vals("rule:queue", "", 0, v...) }
	runEvalCases(t, []evalCase{
		{name: "for: breaching 2m of 3m is not enough", rules: []config.Rule{forRule},
			in: Input{Samples: q(lo, lo, lo, hi, hi, hi)}, now: 6, want: Healthy},
		{name: "for: breaching 4 periods (3m back) trips", rules: []config.Rule{forRule},
			in: Input{Samples: q(lo, lo, hi, hi, hi, hi)}, now: 6, want: Failing, breached: []string{"queue"}, contains: "for 3m0s"},
		{name: "M of N: 2 of 3 with a gap trips", rules: []config.Rule{mofn},
			in: Input{Samples: q(lo, lo, lo, hi, lo, hi)}, now: 6, want: Failing, breached: []string{"queue"}, contains: "breached in 2 of last 3 windows"},
		{name: "M of N: 1 of 3 does not", rules: []config.Rule{mofn},
			in: Input{Samples: q(lo, lo, lo, lo, lo, hi)}, now: 6, want: Healthy},
		{name: "missing data breaching", rules: []config.Rule{with(queue, func(r *config.Rule) { r.MissingData = "breaching" })},
			in: Input{Samples: []sample.Sample{metOut("rule:queue", "", 0, sample.OutcomeNoData)}}, now: 1, want: Failing, breached: []string{"queue"}},
		{name: "missing data good", rules: []config.Rule{with(queue, func(r *config.Rule) { r.MissingData = "good" })},
			in: Input{Samples: []sample.Sample{metOut("rule:queue", "", 0, sample.OutcomeNoData)}}, now: 1, want: Healthy},
	})
}

func TestEvaluateBakeAndPromotion(t *testing.T) {
	good := cat(rate("", 0, 12, 1000, 5), probes("health", 0, strings.Repeat(".", 24)))
	runEvalCases(t, []evalCase{
		{name: "healthy while baking", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: good}, now: 8, want: Healthy, contains: "baking 8m0s of 10m0s"},
		{name: "promote at bake end", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: good}, now: 10, want: Promote},
		{name: "never promote again once promoted", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: good, Promoted: true}, now: 12, want: Healthy, contains: "rollback window"},
		{name: "promoted watch can still fail", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: cat(rate("", 0, 12, 1000, 500), probes("health", 0, "...")), Promoted: true}, now: 12, want: Failing, breached: []string{"err"}},
		{name: "zero traffic and passing probes promote", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: cat(rateOut("", 0, 10, sample.OutcomeNoData), probes("health", 0, strings.Repeat(".", 21)))}, now: 10, want: Promote},
		{name: "zero traffic without probes stays inconclusive", rules: []config.Rule{errRate}, bake: 10 * time.Minute,
			in: Input{Samples: rateOut("", 0, 20, sample.OutcomeNoData)}, now: 20, want: Inconclusive},
		{name: "promotion waits for metrics covering the bake time", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: cat(rate("", 0, 8, 1000, 5), probes("health", 0, strings.Repeat(".", 21)))}, now: 10, want: Healthy, contains: "promotion waits for err"},
		{name: "promotion waits while a rule is blind", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: cat(rate("", 0, 9, 1000, 5), rateOut("", 9, 10, sample.OutcomeSourceError), probes("health", 0, strings.Repeat(".", 21)))}, now: 10,
			want: Healthy, contains: "only source errors"},
		{name: "promotion waits while evidence against the new version builds up", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: cat(rate("", 0, 10, 1000, 70), probes("health", 0, strings.Repeat(".", 21))), Baseline: baseRate(1000, 10)}, now: 10,
			want: Healthy, contains: "evidence against the new version, not yet tripped"},
		{name: "low evidence neither blocks nor vouches", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: cat(rate("", 0, 10, 2, 0), probes("health", 0, strings.Repeat(".", 21)))}, now: 10, want: Promote},
		{name: "little traffic, all failing, is overwhelming evidence", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: cat(rate("", 0, 10, 2, 1), probes("health", 0, strings.Repeat(".", 21)))}, now: 10, want: Failing, breached: []string{"err"}},
	})
}

func TestEvaluateAlertOnly(t *testing.T) {
	badBase := baseRate(1000, 100)
	runEvalCases(t, []evalCase{
		{name: "known-good was already failing", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 1000, 100), Baseline: badBase}, now: 5, want: Failing, breached: []string{"err"}, alertOnly: true, contains: "known-good 1 breaches too"},
		{name: "known-good was fine", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 1000, 150), Baseline: baseRate(1000, 5)}, now: 5, want: Failing, breached: []string{"err"}},
		{name: "an incident made worse rolls back", rules: []config.Rule{errRate, cmpErr},
			in: Input{Samples: rate("", 0, 5, 1000, 300), Baseline: badBase}, now: 5, want: Failing, breached: []string{"err", "cmp-err"}},
		{name: "another rule fails on its own", rules: []config.Rule{errRate, health},
			in: Input{Samples: cat(rate("", 0, 5, 1000, 100), probes("health", 0, "..xxxxxxxx")), Baseline: badBase}, now: 5, want: Failing, breached: []string{"err", "health"}},
		// Six invocations a minute: two errors in the last five minutes
		// are above 5%, but a version failing every request is far worse
		// than that, and rolling back helps.
		{name: "known-good's last minutes above on two errors", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 3, 6, 6), Baseline: cat(rate("", -30, -2, 6, 0), rate("", -2, 0, 6, 1))}, now: 3, want: Failing, breached: []string{"err"}},
		// Three a minute: one error in the last five minutes (7%) is
		// above 5%, and the log-scale z of 1.25x that error could not
		// pass 3 standard errors however many requests failed (z 2.5 at
		// 15 of 15): the exact test of the two counts can.
		{name: "known-good's last minutes above on one error", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 3, 3), Baseline: cat(rate("", -30, -3, 3, 0), rate("", -3, -2, 3, 1), rate("", -2, 0, 3, 0))}, now: 5, want: Failing, breached: []string{"err"}},
		// Two a minute: one error in the known-good's last ten requests
		// (10%, above 5%) leaves its rate anywhere up to 0.65, and 1.25
		// times that would explain any number of failures counted as
		// Poisson events; neither test above called 20 of 20 failing worse.
		// The known-good served nine of those ten: Fisher's exact test of
		// the two blocks (fisherAbove) does.
		{name: "known-good's last minutes above on one error in ten", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 10, 2, 2), Baseline: cat(rate("", -30, -5, 2, 0), rate("", -5, -4, 2, 1), rate("", -4, 0, 2, 0))}, now: 10, want: Failing, breached: []string{"err"}},
		// A threshold relative to the baseline's rate (+1%, 2% here): the
		// known-good failing 15% in its last two minutes (too short a tail
		// for a step) is above it too, and a version as bad is no reason
		// to roll back; one failing every request is.
		{name: "delta: known-good's last minutes above it too", rules: []config.Rule{deltaErr},
			in: Input{Samples: rate("", 0, 10, 20, 3), Baseline: cat(rate("", -30, -2, 20, 0), rate("", -2, 0, 20, 3))}, now: 10, want: Failing,
			breached: []string{"err"}, alertOnly: true, contains: "known-good 1 breaches too: 0.06 over its last 5 periods"},
		{name: "delta: far worse than the known-good's last minutes", rules: []config.Rule{deltaErr},
			in: Input{Samples: rate("", 0, 5, 20, 20), Baseline: cat(rate("", -30, -2, 20, 0), rate("", -2, 0, 20, 3))}, now: 5, want: Failing,
			breached: []string{"err"}},
		{name: "split: known-good side at the same time", rules: []config.Rule{errRate},
			in: Input{Split: true, Samples: cat(rate("2", 0, 5, 1000, 100), rate("1", 0, 5, 1000, 90)), Baseline: baseRate(1000, 10)}, now: 5, want: Failing, breached: []string{"err"}, alertOnly: true},
	})
}

func TestEvaluateIsPure(t *testing.T) {
	p, err := Compile(target(10*time.Minute, errRate, health, cmpLat))
	if err != nil {
		t.Fatal(err)
	}
	samples := cat(probes("health", 0, "x.x.x.x"), rate("", 3, 5, 1000, 3), rate("", 0, 3, 1000, 3))
	orig := append([]sample.Sample(nil), samples...)
	in := Input{WatchStart: t0, NewVersion: "2", KnownGood: "1", Samples: samples}
	a, b := p.Evaluate(in, at(5)), p.Evaluate(in, at(5))
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("same input, different verdicts:\n%s\n%s", ja, jb)
	}
	for i := range samples {
		if samples[i] != orig[i] {
			t.Fatalf("Evaluate modified its input at %d", i)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name string
		rule config.Rule
		want string
	}{
		{"unknown kind", config.Rule{Name: "a", Kind: "cpu"}, `kind: must be one of`},
		{"unknown op", with(errRate, func(r *config.Rule) { r.Op = "=>" }), `op: must be >, >=, < or <=`},
		{"op < on a statistical rule", with(errRate, func(r *config.Rule) { r.Op = "<" }), `op: a error_rate rule trips when the target gets worse`},
		{"unknown baseline", with(errRate, func(r *config.Rule) { r.Baseline = "relative" }), `baseline: must be "ratio" or "delta"`},
		{"M > N", with(queue, func(r *config.Rule) { r.Breaches, r.OfWindows = 3, 2 }), "breaches: must be between 1 and of_windows (2)"},
		{"unknown probe", with(health, func(r *config.Rule) { r.Probe = "deep" }), `probe: unknown probe "deep"`},
		{"confidence", with(cmpLat, func(r *config.Rule) { r.Confidence = 1.5 }), "confidence: must be in [0.5, 1)"},
		{"baseline on probe", with(health, func(r *config.Rule) { r.Baseline = "ratio" }), `baseline "ratio" does not apply`},
		{"window under the period", with(queue, func(r *config.Rule) { r.Window = dur(30 * time.Second) }), "shorter than metric_period 1m0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(target(time.Minute, tc.rule))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"`+tc.rule.Name+`"`) {
				t.Fatalf("error %v, want one mentioning %q and the rule", err, tc.want)
			}
		})
	}
	if _, err := Compile(target(time.Minute, errRate, errRate)); err == nil || !strings.Contains(err.Error(), "duplicate rule name") {
		t.Fatalf("duplicate names: %v", err)
	}
	if _, err := Compile(target(time.Minute)); err == nil {
		t.Fatal("a target without rules compiled")
	}
	// Compile trusts config defaults: a target without them is rejected,
	// not judged with defaults of its own.
	if _, err := Compile(config.Target{Name: "t", Rules: []config.Rule{errRate}}); err == nil || !strings.Contains(err.Error(), "apply config defaults") {
		t.Fatalf("target without defaults: %v", err)
	}
}

// The watch-level bound is the sum of the rules' levels.
func TestPolicyAlpha(t *testing.T) {
	p, err := Compile(target(time.Minute, errRate, cmpErr, health, queue, with(lat, func(r *config.Rule) { r.Confidence = 0.999 })))
	if err != nil {
		t.Fatal(err)
	}
	if a := p.Alpha(); math.Abs(a-(3*2e-4+1e-3)) > 1e-12 {
		t.Fatalf("Alpha = %g", a)
	}
	if got := p.Metrics(); strings.Join(got, ",") != "Errors,Invocations,rule:queue,Duration.p99" {
		t.Fatalf("metrics %v", got)
	}
}

// One Policy serves many watches at once: concurrent Evaluate calls share
// pooled buffers and the exact-distribution cache, and must still agree
// with a sequential evaluation (run with -race).
func TestEvaluateConcurrent(t *testing.T) {
	p, err := Compile(exampleTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	inputs := []Input{benchInput(false), benchInput(true), {WatchStart: t0, NewVersion: "2", Samples: rate("", 0, 30, 1000, 300)}}
	inputs[0].Prepared = p.PrepareBaseline(inputs[0].Baseline)
	want := make([]string, len(inputs))
	for i, in := range inputs {
		want[i] = dump(p.Evaluate(in, at(30)))
	}
	errs := make(chan string, 8)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for k := 0; k < 200; k++ {
				i := (g + k) % len(inputs)
				if got := dump(p.Evaluate(inputs[i], at(30))); got != want[i] {
					errs <- got
					return
				}
			}
		}(g)
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Errorf("concurrent verdict differs: %s", e)
	}
}

// checkBreached fails unless exactly the rules named breached.
func checkBreached(t *testing.T, v Verdict, names []string) {
	t.Helper()
	want := map[string]bool{}
	for _, r := range names {
		want[r] = true
	}
	for _, f := range v.Findings {
		if f.Breached != want[f.Rule] {
			t.Errorf("rule %s breached=%v, want %v: %s", f.Rule, f.Breached, want[f.Rule], f)
		}
	}
}
