package quality

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Config is one benchmark run.
type Config struct {
	Kinds   []Kind   // default: every kind
	Seeds   []uint64 // the seeds of every kind
	Judges  []Judge  // e.g. canaryd, static, ideal
	Options Options  // how traces are written
	Workers int      // default GOMAXPROCS
	// Verbose lists every miss and false rollback; their traces are written
	// to OutDir and the line says how to replay them (ReplayCommand with
	// the file appended).
	Verbose       bool
	OutDir        string
	ReplayCommand string
	// AllTraces writes every scenario's trace to OutDir, right or wrong
	// (a deploy caught in time but slowly is worth a replay too).
	AllTraces bool
}

// Outcome is every judge's decision on one scenario.
type Outcome struct {
	Kind      Kind
	Seed      uint64
	Decisions []Decision // per judge, in Config.Judges order
	Trace     string     // the trace file written for -v, if any
	Evidence  *Evidence  // the ideal judge's calculation when it missed a bad scenario
}

// Report is a run's outcomes.
type Report struct {
	Judges   []string
	Promotes []bool // per judge: whether it promotes (Promoter)
	Kinds    []Kind
	Seeds    []uint64
	Outcomes []Outcome // kind-major, seed-minor
	Elapsed  time.Duration
	cfg      Config
}

// Run generates every (kind, seed) scenario and judges it with every judge,
// on Workers goroutines. The report does not depend on Workers.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Kinds) == 0 {
		for _, k := range kindSpecs {
			cfg.Kinds = append(cfg.Kinds, k.Kind)
		}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if (cfg.Verbose || cfg.AllTraces) && cfg.OutDir != "" {
		if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
			return nil, fmt.Errorf("trace directory: %w", err)
		}
	}
	start := time.Now()
	rep := &Report{Kinds: cfg.Kinds, Seeds: cfg.Seeds, cfg: cfg}
	for _, j := range cfg.Judges {
		rep.Judges = append(rep.Judges, j.Name())
		p, ok := j.(Promoter)
		rep.Promotes = append(rep.Promotes, ok && p.Promotes())
	}
	rep.Outcomes = make([]Outcome, len(cfg.Kinds)*len(cfg.Seeds))
	jobs := make(chan int)
	errs := make([]error, cfg.Workers)
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if errs[w] != nil {
					continue
				}
				k, seed := cfg.Kinds[i/len(cfg.Seeds)], cfg.Seeds[i%len(cfg.Seeds)]
				rep.Outcomes[i], errs[w] = runOne(ctx, &cfg, k, seed)
			}
		}()
	}
	for i := range rep.Outcomes {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	rep.Elapsed = time.Since(start)
	return rep, errors.Join(errs...)
}

func runOne(ctx context.Context, cfg *Config, k Kind, seed uint64) (Outcome, error) {
	out := Outcome{Kind: k, Seed: seed}
	c, err := Generate(k, seed, cfg.Options)
	if err != nil {
		return out, err
	}
	spec, _ := Spec(k)
	for _, j := range cfg.Judges {
		d, err := j.Judge(ctx, c)
		if err != nil {
			return out, fmt.Errorf("%s on %s seed %d: %w", j.Name(), k, seed, err)
		}
		out.Decisions = append(out.Decisions, d)
		wrong := !correct(spec, d)
		if (wrong && cfg.Verbose || cfg.AllTraces) && cfg.OutDir != "" && out.Trace == "" {
			out.Trace = filepath.Join(cfg.OutDir, strings.ReplaceAll(string(k), "/", "-")+fmt.Sprintf("-%d.jsonl", seed))
			if err := os.WriteFile(out.Trace, c.Bytes, 0o644); err != nil {
				return out, fmt.Errorf("write trace: %w", err)
			}
		}
		if id, ok := j.(*Ideal); ok && id.Blind == SeesAll && wrong && spec.Bad {
			ev := id.Evidence(c)
			out.Evidence = &ev
		}
	}
	return out, nil
}

// correct reports whether a decision is right: no rollback of a good
// deploy, a rollback of a bad one within its deadline.
func correct(spec KindSpec, d Decision) bool {
	if !spec.Bad {
		return !d.Rollback()
	}
	return d.Rollback() && d.At <= spec.Deadline
}
