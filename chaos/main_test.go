package chaos

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Flags. Without -chaos every experiment is skipped, so that go test ./...
// (make test) stays quick and the suite's load does not disturb other
// packages' timing; the other defaults are the short form CI runs (make
// chaos-short: every experiment, a few trials); make chaos raises the
// counts.
var (
	flagRun      = flag.Bool("chaos", false, "run the chaos suite (make chaos-short, make chaos)")
	flagSeed     = flag.Int64("chaos.seed", 0, "seed of every random choice (0: from the clock; printed)")
	flagN        = flag.Int("chaos.n", 3, "trials of each SIGKILL experiment")
	flagM        = flag.Int("chaos.m", 1, "trials of each other experiment")
	flagParallel = flag.Int("chaos.parallel", 8, "trials run at once (each runs its own processes)")
	//lint:ignore U1000 used by skipKnown
	flagKnown = flag.Bool("chaos.known", false, "also run the experiments skipped for known bugs")
	flagRace  = flag.Bool("chaos.race", false, "build canaryd with -race (slower; a data race fails the trial)")
	flagLogs  = flag.String("chaos.logs", "", "directory for the logs of failed trials (default: a new temp dir)")
	flagKeep  = flag.Bool("chaos.keep", false, "keep the logs of every trial, not only of failed ones")
)

var (
	seed    int64
	workDir string // binary and failed-trial logs
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The test's own Redis clients see the outages the experiments cause;
	// go-redis would print each failed dial.
	redis.SetLogger(quietRedis{})
	if !flagGiven("test.parallel") {
		// Trials mostly wait on other processes: let every experiment
		// run at once; the -chaos.parallel slots bound the load.
		_ = flag.Set("test.parallel", "64")
	}
	seed = *flagSeed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_000
	}
	var err error
	if workDir, err = os.MkdirTemp("", "canaryd-chaos-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *flagRun && !testing.Short() {
		fmt.Printf("chaos: seed %d (rerun with -chaos.seed %d), N=%d SIGKILL trials, M=%d other trials, %d at once\n",
			seed, seed, *flagN, *flagM, *flagParallel)
	}
	start := time.Now()
	code := m.Run()
	if *flagRun && !testing.Short() {
		printTable(os.Stdout, time.Since(start))
	}
	if code == 0 && *flagLogs == "" && !*flagKeep {
		_ = os.RemoveAll(workDir)
	} else if failedTrials() > 0 || *flagKeep {
		fmt.Printf("chaos: trial logs under %s\n", logsDir())
	}
	os.Exit(code)
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

var build struct {
	once sync.Once
	path string
	err  error
}

// binary builds canaryd once per run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.path = filepath.Join(workDir, "canaryd")
		args := []string{"build", "-o", build.path}
		if *flagRace {
			args = append(args, "-race")
		}
		args = append(args, "github.com/canaryd/canaryd/cmd/canaryd")
		cmd := exec.Command("go", args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build canaryd: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

func logsDir() string {
	if *flagLogs != "" {
		return *flagLogs
	}
	return filepath.Join(workDir, "failed")
}

// tally is one row of the table.
type tally struct {
	name     string
	trials   int
	failures int
	skipped  string
	took     time.Duration
	notes    map[string]int // e.g. where the kills landed
	measures map[string][]time.Duration
	counts   map[string][]int
}

var results struct {
	mu   sync.Mutex
	rows map[string]*tally
}

func row(name string) *tally {
	results.mu.Lock()
	defer results.mu.Unlock()
	if results.rows == nil {
		results.rows = map[string]*tally{}
	}
	r := results.rows[name]
	if r == nil {
		r = &tally{name: name, notes: map[string]int{}, measures: map[string][]time.Duration{}, counts: map[string][]int{}}
		results.rows[name] = r
	}
	return r
}

func record(name string, failed bool, took time.Duration, notes []string) {
	r := row(name)
	results.mu.Lock()
	defer results.mu.Unlock()
	r.trials++
	if failed {
		r.failures++
	}
	r.took += took
	for _, n := range notes {
		r.notes[n]++
	}
}

// measure records a duration the table summarises (min, median, max).
func measure(name, what string, d time.Duration) {
	r := row(name)
	results.mu.Lock()
	r.measures[what] = append(r.measures[what], d)
	results.mu.Unlock()
}

// count records a number the table summarises (min, median, max).
func count(name, what string, n int) {
	r := row(name)
	results.mu.Lock()
	r.counts[what] = append(r.counts[what], n)
	results.mu.Unlock()
}

//lint:ignore U1000 used by skipKnown
func recordSkip(name, why string) {
	r := row(name)
	results.mu.Lock()
	r.skipped = why
	results.mu.Unlock()
}

func failedTrials() int {
	results.mu.Lock()
	defer results.mu.Unlock()
	n := 0
	for _, r := range results.rows {
		n += r.failures
	}
	return n
}

// printTable prints experiment | trials | failures, and what was noted.
func printTable(w io.Writer, took time.Duration) {
	results.mu.Lock()
	defer results.mu.Unlock()
	if len(results.rows) == 0 {
		return
	}
	names := make([]string, 0, len(results.rows))
	for n := range results.rows {
		names = append(names, n)
	}
	sort.Strings(names)
	width := len("experiment") // the column fits the longest name
	for _, n := range names {
		width = max(width, len(n))
	}
	fmt.Fprintf(w, "\n%-*s | %6s | %8s | %s\n", width, "experiment", "trials", "failures", "mean trial")
	fmt.Fprintf(w, "%s-|-%s-|-%s-|-%s\n", strings.Repeat("-", width), strings.Repeat("-", 6), strings.Repeat("-", 8), strings.Repeat("-", 10))
	total, failed := 0, 0
	for _, n := range names {
		r := results.rows[n]
		if r.skipped != "" && r.trials == 0 {
			fmt.Fprintf(w, "%-*s | %6s | %8s | skipped: %s\n", width, n, "-", "-", r.skipped)
			continue
		}
		mean := time.Duration(0)
		if r.trials > 0 {
			mean = (r.took / time.Duration(r.trials)).Round(100 * time.Millisecond)
		}
		fmt.Fprintf(w, "%-*s | %6d | %8d | %s\n", width, n, r.trials, r.failures, mean)
		total, failed = total+r.trials, failed+r.failures
	}
	fmt.Fprintf(w, "%-*s | %6d | %8d | suite %s, seed %d\n", width, "total", total, failed, took.Round(time.Second), seed)
	for _, n := range names {
		r := results.rows[n]
		for what, ds := range r.measures {
			sorted := slices.Clone(ds)
			slices.Sort(sorted)
			fmt.Fprintf(w, "  %s: %s min %s, median %s, max %s (%d)\n", n, what, sorted[0].Round(10*time.Millisecond),
				sorted[len(sorted)/2].Round(10*time.Millisecond), sorted[len(sorted)-1].Round(10*time.Millisecond), len(sorted))
		}
		for what, ns := range r.counts {
			sorted := slices.Clone(ns)
			slices.Sort(sorted)
			fmt.Fprintf(w, "  %s: %s min %d, median %d, max %d (%d)\n", n, what, sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1], len(sorted))
		}
		if len(r.notes) == 0 {
			continue
		}
		keys := make([]string, 0, len(r.notes))
		for k := range r.notes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s×%d", k, r.notes[k]))
		}
		fmt.Fprintf(w, "  %s: %s\n", n, strings.Join(parts, ", "))
	}
}
