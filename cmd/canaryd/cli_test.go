package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLIIn(t, strings.NewReader(""), args...)
}

// runCLIIn runs the CLI with stdin as its standard input.
func runCLIIn(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := MainIO(context.Background(), args, stdin, &out, &errb)
	return code, out.String(), errb.String()
}

func TestReplayExitCodes(t *testing.T) {
	cases := []struct {
		trace string
		code  int
	}{
		{"good-deploy.jsonl", 0},
		{"missing-data.jsonl", 0},
		{"error-spike.jsonl", 3},
		{"error-2x.jsonl", 3},
		{"latency-regression.jsonl", 3},
		{"low-traffic.jsonl", 4},
	}
	for _, tc := range cases {
		t.Run(tc.trace, func(t *testing.T) {
			code, out, errOut := runCLI(t, "replay", "--config", "../../testdata/traces/target.toml", "--trace", filepath.Join("../../testdata/traces", tc.trace))
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, "outcome:") {
				t.Errorf("no timeline outcome in output:\n%s", out)
			}
		})
	}
}

// --trace - reads the trace from standard input (canaryd trace ID |
// canaryd replay --trace -): the same timeline as from the file.
func TestReplayReadsStandardInput(t *testing.T) {
	path := "../../testdata/traces/error-2x.jsonl"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantCode, want, _ := runCLI(t, "replay", "--config", "../../testdata/traces/target.toml", "--trace", path)
	code, out, errOut := runCLIIn(t, bytes.NewReader(data), "replay", "--config", "../../testdata/traces/target.toml", "--trace", "-")
	if code != 3 || wantCode != 3 || out != want {
		t.Fatalf("from stdin: exit %d (file: %d, want 3)\n%s%s\nfrom the file:\n%s", code, wantCode, out, errOut, want)
	}
	code, _, errOut = runCLIIn(t, strings.NewReader("{not json\n"), "replay", "--config", "../../testdata/traces/target.toml", "--trace", "-")
	if code != 2 || !strings.Contains(errOut, "standard input: ") {
		t.Fatalf("bad input on stdin: exit %d, want 2 naming the input\n%s", code, errOut)
	}
}

// --rule prints the rule's evidence at every change, after the timeline;
// a rule the target lacks is a usage error that lists the rules it has.
func TestReplayFollowsARule(t *testing.T) {
	code, out, errOut := runCLI(t, "replay", "--config", "../../testdata/traces/target.toml",
		"--trace", "../../testdata/traces/error-2x.jsonl", "--rule", "errors-vs-known-good, p99-latency")
	if code != 3 {
		t.Fatalf("exit %d, want 3\n%s%s", code, out, errOut)
	}
	_, ev, ok := strings.Cut(out, "evidence of errors-vs-known-good, at every change:\n")
	if !ok || !strings.Contains(out, "evidence of p99-latency, at every change:") {
		t.Fatalf("no evidence sections:\n%s", out)
	}
	ev, _, _ = strings.Cut(ev, "evidence of ")
	lines := strings.Split(strings.TrimSpace(ev), "\n")
	if len(lines) < 3 || !strings.Contains(lines[len(lines)-1], "≥ 1/α") || strings.Contains(lines[0], "≥ 1/α") {
		t.Fatalf("want the e-value growing to the trip over several lines, got:\n%s", ev)
	}
	code, _, errOut = runCLI(t, "replay", "--config", "../../testdata/traces/target.toml",
		"--trace", "../../testdata/traces/error-2x.jsonl", "--rule", "error-rates")
	if code != 2 || !strings.Contains(errOut, `no rule "error-rates"`) || !strings.Contains(errOut, "errors-vs-known-good") {
		t.Fatalf("unknown rule: exit %d, stderr %q", code, errOut)
	}
}

func TestReplayRejectsMalformedTraceWithLine(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	src := `{"type":"deploy","time":"2026-01-01T00:00:00Z","known_good":"1","new_version":"2"}` + "\n" + `{"type":"sample","vaule":3}` + "\n"
	if err := os.WriteFile(bad, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "replay", "--config", "../../testdata/traces/target.toml", "--trace", bad)
	if code != 2 || !strings.Contains(errOut, "line 2") || !strings.Contains(errOut, "vaule") {
		t.Fatalf("exit %d, stderr %q; want 2 naming line 2 and the field", code, errOut)
	}
}

func TestCheckExitCodes(t *testing.T) {
	code, out, errOut := runCLI(t, "check", "--config", "../../config.toml")
	if code != 0 || !strings.Contains(out, "checkout-api") {
		t.Fatalf("shipped config: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"invalid-unknown-key.toml", "invalid-wrong-type.toml", "invalid-bad-duration.toml",
		"invalid-missing-field.toml", "invalid-out-of-range.toml", "invalid-unresolved-env.toml", "invalid-duplicate-target.toml"} {
		code, _, errOut := runCLI(t, "check", "--config", filepath.Join("../../config/testdata", f))
		if code != 2 || !strings.Contains(errOut, "target[") && !strings.Contains(errOut, "daemon.") {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming the key", f, code, errOut)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"check", "--nope"}, {"replay", "--config", "../../config.toml"}, {}} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "canaryd ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, "run", "--help"); code != 0 || !strings.Contains(errOut, "--dry-run") {
		t.Errorf("run --help: %d %q", code, errOut)
	}
}
