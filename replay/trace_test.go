package replay

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Replay never panics on arbitrary input: it either replays or returns an
// error (a *TraceError when a line is to blame).
func FuzzReplay(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(tracesDir, "error-spike.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	lines := bytes.Split(data, []byte("\n"))
	f.Add(bytes.Join(lines[:40], []byte("\n")))
	f.Add(bytes.Join(lines[120:160], []byte("\n")))
	f.Add([]byte(`{"type":"deploy","time":"2026-03-02T12:00:00Z","new_version":"2","split":true}` + "\n" +
		`{"type":"sample","kind":"probe","source":"health","time":"2026-03-02T12:30:00Z","outcome":"fail","latency":5}`))
	f.Add([]byte(`{"type":"tick","time":"0001-01-01T00:00:01Z"}`))
	f.Add([]byte(`{"type":"deploy","time":"2026-03-02T12:00:00Z","new_version":"2"}` + "\n" +
		`{"type":"sample","kind":"metric","metric":"Errors","time":"2026-03-02T12:00:00Z","period":"60s","outcome":"ok","value":3,"at":"2026-03-02T12:01:05Z","answered":"2926-03-02T12:01:05Z"}`))
	tgt := exampleTarget(f)
	f.Fuzz(func(t *testing.T, trace []byte) {
		res, err := Run(context.Background(), bytes.NewReader(trace), tgt, Options{})
		if err != nil {
			var te *TraceError
			if errors.As(err, &te) && te.Line <= 0 {
				t.Fatalf("bad line number in %v", err)
			}
			return
		}
		if res.Evaluations == 0 || len(res.Timeline) == 0 {
			t.Fatalf("replayed without evaluations: %+v", res)
		}
		switch res.ExitCode() {
		case ExitPromoted, ExitRollback, ExitInconclusive:
		default:
			t.Fatalf("exit code %d", res.ExitCode())
		}
	})
}

// A gap of centuries between two records costs a bounded number of
// evaluations (found by FuzzReplay: it used to step through every period).
func TestReplayLongGap(t *testing.T) {
	trace := `{"type":"deploy","time":"2026-03-02T12:00:00Z","known_good":"1","new_version":"2"}
{"type":"sample","kind":"probe","source":"health","time":"2026-03-02T12:00:10Z","outcome":"ok"}
{"type":"tick","time":"2926-03-02T12:00:00Z"}`
	tgt := exampleTarget(t)
	res, err := Run(context.Background(), strings.NewReader(trace), tgt, Options{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	// One evaluation a second until the policy's lookback has passed the
	// last delivery, then a jump to the end: bounded by the lookback, not by
	// the gap.
	if res.Evaluations > 2000 {
		t.Fatalf("%d evaluations for a trace of three records", res.Evaluations)
	}
	if res.Final.At.Year() != 2926 || res.Outcome == Promoted {
		t.Fatalf("final verdict at %s: %s", res.Final.At, res.Final.Summary)
	}
}
