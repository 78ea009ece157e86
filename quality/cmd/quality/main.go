// Command quality prints canaryd's labelled quality benchmark (`make
// quality`): canaryd with a config's rules, a CodeDeploy-style static alarm
// and the ideal test, on the same generated post-deploy scenarios. See
// quality/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/quality"
	"github.com/canaryd/canaryd/sample"
)

func main() {
	// The replays allocate short-lived copies of a watch's samples every
	// simulated second: a lazier collector halves the CPU time.
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quality:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("quality", flag.ContinueOnError)
	cfgPath := fs.String("config", "config.toml", "config whose target's rules canaryd is judged with")
	target := fs.String("target", "", "target to judge (default: the first)")
	seeds := fs.String("seeds", quality.ReportSeeds, "seeds of every kind: ranges and seeds, comma-separated (tune on "+quality.TuningSeeds+")")
	n := fs.Int("n", 0, "seeds per kind, from the first of -seeds (0: all of -seeds)")
	kinds := fs.String("kinds", "", "kinds or kind prefixes, comma-separated (default: all), e.g. bad/,good/steady; a whole name is that kind alone")
	alpha := fs.Float64("alpha", 1e-3, "the ideal test's false-rollback probability per deploy")
	verbose := fs.Bool("v", false, "list every miss and false rollback; write their traces to -out")
	out := fs.String("out", filepath.Join(os.TempDir(), "canaryd-quality"), "directory for the traces -v and -traces write")
	allTraces := fs.Bool("traces", false, "write every scenario's trace to -out (named KIND-SEED.jsonl), not only those of the misses -v lists")
	probeBaseline := fs.Bool("probe-baseline", true, `write pre-deploy probe results as {"type":"baseline","kind":"probe"} records`)
	latencyHistory := fs.Bool("latency-history", true, "give the shape history the latency rules' trimmed counts, as the watcher reads them over the shape_window (false: the history holds counts only, as for a function without a day of Duration data)")
	concurrency := fs.Bool("concurrency", true, "write each period's ConcurrencyUse (the share of its concurrency limit the function used at its busiest) for a throttles rule, as the watcher reads it (false: as for a reader without lambda:GetFunctionConcurrency and lambda:GetAccountSettings)")
	workers := fs.Int("workers", 0, "parallel workers (default GOMAXPROCS)")
	csvPath := fs.String("csv", "", "also write every judge's decision on every scenario to this CSV file")
	blind := fs.String("ideal-blind", "", "also run the ideal test blind to these, comma-separated: cold (the new version's cold starts: ideal-cold), bursts (the errors' burst shape: ideal-bursts), rate (the known-good's error rate, learnt from its baseline hour: ideal-rate), effect (what a bad deploy's regression is, its kind and size: ideal-effect), warmup (warm-ups stronger than the good deploys draw, a diagnostic); several joined by + are one judge")
	fair := fs.Bool("fair", true, "also run the fair limit: the ideal test blind to what regressed and, per kind, to the known-good's rate and the errors' bursts or to the cold starts (quality.Fair; the run takes about a third longer)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	t, err := pickTarget(cfg, *target)
	if err != nil {
		return err
	}
	opts, err := quality.TargetOptions(t)
	if err != nil {
		return err
	}
	opts.ProbeBaseline = *probeBaseline
	opts.Concurrency = opts.Concurrency && *concurrency
	pol, err := policy.Compile(t)
	if err != nil {
		return err
	}
	opts.DurationStats = pol.DurationStatsSince // the trimmed counts the daemon reads for this baseline
	opts.HistoryStats = pol.HistoryStatsSince   // and those of them it reads over the shape_window
	if !*latencyHistory {
		opts.HistoryStats = func([]sample.Sample, time.Time) []string { return []string{} }
	}
	rc := quality.Config{Options: opts, Workers: *workers, Verbose: *verbose, OutDir: *out, AllTraces: *allTraces,
		ReplayCommand: fmt.Sprintf("go run ./cmd/canaryd replay --config %s --target %s --trace", *cfgPath, t.Name),
		Judges:        []quality.Judge{&quality.Canaryd{Target: t}, quality.DefaultStatic(), &quality.Ideal{Alpha: *alpha}}}
	if *fair {
		rc.Judges = append(rc.Judges, quality.DefaultFair(*alpha))
	}
	if *blind != "" {
		for _, name := range strings.Split(*blind, ",") {
			b, err := quality.ParseBlindness(strings.TrimSpace(name))
			if err != nil {
				return err
			}
			rc.Judges = append(rc.Judges, &quality.Ideal{Alpha: *alpha, Blind: b})
		}
	}
	if rc.Seeds, err = quality.ParseSeeds(*seeds, *n); err != nil {
		return err
	}
	if rc.Kinds, err = quality.ParseKinds(*kinds); err != nil {
		return err
	}
	rep, err := quality.Run(ctx, rc)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config %s, target %s; ideal test at alpha %g\n", *cfgPath, t.Name, *alpha)
	rep.Write(stdout)
	if *csvPath != "" {
		f, err := os.Create(*csvPath)
		if err != nil {
			return err
		}
		if err := rep.WriteCSV(f); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", *csvPath, err)
		}
		return f.Close()
	}
	return nil
}

func pickTarget(cfg *config.Config, name string) (config.Target, error) {
	if len(cfg.Targets) == 0 {
		return config.Target{}, fmt.Errorf("%s has no target", cfg.Path)
	}
	if name == "" {
		return cfg.Targets[0], nil
	}
	for _, t := range cfg.Targets {
		if t.Name == name {
			return t, nil
		}
	}
	return config.Target{}, fmt.Errorf("no target %q in %s", name, cfg.Path)
}
