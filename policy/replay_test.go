package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
)

// exampleTarget loads testdata/traces/target.toml with config.Load, as
// `canaryd replay --config` does (strict decoding, defaults, validation).
func exampleTarget(t testing.TB) config.Target {
	t.Helper()
	cfg, err := config.Load(filepath.Join(tracesDir, "target.toml"))
	if err != nil {
		t.Fatalf("target.toml: %v", err)
	}
	if len(cfg.Targets) != 1 {
		t.Fatalf("target.toml: %d targets", len(cfg.Targets))
	}
	return cfg.Targets[0]
}

func replayFile(t *testing.T, name string, opts ReplayOptions) ReplayResult {
	t.Helper()
	f, err := os.Open(filepath.Join(tracesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Replay(context.Background(), f, exampleTarget(t), opts)
	if err != nil {
		t.Fatalf("replay %s: %v", name, err)
	}
	return res
}

func TestReplayExampleTraces(t *testing.T) {
	for _, tc := range exampleTraces {
		t.Run(tc.file, func(t *testing.T) {
			res := replayFile(t, tc.file, ReplayOptions{})
			var out strings.Builder
			res.WriteTimeline(&out)
			t.Log("\n" + out.String())
			if res.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s", res.Outcome, tc.want)
			}
		})
	}
}

// Across many seeds: a 2x error-rate regression at normal traffic (1000
// invocations/min, 1% -> 2%) trips before the bake time could promote it
// (typically within the 5m compare window); the same traffic without
// regression always promotes; low-traffic noise never trips a rate rule.
func TestReplayStatisticalProperties(t *testing.T) {
	tgt := exampleTarget(t)
	run := func(data []byte) ReplayResult {
		t.Helper()
		res, err := Replay(context.Background(), bytes.NewReader(data), tgt, ReplayOptions{Full: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	low := traffic{inv: 3, p99: 400, jitter: 40}
	var slowest time.Duration
	within5 := 0
	for seed := uint64(100); seed < 130; seed++ {
		res := run(genTrace(seed, nil, normal, 14, true, func(int) traffic { t := normal; t.errRate = 0.02; return t }))
		took := res.DecidedAt.Sub(res.WatchStart)
		if res.Outcome != Failing || took >= tgt.BakeTime.Duration {
			t.Errorf("seed %d: 2x regression: %s at +%s", seed, res.Outcome, took)
		}
		slowest = max(slowest, took)
		if took <= 5*time.Minute {
			within5++
		}
		res = run(genTrace(seed, nil, normal, 14, true, func(int) traffic { return normal }))
		if res.Outcome != Promote {
			t.Errorf("seed %d: good deploy: %s: %s", seed, res.Outcome, res.Final.Summary)
		}
		res = run(genTrace(seed, nil, low, 14, false, func(i int) traffic {
			t := low
			if i == 4 {
				t.inv, t.errRate = 1, 1
			}
			return t
		}))
		for _, v := range res.Timeline {
			for _, f := range v.Findings {
				if f.Breached && (f.RuleKind == config.RuleErrorRate || f.RuleKind == config.RuleCompareErrors) {
					t.Errorf("seed %d: low traffic tripped %s at %s", seed, f, v.At)
				}
			}
		}
		if res.Outcome == Failing {
			t.Errorf("seed %d: low traffic failed: %s", seed, res.Final.Summary)
		}
	}
	if within5 < 25 {
		t.Errorf("2x regression tripped within 5m in only %d of 30 seeds", within5)
	}
	t.Logf("2x regression: %d of 30 seeds tripped within 5m, slowest +%s", within5, slowest)
}

func TestReplayExitCodesAndTimeline(t *testing.T) {
	cases := []struct {
		file     string
		exit     int
		decided  time.Duration // after the deploy; -1: nothing decided
		contains []string
	}{
		{"good-deploy.jsonl", 0, 10 * time.Minute, []string{"promote", "outcome: promote at +10m0s (exit 0)"}},
		{"error-spike.jsonl", 3, 4 * time.Minute, []string{"failing", "! errors-vs-known-good: observed", "(exit 3)"}},
		{"error-2x.jsonl", 3, time.Minute, []string{"! errors-vs-known-good", "(exit 3)"}},
		{"split-canary.jsonl", 3, 5 * time.Minute, []string{"per-version samples, split traffic", "! errors-vs-known-good", "(exit 3)"}},
		{"latency-regression.jsonl", 3, 5 * time.Minute, []string{"latency-vs-known-good", "(exit 3)"}},
		{"low-traffic.jsonl", 4, -1, []string{"invocations < min_invocations", "outcome: healthy (exit 4)"}},
		{"missing-data.jsonl", 0, 11 * time.Minute, []string{"(exit 0)"}},
		{"incident-deploy.jsonl", 3, 3 * time.Minute, []string{"alert only", "known-good 41 breaches too"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			res := replayFile(t, tc.file, ReplayOptions{})
			if res.ExitCode() != tc.exit {
				t.Fatalf("exit %d, want %d", res.ExitCode(), tc.exit)
			}
			if got := res.DecidedAt.Sub(res.WatchStart); (tc.decided < 0) != res.DecidedAt.IsZero() || (tc.decided >= 0 && got != tc.decided) {
				t.Errorf("decided at +%s, want +%s (README.md states it)", got, tc.decided)
			}
			var out strings.Builder
			res.WriteTimeline(&out)
			for _, s := range tc.contains {
				if !strings.Contains(out.String(), s) {
					t.Errorf("timeline lacks %q:\n%s", s, out.String())
				}
			}
			// Only changes of kind, plus the final verdict.
			for i := 1; i < len(res.Timeline)-1; i++ {
				if res.Timeline[i].Kind == res.Timeline[i-1].Kind {
					t.Errorf("timeline repeats %s at %d", res.Timeline[i].Kind, i)
				}
			}
			if last := res.Timeline[len(res.Timeline)-1]; !last.At.Equal(res.Final.At) {
				t.Errorf("timeline does not end with the final verdict")
			}
		})
	}
}

// Full keeps evaluating after the decision; the outcome stays the decision.
func TestReplayFull(t *testing.T) {
	short := replayFile(t, "error-spike.jsonl", ReplayOptions{})
	full := replayFile(t, "error-spike.jsonl", ReplayOptions{Full: true})
	if full.Outcome != Failing || !full.DecidedAt.Equal(short.DecidedAt) || full.Evaluations <= short.Evaluations ||
		!full.Final.At.Equal(full.WatchStart.Add(14*time.Minute)) {
		t.Fatalf("short %d evals decided %s; full %d evals decided %s final %s", short.Evaluations, short.DecidedAt, full.Evaluations, full.DecidedAt, full.Final.At)
	}
}

// After a Promote, a rollback window keeps the watch open with Promoted set:
// never Promote again, Failing still possible.
func TestReplayRollbackWindow(t *testing.T) {
	tgt := exampleTarget(t)
	tgt.RollbackWindow = config.Duration{Duration: 10 * time.Minute}
	data := genTrace(9, nil, normal, 20, true, func(i int) traffic {
		t := normal
		if i >= 12 {
			t.errRate = 0.3
		}
		return t
	})
	res, err := Replay(context.Background(), bytes.NewReader(data), tgt, ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, v := range res.Timeline {
		kinds = append(kinds, string(v.Kind))
	}
	if res.Outcome != Failing || strings.Count(strings.Join(kinds, ","), "promote") != 1 || !res.Final.At.After(res.WatchStart.Add(12*time.Minute)) {
		t.Fatalf("outcome %s timeline %v", res.Outcome, kinds)
	}
	// Without the regression the promotion stands once the window is over.
	data = genTrace(9, nil, normal, 22, true, func(int) traffic { return normal })
	if res, err = Replay(context.Background(), bytes.NewReader(data), tgt, ReplayOptions{}); err != nil || res.Outcome != Promote || res.ExitCode() != 0 {
		t.Fatalf("outcome %s, %v", res.Outcome, err)
	}
}

func TestReplayBadInput(t *testing.T) {
	const dep = `{"type":"deploy","time":"2026-03-02T12:00:00Z","known_good":"1","new_version":"2"}`
	const smp = `{"type":"sample","kind":"metric","metric":"Invocations","time":"2026-03-02T12:00:00Z","period":"60s","outcome":"ok","value":5}`
	cases := []struct {
		name, trace, want string
	}{
		{"unknown field", dep + "\n# comment\n\n" + `{"type":"sample","kind":"metric","metric":"Errors","time":"2026-03-02T12:00:00Z","outcome":"ok","vaule":3}`, `trace line 4: unknown field "vaule"`},
		{"not json", dep + "\n{type: deploy}", "trace line 2: invalid character"},
		{"two values", smp + " {}\n" + dep, "trace line 1: more than one JSON value"},
		{"missing type", `{"time":"2026-03-02T12:00:00Z"}`, `trace line 1: missing "type"`},
		{"unknown type", `{"type":"deploi","time":"2026-03-02T12:00:00Z"}`, `trace line 1: unknown record type "deploi"`},
		{"missing time", dep + "\n" + `{"type":"tick"}`, `trace line 2: missing "time"`},
		{"bad time", `{"type":"tick","time":"noon"}`, "trace line 1: parsing time"},
		{"bad outcome", dep + "\n" + strings.Replace(smp, `"ok"`, `"okay"`, 1), `trace line 2: outcome "okay"`},
		{"bad kind", dep + "\n" + strings.Replace(smp, `"metric","metric"`, `"gauge","metric"`, 1), `trace line 2: kind "gauge"`},
		{"bad duration", dep + "\n" + strings.Replace(smp, `"60s"`, `"1 minute"`, 1), `trace line 2: invalid duration "1 minute"`},
		{"metric without name", dep + "\n" + strings.Replace(smp, `"metric":"Invocations",`, ``, 1), `trace line 2: metric sample needs "metric"`},
		{"sample field on deploy", strings.Replace(dep, `"new_version":"2"`, `"new_version":"2","value":3`, 1), `trace line 1: field "value" does not belong in a deploy record`},
		{"deploy field on sample", dep + "\n" + strings.Replace(smp, `"value":5`, `"value":5,"split":true`, 1), "trace line 2: known_good, new_version and split belong in the deploy record"},
		{"deploy without version", `{"type":"deploy","time":"2026-03-02T12:00:00Z"}`, `trace line 1: deploy record needs "new_version"`},
		{"no deploy", smp, "trace: no deploy record"},
		{"two deploys", dep + "\n" + smp + "\n" + dep, "trace line 3: second deploy record (the first is on line 1)"},
		{"baseline after deploy", dep + "\n" + strings.Replace(smp, `"sample"`, `"baseline"`, 1), "trace line 2: baseline sample after the deploy"},
		{"baseline with version", strings.Replace(strings.Replace(smp, `"sample"`, `"baseline"`, 1), `"ok"`, `"ok","version":"3"`, 1) + "\n" + dep, `trace line 1: baseline samples are alias-level`},
		{"probe without source", dep + "\n" + `{"type":"sample","kind":"probe","time":"2026-03-02T12:00:00Z","outcome":"ok"}`, `trace line 2: probe sample needs "source"`},
		{"empty", "", "trace: no deploy record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Replay(context.Background(), strings.NewReader(tc.trace), exampleTarget(t), ReplayOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	var te *TraceError
	_, err := Replay(context.Background(), strings.NewReader(dep+"\n{"), exampleTarget(t), ReplayOptions{})
	if !errors.As(err, &te) || te.Line != 2 {
		t.Fatalf("want a *TraceError for line 2, got %v", err)
	}
}

func TestReplayContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data, err := os.ReadFile(filepath.Join(tracesDir, "good-deploy.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Replay(ctx, bytes.NewReader(data), exampleTarget(t), ReplayOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

// Integer nanosecond durations (json.Marshal of a sample.Sample) work too,
// and "at" delays delivery.
func TestReplayRecordedSamples(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"type":"deploy","time":"2026-03-02T12:00:00Z","known_good":"1","new_version":"2"}` + "\n")
	for i := 0; i < 12; i++ {
		ts := traceDeploy.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		fmt.Fprintf(&b, `{"type":"sample","kind":"probe","source":"health","time":%q,"outcome":"ok","latency":42000000}`+"\n", ts)
		fmt.Fprintf(&b, `{"type":"sample","kind":"metric","metric":"Throttles","time":%q,"period":60000000000,"outcome":"ok","value":0,"at":%q}`+"\n",
			ts, traceDeploy.Add(time.Duration(i+3)*time.Minute).Format(time.RFC3339))
	}
	tgt := exampleTarget(t)
	var rules []config.Rule
	for _, r := range tgt.Rules {
		if r.Kind == config.RuleThrottles || r.Kind == config.RuleProbe {
			rules = append(rules, r)
		}
	}
	tgt.Rules = rules
	res, err := Replay(context.Background(), strings.NewReader(b.String()), tgt, ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Each Throttles period arrives 2m after it ends ("at" = start + 3m), so
	// the one ending at +10m arrives at +12m: the metric rules must cover the
	// bake time before promotion.
	if res.Outcome != Promote || res.DecidedAt.Sub(res.WatchStart) != 12*time.Minute {
		t.Fatalf("outcome %s at +%s: %s", res.Outcome, res.DecidedAt.Sub(res.WatchStart), res.Final.Summary)
	}
}
