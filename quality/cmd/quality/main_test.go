package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"-config", "../../../config.toml", "-n", "2", "-kinds", "bad/hard,good/steady", "-v", "-out", t.TempDir()}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"target checkout-api", "2 seeds", "good/steady", "bad/hard-failure", "canaryd ", "static ", "ideal ", "fair ", "bad deploys the fair limit catches in time"} {
		if !strings.Contains(out.String(), want) && !strings.Contains(out.String(), strings.Replace(want, "2 seeds", "x 2 seeds", 1)) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunRejects(t *testing.T) {
	for _, args := range [][]string{
		{"-config", "nope.toml"},
		{"-config", "../../../config.toml", "-kinds", "good/nope"},
		{"-config", "../../../config.toml", "-seeds", "x"},
		{"-config", "../../../config.toml", "-target", "nope"},
		{"-bogus"},
	} {
		if err := run(context.Background(), args, &strings.Builder{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// -fair=false leaves the fair limit out (it makes the run about a third longer).
func TestRunWithoutFair(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"-config", "../../../config.toml", "-n", "1", "-kinds", "bad/hard", "-fair=false"}, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "fair") {
		t.Errorf("-fair=false printed the fair limit:\n%s", out.String())
	}
}

// traceCount is how often needle occurs in the trace of kind's first
// report seed, run with args.
func traceCount(t *testing.T, kind, needle string, args ...string) int {
	t.Helper()
	dir := t.TempDir()
	all := append([]string{"-config", "../../../config.toml", "-n", "1", "-kinds", kind, "-fair=false", "-traces", "-out", dir}, args...)
	if err := run(context.Background(), all, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, strings.ReplaceAll(kind, "/", "-")+"-10001.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), needle)
}

// -latency-history=false leaves the latency rules' trimmed counts out of
// the shape history (a day of them: one a minute), not out of the
// baseline hour the watch compares with.
func TestRunWithoutLatencyHistory(t *testing.T) {
	const tc = `"metric":"Duration.TC(`
	with, without := traceCount(t, "bad/p99-2x", tc), traceCount(t, "bad/p99-2x", tc, "-latency-history=false")
	if without == 0 || with-without < 1440 {
		t.Errorf("trimmed-count records: %d with the latency history, %d without; want the day's 1,440 or more fewer, and the baseline's kept", with, without)
	}
}

// -concurrency=false leaves out the concurrency's use the watcher reads
// for the throttles rule: the baseline's, the day's and the watch's.
func TestRunWithoutConcurrency(t *testing.T) {
	const pool = `"metric":"PoolUse"`
	if with, without := traceCount(t, "good/steady", pool), traceCount(t, "good/steady", pool, "-concurrency=false"); with < 1440 || without != 0 {
		t.Errorf("PoolUse records: %d with it, %d without; want the day's 1,440 or more, and none", with, without)
	}
}
