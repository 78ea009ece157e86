package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"

	"github.com/canaryd/canaryd/config"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func dur(d time.Duration) config.Duration { return config.Duration{Duration: d} }

func met(metric, ver string, min int, v float64) sample.Sample {
	return sample.Sample{Kind: sample.KindMetric, Source: "cloudwatch", Metric: metric, Version: ver,
		Time: at(min), Period: time.Minute, Outcome: sample.OutcomeOK, Value: v}
}

func metOut(metric, ver string, min int, o sample.Outcome) sample.Sample {
	s := met(metric, ver, min, 0)
	s.Outcome = o
	return s
}

// rate is Invocations and Errors for minutes [from, to).
func rate(ver string, from, to int, inv, errs float64) []sample.Sample {
	var out []sample.Sample
	for i := from; i < to; i++ {
		out = append(out, met("Invocations", ver, i, inv), met("Errors", ver, i, errs))
	}
	return out
}

// rateOut is Invocations and Errors with one outcome for minutes [from, to).
func rateOut(ver string, from, to int, o sample.Outcome) []sample.Sample {
	var out []sample.Sample
	for i := from; i < to; i++ {
		out = append(out, metOut("Invocations", ver, i, o), metOut("Errors", ver, i, o))
	}
	return out
}

// vals is one value per minute from `from` on.
func vals(metric, ver string, from int, v ...float64) []sample.Sample {
	var out []sample.Sample
	for i, x := range v {
		out = append(out, met(metric, ver, from+i, x))
	}
	return out
}

// probes are results every 30s from minute `from`: '.' ok, 'x' fail, 'e' source error.
func probes(name string, from int, results string) []sample.Sample {
	var out []sample.Sample
	for i, c := range results {
		s := sample.Sample{Kind: sample.KindProbe, Source: name, Time: at(from).Add(time.Duration(i) * 30 * time.Second), Outcome: sample.OutcomeOK, Status: 200}
		switch c {
		case 'x':
			s.Outcome, s.Status = sample.OutcomeFail, 503
		case 'e':
			s.Outcome, s.Status = sample.OutcomeSourceError, 0
		}
		out = append(out, s)
	}
	return out
}

func cat(parts ...[]sample.Sample) []sample.Sample {
	var out []sample.Sample
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func target(bake time.Duration, rules ...config.Rule) config.Target {
	return config.Target{Name: "t", BakeTime: dur(bake), MetricPeriod: dur(time.Minute),
		Probes: []config.Probe{{Name: "health"}}, Rules: rules}
}

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
			want := map[string]bool{}
			for _, r := range tc.breached {
				want[r] = true
			}
			for _, f := range v.Findings {
				if f.Breached != want[f.Rule] {
					t.Errorf("rule %s breached=%v, want %v: %s", f.Rule, f.Breached, want[f.Rule], f)
				}
			}
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
	errRate = config.Rule{Name: "err", Kind: config.RuleErrorRate, Threshold: 0.05, Window: dur(5 * time.Minute)}
	lat     = config.Rule{Name: "lat", Kind: config.RuleLatency, Threshold: 800, Window: dur(5 * time.Minute)}
	thr     = config.Rule{Name: "thr", Kind: config.RuleThrottles, Threshold: 10, Window: dur(5 * time.Minute)}
	queue   = config.Rule{Name: "queue", Kind: config.RuleMetric, Threshold: 100, Window: dur(5 * time.Minute)}
	health  = config.Rule{Name: "health", Kind: config.RuleProbe, Probe: "health", ConsecutiveFailures: 3, Window: dur(5 * time.Minute)}
	cmpErr  = config.Rule{Name: "cmp-err", Kind: config.RuleCompareErrors, Window: dur(5 * time.Minute), MinInvocations: 500, MinEffect: 0.5}
	cmpLat  = config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency, Window: dur(5 * time.Minute), MinSamples: 5, MinEffect: 0.2}
)

func with(r config.Rule, f func(*config.Rule)) config.Rule { f(&r); return r }

func TestEvaluateRuleKinds(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "error_rate breaches", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 1000, 100)}, now: 5, want: Failing, breached: []string{"err"},
			check: func(t *testing.T, v Verdict) {
				f := finding(t, v, "err")
				if f.Observed != 0.1 || f.Evidence != 5000 || f.MinEvidence != 50 || f.Samples != 5 || f.Window != 5*time.Minute || f.Threshold != 0.05 || f.Op != ">" || f.Version != "2" {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "error_rate healthy", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 1000, 10)}, now: 5, want: Healthy},
		{name: "error_rate below min_invocations cannot breach", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 5, 2)}, now: 5, want: Inconclusive, contains: "25 invocations < min_invocations 50",
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "err"); f.Enough || f.Evidence != 25 {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "error_rate ratio to baseline", rules: []config.Rule{with(errRate, func(r *config.Rule) { r.Baseline, r.Threshold = "ratio", 2 })},
			in: Input{Samples: rate("", 0, 5, 1000, 30), Baseline: rate("", -30, 0, 1000, 10)}, now: 5, want: Failing, breached: []string{"err"},
			check: func(t *testing.T, v Verdict) {
				f := finding(t, v, "err")
				if !near(f.Observed, 3, 1e-9) || f.Baseline == nil || !near(*f.Baseline, 0.01, 1e-12) {
					t.Errorf("finding %s", f)
				}
			}},
		{name: "error_rate delta to baseline within", rules: []config.Rule{with(errRate, func(r *config.Rule) { r.Baseline, r.Threshold = "delta", 0.03 })},
			in: Input{Samples: rate("", 0, 5, 1000, 30), Baseline: rate("", -30, 0, 1000, 10)}, now: 5, want: Healthy},
		{name: "relative rule without baseline evidence is inconclusive", rules: []config.Rule{with(errRate, func(r *config.Rule) { r.Baseline, r.Threshold = "ratio", 2 })},
			in: Input{Samples: rate("", 0, 5, 1000, 300)}, now: 5, want: Inconclusive, contains: "known-good side has too little evidence"},
		{name: "latency breaches", rules: []config.Rule{lat},
			in: Input{Samples: vals("Duration.p99", "", 0, 900, 950, 1000, 850, 900)}, now: 5, want: Failing, breached: []string{"lat"}},
		{name: "latency needs min_samples", rules: []config.Rule{lat},
			in: Input{Samples: vals("Duration.p99", "", 3, 5000, 5000)}, now: 5, want: Inconclusive, contains: "2 samples < min_samples 3"},
		{name: "throttles breach", rules: []config.Rule{thr},
			in: Input{Samples: vals("Throttles", "", 0, 20, 20, 20, 20, 20)}, now: 5, want: Failing, breached: []string{"thr"}},
		{name: "custom metric breach", rules: []config.Rule{queue},
			in: Input{Samples: vals("rule:queue", "", 0, 500, 500, 500)}, now: 3, want: Failing, breached: []string{"queue"}},
		{name: "custom metric op <", rules: []config.Rule{with(queue, func(r *config.Rule) { r.Op, r.Threshold = "<", 10 })},
			in: Input{Samples: vals("rule:queue", "", 0, 5, 4, 3)}, now: 3, want: Failing, breached: []string{"queue"}},
		{name: "custom metric of another name is ignored", rules: []config.Rule{queue},
			in: Input{Samples: vals("rule:other", "", 0, 500, 500, 500)}, now: 3, want: Inconclusive},
		{name: "probe consecutive failures", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, "....xxx")}, now: 4, want: Failing, breached: []string{"health"}, contains: "consecutive failures"},
		{name: "probe failures not consecutive", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, "..xx.x.")}, now: 4, want: Healthy},
		{name: "probe source errors do not break nor count", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, "...xxeeex")}, now: 5, want: Failing, breached: []string{"health"}},
		{name: "probe failure ratio", rules: []config.Rule{with(health, func(r *config.Rule) { r.ConsecutiveFailures, r.FailureRatio = 0, 0.5 })},
			in: Input{Samples: probes("health", 0, "x.x.x.xx.")}, now: 5, want: Failing, breached: []string{"health"},
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "health"); !near(f.Observed, 5.0/9, 1e-12) || f.Threshold != 0.5 {
					t.Errorf("finding %s", f)
				}
			}},
		{name: "probe other probe ignored", rules: []config.Rule{health},
			in: Input{Samples: probes("deep", 0, "xxxxxxxx")}, now: 4, want: Inconclusive},
		{name: "compare_errors trips", rules: []config.Rule{cmpErr},
			in: Input{Split: true, Samples: cat(rate("2", 0, 5, 1000, 40), rate("1", 0, 5, 1000, 10))}, now: 5, want: Failing, breached: []string{"cmp-err"},
			check: func(t *testing.T, v Verdict) {
				f := finding(t, v, "cmp-err")
				if f.PValue == nil || *f.PValue > 1e-6 || *f.Baseline != 0.01 || f.Observed != 0.04 || !near(f.Threshold, 0.015, 1e-12) {
					t.Errorf("finding %s", f)
				}
			}},
		{name: "compare_errors equal rates", rules: []config.Rule{cmpErr},
			in: Input{Split: true, Samples: cat(rate("2", 0, 5, 1000, 11), rate("1", 0, 5, 1000, 10))}, now: 5, want: Healthy},
		{name: "compare_errors all zero", rules: []config.Rule{cmpErr},
			in: Input{Split: true, Samples: cat(rate("2", 0, 5, 1000, 0), rate("1", 0, 5, 1000, 0))}, now: 5, want: Healthy,
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "cmp-err"); f.PValue == nil || *f.PValue != 1 {
					t.Errorf("finding %s", f)
				}
			}},
		{name: "compare_errors significant but too few errors", rules: []config.Rule{with(cmpErr, func(r *config.Rule) { r.MinEffect = 0 })},
			in: Input{Split: true, Samples: cat(rate("2", 0, 5, 100000, 0.8), rate("1", 0, 5, 1000000, 0))}, now: 5, want: Healthy, contains: "too few errors"},
		{name: "compare_errors below min_invocations", rules: []config.Rule{cmpErr},
			in: Input{Split: true, Samples: cat(rate("2", 0, 5, 20, 10), rate("1", 0, 5, 1000, 0))}, now: 5, want: Inconclusive, contains: "100 invocations < min_invocations 500"},
		{name: "compare_latency trips", rules: []config.Rule{cmpLat},
			in: Input{Split: true, Samples: cat(vals("Duration.p99", "2", 0, 1000, 1100, 1050, 990, 1020), vals("Duration.p99", "1", 0, 400, 410, 390, 405, 395))}, now: 5,
			want: Failing, breached: []string{"cmp-lat"},
			check: func(t *testing.T, v Verdict) {
				// 5 vs 5 fully separated: exact p = 1/252.
				if f := finding(t, v, "cmp-lat"); f.PValue == nil || !near(*f.PValue, 1.0/252, 1e-12) || f.Observed != 1020 || *f.Baseline != 400 {
					t.Errorf("finding %s", f)
				}
			}},
		{name: "compare_latency significant but below min_effect", rules: []config.Rule{cmpLat},
			in: Input{Split: true, Samples: cat(vals("Duration.p99", "2", 0, 420, 421, 422, 423, 424), vals("Duration.p99", "1", 0, 400, 401, 402, 403, 404))}, now: 5, want: Healthy},
		{name: "compare_latency with too few periods to ever reject", rules: []config.Rule{with(cmpLat, func(r *config.Rule) { r.MinSamples = 3; r.Window = dur(3 * time.Minute) })},
			in: Input{Split: true, Samples: cat(vals("Duration.p99", "2", 2, 5000, 5000, 5000), vals("Duration.p99", "1", 2, 400, 400, 401))}, now: 5, want: Healthy,
			contains: "too few periods per side"},
		{name: "compare_latency all zero", rules: []config.Rule{cmpLat},
			in: Input{Split: true, Samples: cat(vals("Duration.p99", "2", 0, repeat(0, 5)...), vals("Duration.p99", "1", 0, repeat(0, 5)...))}, now: 5, want: Healthy},
		{name: "compare_latency against pre-deploy baseline", rules: []config.Rule{cmpLat},
			in: Input{Samples: vals("Duration.p99", "", 0, 1000, 1100, 1050, 990, 1020), Baseline: vals("Duration.p99", "", -30, repeat(400, 30)...)}, now: 5,
			want: Failing, breached: []string{"cmp-lat"}},
		{name: "split judges the new version, not the alias", rules: []config.Rule{errRate},
			in: Input{Split: true, Samples: cat(rate("", 0, 5, 1000, 500), rate("2", 0, 5, 1000, 1))}, now: 5, want: Healthy},
		{name: "alias-level samples before the deploy are ignored", rules: []config.Rule{errRate},
			in: Input{Samples: cat(rate("", -5, 0, 1000, 500), rate("", 0, 5, 1000, 1))}, now: 5, want: Healthy},
		{name: "periods not yet complete are ignored", rules: []config.Rule{errRate},
			in: Input{Samples: cat(rate("", 0, 5, 1000, 1), rate("", 5, 6, 1000, 900))}, now: 5, want: Healthy},
	})
}

func TestEvaluateMissingData(t *testing.T) {
	noData := rateOut("", 0, 5, sample.OutcomeNoData)
	srcErr := rateOut("", 0, 5, sample.OutcomeSourceError)
	mode := func(m string) []config.Rule {
		return []config.Rule{with(errRate, func(r *config.Rule) { r.MissingData = m })}
	}
	runEvalCases(t, []evalCase{
		{name: "default is ignore", rules: mode(""), in: Input{Samples: noData}, now: 5, want: Inconclusive, contains: "missing_data=ignore"},
		{name: "ignore", rules: mode("ignore"), in: Input{Samples: noData}, now: 5, want: Inconclusive},
		{name: "breaching", rules: mode("breaching"), in: Input{Samples: noData}, now: 5, want: Failing, breached: []string{"err"}},
		{name: "good", rules: mode("good"), in: Input{Samples: noData}, now: 5, want: Healthy},
		{name: "zero invocations is missing", rules: mode("breaching"), in: Input{Samples: rate("", 0, 5, 0, 0)}, now: 5, want: Failing, breached: []string{"err"}},
		{name: "covered window with nothing delivered is missing", rules: []config.Rule{with(errRate, func(r *config.Rule) {
			r.MissingData, r.Window, r.Breaches, r.OfWindows = "breaching", dur(2*time.Minute), 1, 3
		})},
			in: Input{Samples: cat(rate("", 0, 2, 1000, 0), rate("", 9, 10, 1000, 0))}, now: 10, want: Failing, breached: []string{"err"}},
		{name: "covered window with nothing delivered, ignored", rules: []config.Rule{with(errRate, func(r *config.Rule) {
			r.Window, r.Breaches, r.OfWindows = dur(2*time.Minute), 1, 3
		})},
			in: Input{Samples: cat(rate("", 0, 2, 1000, 0), rate("", 9, 10, 1000, 0))}, now: 10, want: Healthy},
		{name: "source errors are never breaching", rules: mode("breaching"), in: Input{Samples: srcErr}, now: 5, want: Inconclusive, contains: "only source errors"},
		{name: "source errors are never good", rules: mode("good"), in: Input{Samples: srcErr}, now: 5, want: Inconclusive},
		{name: "source errors beside data: judged on the data", rules: mode("breaching"),
			in: Input{Samples: cat(rateOut("", 0, 3, sample.OutcomeSourceError), rate("", 3, 5, 1000, 200))}, now: 5, want: Failing, breached: []string{"err"},
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "err"); f.Evidence != 2000 || f.Samples != 2 {
					t.Errorf("finding %s", f)
				}
			}},
		{name: "errors source error drops the period", rules: mode("ignore"),
			in: Input{Samples: cat(rate("", 0, 5, 1000, 0), []sample.Sample{metOut("Errors", "", 4, sample.OutcomeSourceError)})}, now: 5, want: Healthy,
			check: func(t *testing.T, v Verdict) {
				if f := finding(t, v, "err"); f.Evidence != 4000 {
					t.Errorf("finding %s", f)
				}
			}},
		{name: "nothing delivered yet is not missing", rules: mode("breaching"), in: Input{}, now: 2, want: Inconclusive, contains: "no recent data delivered"},
		{name: "probe missing: no results in a covered window", rules: []config.Rule{with(health, func(r *config.Rule) { r.MissingData = "breaching" })},
			in: Input{Samples: probes("health", 0, "..")}, now: 12, want: Failing, breached: []string{"health"}},
		{name: "probe only source errors", rules: []config.Rule{with(health, func(r *config.Rule) { r.MissingData = "breaching" })},
			in: Input{Samples: probes("health", 0, "eeeeee")}, now: 3, want: Inconclusive},
	})
}

func TestEvaluateForAndMOfN(t *testing.T) {
	oneMin := func(r config.Rule) config.Rule { r.Window = dur(time.Minute); r.MinSamples = 1; return r }
	forRule := with(oneMin(lat), func(r *config.Rule) { r.For = dur(3 * time.Minute) })
	mofn := with(oneMin(lat), func(r *config.Rule) { r.Breaches, r.OfWindows = 2, 3 })
	hi, lo := 1000.0, 100.0
	runEvalCases(t, []evalCase{
		{name: "for: breaching 2m of 3m is not enough", rules: []config.Rule{forRule},
			in: Input{Samples: vals("Duration.p99", "", 0, lo, lo, lo, hi, hi, hi)}, now: 6, want: Healthy},
		{name: "for: breaching 4 periods (3m back) trips", rules: []config.Rule{forRule},
			in: Input{Samples: vals("Duration.p99", "", 0, lo, lo, hi, hi, hi, hi)}, now: 6, want: Failing, breached: []string{"lat"}, contains: "for 3m0s"},
		{name: "for: an unknown period breaks the run", rules: []config.Rule{forRule},
			in: Input{Samples: cat(vals("Duration.p99", "", 0, lo, hi, hi), []sample.Sample{metOut("Duration.p99", "", 3, sample.OutcomeSourceError)}, vals("Duration.p99", "", 4, hi, hi))}, now: 6, want: Healthy},
		{name: "for: not before the watch has lasted that long", rules: []config.Rule{forRule},
			in: Input{Samples: vals("Duration.p99", "", 0, hi, hi, hi)}, now: 3, want: Healthy},
		{name: "M of N: 2 of 3 with a gap trips", rules: []config.Rule{mofn},
			in: Input{Samples: vals("Duration.p99", "", 0, lo, lo, lo, hi, lo, hi)}, now: 6, want: Failing, breached: []string{"lat"}, contains: "breached in 2 of last 3 windows"},
		{name: "M of N: 1 of 3 does not", rules: []config.Rule{mofn},
			in: Input{Samples: vals("Duration.p99", "", 0, lo, lo, lo, lo, lo, hi)}, now: 6, want: Healthy},
		{name: "M of N: missing breaching windows count", rules: []config.Rule{with(mofn, func(r *config.Rule) { r.MissingData = "breaching" })},
			in: Input{Samples: cat(vals("Duration.p99", "", 0, lo, lo, lo), []sample.Sample{metOut("Duration.p99", "", 3, sample.OutcomeNoData)}, vals("Duration.p99", "", 4, lo, hi))}, now: 6,
			want: Failing, breached: []string{"lat"}},
		{name: "2x error rate at normal traffic trips within 2 of 3 windows", rules: []config.Rule{with(errRate, func(r *config.Rule) {
			r.Threshold, r.Baseline, r.Window, r.Breaches, r.OfWindows = 1.5, "ratio", dur(2*time.Minute), 2, 3
		})},
			in: Input{Samples: rate("", 0, 4, 1000, 20), Baseline: rate("", -30, 0, 1000, 10)}, now: 4, want: Failing, breached: []string{"err"}},
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
			in: Input{Samples: cat(rate("", 0, 5, 1000, 5), rateOut("", 5, 10, sample.OutcomeSourceError), probes("health", 0, strings.Repeat(".", 21)))}, now: 10,
			want: Healthy, contains: "only source errors"},
		{name: "low evidence neither blocks nor vouches", rules: []config.Rule{errRate, health}, bake: 10 * time.Minute,
			in: Input{Samples: cat(rate("", 0, 10, 2, 1), probes("health", 0, strings.Repeat(".", 21)))}, now: 10, want: Promote},
	})
}

func TestEvaluateAlertOnly(t *testing.T) {
	badBase := rate("", -30, 0, 1000, 100)
	runEvalCases(t, []evalCase{
		{name: "known-good was already failing", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 1000, 100), Baseline: badBase}, now: 5, want: Failing, breached: []string{"err"}, alertOnly: true, contains: "known-good 1 breaches too"},
		{name: "known-good was fine", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 1000, 100), Baseline: rate("", -30, 0, 1000, 5)}, now: 5, want: Failing, breached: []string{"err"}},
		{name: "another rule fails on its own", rules: []config.Rule{errRate, health},
			in: Input{Samples: cat(rate("", 0, 5, 1000, 100), probes("health", 0, "..xxx")), Baseline: badBase}, now: 5, want: Failing, breached: []string{"err", "health"}},
		{name: "split: known-good side at the same time", rules: []config.Rule{errRate},
			in: Input{Split: true, Samples: cat(rate("2", 0, 5, 1000, 100), rate("1", 0, 5, 1000, 90))}, now: 5, want: Failing, breached: []string{"err"}, alertOnly: true},
		{name: "baseline too thin to tell", rules: []config.Rule{errRate},
			in: Input{Samples: rate("", 0, 5, 1000, 100), Baseline: rate("", -2, 0, 10, 5)}, now: 5, want: Failing, breached: []string{"err"}},
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
		{"unknown kind", config.Rule{Name: "a", Kind: "cpu"}, `unknown kind "cpu"`},
		{"unknown op", with(errRate, func(r *config.Rule) { r.Op = "=>" }), `unknown op "=>"`},
		{"unknown baseline", with(errRate, func(r *config.Rule) { r.Baseline = "relative" }), `unknown baseline "relative"`},
		{"unknown missing", with(errRate, func(r *config.Rule) { r.MissingData = "zero" }), `unknown missing_data "zero"`},
		{"M > N", with(errRate, func(r *config.Rule) { r.Breaches, r.OfWindows = 3, 2 }), "breaches 3 of_windows 2"},
		{"unknown probe", with(health, func(r *config.Rule) { r.Probe = "deep" }), `probe "deep" is not defined`},
		{"confidence", with(cmpLat, func(r *config.Rule) { r.Confidence = 1.5 }), "confidence 1.5"},
		{"baseline on probe", with(health, func(r *config.Rule) { r.Baseline = "ratio" }), `baseline "ratio" does not apply`},
		{"no name", config.Rule{Kind: config.RuleLatency}, "needs a name"},
		{"negative window", with(lat, func(r *config.Rule) { r.Window = dur(-time.Minute) }), "must not be negative"},
		{"window under the period", with(lat, func(r *config.Rule) { r.Window = dur(30 * time.Second) }), "shorter than metric_period 1m0s"},
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
	noProbes := target(time.Minute, with(health, func(r *config.Rule) { r.Probe = "" }))
	noProbes.Probes = nil
	if _, err := Compile(noProbes); err == nil || !strings.Contains(err.Error(), "defines no probe") {
		t.Fatalf("probe rule without probes: %v", err)
	}
}

// Zero values get the documented defaults.
func TestCompileDefaults(t *testing.T) {
	p, err := Compile(config.Target{Name: "t", Probes: []config.Probe{{Name: "health"}}, Rules: []config.Rule{
		{Name: "e", Kind: config.RuleErrorRate},
		{Name: "p", Kind: config.RuleProbe},
		{Name: "l", Kind: config.RuleCompareLatency},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e, pr, l := p.rules[0], p.rules[1], p.rules[2]
	if p.bake != 10*time.Minute || p.period != time.Minute || e.window != 5*time.Minute || e.minInv != 50 || e.minSamples != 3 ||
		e.m != 1 || e.n != 1 || e.op != opGT || e.missing != missIgnore || pr.consec != 3 || !near(l.alpha, 0.01, 1e-12) {
		t.Fatalf("defaults: bake %v period %v rule %+v probe %+v latency %+v", p.bake, p.period, e, pr, l)
	}
	if got := p.Metrics(); strings.Join(got, ",") != "Errors,Invocations,Duration.p99" {
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
