package quality

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A short run of the whole table: every kind, one seed, three judges (so
// every kind's trace is one canaryd's strict reader accepts and replays).
func TestRunTable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seeds, _ := ParseSeeds("10001", 0)
	cfg := Config{Seeds: seeds, Options: shippedOptions(t), Verbose: true, OutDir: dir,
		ReplayCommand: "canaryd replay --config config.toml --trace",
		Judges:        []Judge{&Canaryd{Target: shippedTarget(t)}, DefaultStatic(), &Ideal{Alpha: 1e-3}}}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outcomes) != len(kindSpecs) {
		t.Fatalf("%d outcomes", len(rep.Outcomes))
	}
	var b strings.Builder
	rep.Write(&b)
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{"canaryd ", "static ", "ideal ", "false rollbacks (good)", "caught in time (bad)", "x 1 seeds (seed 10001)", "misses and false rollbacks:", "targets (issue #11), canaryd:", "better than the static alarm on every column"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	for _, k := range kindSpecs {
		if !strings.Contains(out, string(k.Kind)+" ") {
			t.Errorf("table lacks kind %s", k.Kind)
		}
	}
	all := func(KindSpec) bool { return true }
	for j := range rep.Judges {
		s := rep.Summarise(j, all)
		if s.Good != goodKinds() || s.Bad != len(kindSpecs)-goodKinds() || s.Caught > s.Bad || s.FalseRollbacks > s.Good || (s.Caught > 0) != (s.Median > 0) || s.P90 < s.Median {
			t.Errorf("%s: inconsistent summary %+v", rep.Judges[j], s)
		}
	}
	if ideal := rep.Summarise(2, all); ideal.FalseRollbacks != 0 || ideal.Caught < 9 {
		t.Errorf("ideal: %+v", ideal)
	}
	// -v wrote the traces of the mistakes, and says how to replay
	// canaryd's.
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) == 0 {
		t.Error("no trace written")
	}
	for _, f := range files {
		if !strings.Contains(out, "replay: canaryd replay --config config.toml --trace "+f) && !strings.Contains(out, "trace: "+f) {
			t.Errorf("trace %s written but not listed", f)
		}
		if b, err := os.ReadFile(f); err != nil || !strings.HasPrefix(string(b), "# canaryd quality scenario") {
			t.Errorf("trace %s: %v", f, err)
		}
	}
}

// AllTraces writes every scenario's trace, the very bytes Generate gives,
// right or wrong, without listing anything.
func TestRunAllTraces(t *testing.T) {
	dir := t.TempDir()
	seeds, _ := ParseSeeds("5,9", 0)
	kinds, _ := ParseKinds("good/steady,bad/errors-10x")
	if _, err := Run(context.Background(), Config{Kinds: kinds, Seeds: seeds, OutDir: dir, AllTraces: true,
		Judges: []Judge{DefaultStatic()}}); err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		for _, seed := range seeds {
			c, err := Generate(k, seed, Options{})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, strings.ReplaceAll(string(k), "/", "-")+"-"+strconv.FormatUint(seed, 10)+".jsonl")
			if b, err := os.ReadFile(path); err != nil || string(b) != string(c.Bytes) {
				t.Errorf("%s: %v (%d bytes, want %d)", path, err, len(b), len(c.Bytes))
			}
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl")); len(files) != len(kinds)*len(seeds) {
		t.Errorf("%d traces written, want %d", len(files), len(kinds)*len(seeds))
	}
}

// The report does not depend on the number of workers.
func TestRunDeterministic(t *testing.T) {
	seeds, _ := ParseSeeds("5,9", 0)
	kinds, _ := ParseKinds("good/steady,bad/errors-10x,bad/p99-2x")
	run := func(workers int) []Outcome {
		rep, err := Run(context.Background(), Config{Kinds: kinds, Seeds: seeds, Workers: workers,
			Judges: []Judge{DefaultStatic(), &Ideal{Alpha: 1e-3}}})
		if err != nil {
			t.Fatal(err)
		}
		return rep.Outcomes
	}
	if a, b := run(1), run(3); !reflect.DeepEqual(a, b) {
		t.Errorf("1 worker: %+v\n3 workers: %+v", a, b)
	}
}

func TestParseSeedsAndKinds(t *testing.T) {
	s, err := ParseSeeds("3-5,9", 0)
	if err != nil || !reflect.DeepEqual(s, []uint64{3, 4, 5, 9}) {
		t.Errorf("ParseSeeds: %v %v", s, err)
	}
	if s, _ := ParseSeeds("10001-10300", 4); !reflect.DeepEqual(s, []uint64{10001, 10002, 10003, 10004}) {
		t.Errorf("ParseSeeds with n: %v", s)
	}
	for _, bad := range []string{"", "x", "5-3", "1-"} {
		if _, err := ParseSeeds(bad, 0); err == nil {
			t.Errorf("ParseSeeds(%q) accepted", bad)
		}
	}
	k, err := ParseKinds("bad/p99,good/steady")
	if err != nil || !reflect.DeepEqual(k, []Kind{BadP99x15, BadP99x2, GoodSteady}) {
		t.Errorf("ParseKinds: %v %v", k, err)
	}
	if _, err := ParseKinds("good/nope"); err == nil {
		t.Error("unknown kind accepted")
	}
	// A whole name is that kind alone; a prefix all it begins; each once.
	for in, want := range map[string][]Kind{
		"good/low-traffic":                           {GoodLow},
		"good/low-traffic,good/low-traffic-incident": {GoodLow, GoodLowIncident},
		"good/low":           {GoodLow, GoodLowIncident},
		"bad/p99-2x,bad/p99": {BadP99x2, BadP99x15},
	} {
		if k, err := ParseKinds(in); err != nil || !reflect.DeepEqual(k, want) {
			t.Errorf("ParseKinds(%q) = %v %v, want %v", in, k, err, want)
		}
	}
}

// BenchmarkRun is the cost of one scenario of every kind through the three
// judges, on one worker: go test ./quality -run '^$' -bench Run.
func BenchmarkRun(b *testing.B) {
	tg := shippedTarget(b)
	o, err := TargetOptions(tg)
	if err != nil {
		b.Fatal(err)
	}
	seeds, _ := ParseSeeds("1", 0)
	cfg := Config{Seeds: seeds, Options: o, Workers: 1,
		Judges: []Judge{&Canaryd{Target: tg}, DefaultStatic(), &Ideal{Alpha: 1e-3}}}
	for b.Loop() {
		if _, err := Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*len(kindSpecs)), "ms/scenario")
}

// The head-to-head line compares detection times on the bad deploys both
// judges catch in time only, and a difference within one tick is a tie.
func TestHeadToHead(t *testing.T) {
	t.Parallel()
	bad := KindSpec{}
	for _, k := range kindSpecs {
		if k.Bad && k.Deadline >= 5*time.Minute {
			bad = k
			break
		}
	}
	rb := func(at time.Duration) Decision { return Decision{Failing: true, At: at} }
	rep := &Report{Judges: []string{"canaryd", "static"}, Outcomes: []Outcome{
		{Kind: bad.Kind, Decisions: []Decision{rb(time.Minute), rb(2 * time.Minute)}},                 // canaryd first
		{Kind: bad.Kind, Decisions: []Decision{rb(3 * time.Minute), rb(3*time.Minute - 500e6)}},       // a tie: within a tick
		{Kind: bad.Kind, Decisions: []Decision{rb(4 * time.Minute), rb(2 * time.Minute)}},             // static first
		{Kind: bad.Kind, Decisions: []Decision{rb(30 * time.Second), {}}},                             // static misses: left out
		{Kind: bad.Kind, Decisions: []Decision{rb(bad.Deadline + time.Minute), rb(10 * time.Second)}}, // canaryd late: left out
	}}
	var b strings.Builder
	rep.writeHeadToHead(&b)
	want := "on the 3 bad deploys both catch in time: canaryd median 3m0s, p90 4m0s; static median 2m0s, p90 3m0s; canaryd first (by a tick or more) on 1, static on 1\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

func goodKinds() int {
	n := 0
	for _, k := range kindSpecs {
		if !k.Bad {
			n++
		}
	}
	return n
}
