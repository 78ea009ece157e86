package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/replay"
)

func cmdReplay(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "replay")
	path := fs.String("config", "config.toml", "config file with the target's rules")
	trace := fs.String("trace", "", "trace file (JSON lines; see testdata/traces/README.md), or - for standard input (canaryd trace ID | canaryd replay --trace -)")
	name := fs.String("target", "", "target to judge (default: the only target)")
	full := fs.Bool("full", false, "show every change of the verdict, and keep judging after a trip to the end of the trace")
	follow := fs.String("rule", "", "rules (comma-separated) whose evidence to show at every change: e-value, counts, window")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *trace == "" {
		return usagef("--trace is required")
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	t, err := pickTarget(cfg, *name)
	if err != nil {
		return err
	}
	opts := replay.Options{Full: *full}
	for _, n := range strings.Split(*follow, ",") {
		if n = strings.TrimSpace(n); n != "" {
			opts.Follow = append(opts.Follow, n)
		}
	}
	if err := replay.CheckFollow(t, opts.Follow); err != nil {
		return usagef("--rule: %v", err)
	}
	var in io.Reader = env.stdin
	source := "standard input"
	if *trace != "-" {
		source = *trace
		f, err := os.Open(*trace)
		if err != nil {
			return usagef("trace: %v", err)
		}
		defer f.Close()
		in = f
	}
	res, err := replay.Run(ctx, in, t, opts)
	if err != nil {
		return exitError{code: replay.ExitBadInput, err: fmt.Errorf("%s: %w", source, err)}
	}
	res.WriteTimeline(env.stdout)
	if code := res.ExitCode(); code != 0 {
		return exitError{code: code}
	}
	return nil
}

func pickTarget(cfg *config.Config, name string) (config.Target, error) {
	if name == "" {
		if len(cfg.Targets) != 1 {
			return config.Target{}, usagef("the config has %d targets: choose one with --target", len(cfg.Targets))
		}
		return cfg.Targets[0], nil
	}
	for _, t := range cfg.Targets {
		if t.Name == name {
			return t, nil
		}
	}
	return config.Target{}, usagef("no target %q in the config", name)
}
