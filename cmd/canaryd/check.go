package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
)

func cmdCheck(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "check")
	path := fs.String("config", "config.toml", "config file, s3://bucket/key or ssm:PARAMETER")
	withAWS := fs.Bool("aws", false, "also prove, without changing anything, every permission and dependency a rollback needs")
	invalidate := fs.Bool("invalidate", false, "with --aws: prove cloudfront:CreateInvalidation by invalidating a path nothing serves")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if err := compilePolicies(cfg); err != nil {
		return err
	}
	printSummary(env.stdout, cfg)
	printWarnings(env.stdout, cfg)
	checkStorePersistence(ctx, env.stdout, cfg.Store)
	if !*withAWS {
		return nil
	}
	if failed := checkAWS(ctx, env.stdout, cfg, awsChecker{invalidate: *invalidate}); failed > 0 {
		return exitError{code: exitFailure, err: fmt.Errorf("%d checks failed", failed)}
	}
	return nil
}

// compilePolicies compiles every target's rules as the daemon will, so
// check finds what only the policy engine knows is wrong.
func compilePolicies(cfg *config.Config) error {
	var problems []config.Problem
	for i, t := range cfg.Targets {
		if _, err := policy.Compile(t); err != nil {
			problems = append(problems, config.Problem{Path: fmt.Sprintf("target[%d]", i), Msg: err.Error()})
		}
	}
	if len(problems) > 0 {
		return &config.Error{File: cfg.Path, Problems: problems}
	}
	return nil
}

// printSummary writes a one-screen summary of what would be watched.
func printSummary(w io.Writer, cfg *config.Config) {
	mode := "acting"
	if cfg.Daemon.DryRun {
		mode = "DRY-RUN (alert only)"
	}
	token := "admin API tokens: NONE (all /v1 calls refused)"
	if toks, err := api.TokensFromConfig(cfg.Daemon); err == nil && len(toks) > 0 {
		names := make([]string, len(toks))
		for i, tk := range toks {
			names[i] = tk.Name + " (" + tk.Scope.String() + ")"
		}
		token = "admin API tokens: " + strings.Join(names, ", ")
	}
	fmt.Fprintf(w, "config %s is valid\n", cfg.Path)
	fmt.Fprintf(w, "daemon: listen %s, %s, poll every %s, sweep %q, store %s (%s)\n",
		cfg.Daemon.Listen, mode, cfg.Daemon.PollInterval, cfg.Daemon.SweepCron, cfg.Store.Backend, storeWhere(cfg))
	fmt.Fprintf(w, "%s\n", token)
	if e := cfg.Events; e.Enabled() {
		fmt.Fprintf(w, "deploy events: %s (%s), long poll %s; while they flow each alias is read every %s, at most %g/s\n",
			e.QueueURL, e.Region, e.WaitTime, e.Sweep, e.SweepRate)
	}
	var names []string
	for _, n := range cfg.Notifiers {
		names = append(names, n.Name+"("+n.Type+")")
	}
	fmt.Fprintf(w, "notifiers: %s\n", orNone(names))
	fmt.Fprintf(w, "%d target(s):\n", len(cfg.Targets))
	for _, t := range cfg.Targets {
		fmt.Fprintf(w, "  %s: %s:%s in %s, bake %s, rollback window %s%s\n",
			t.Name, t.Function, t.Alias, t.Region, t.BakeTime, t.RollbackWindow, dry(t.DryRun))
		var probes, rules, actions []string
		for _, p := range t.Probes {
			probes = append(probes, fmt.Sprintf("%s %s every %s", p.Name, p.URL, p.Interval))
		}
		for _, r := range t.Rules {
			rules = append(rules, r.Name+"("+r.Kind+")")
		}
		actions = append(actions, "alias->known-good")
		for _, c := range t.Actions.CloudFront {
			actions = append(actions, "cloudfront "+c.Distribution)
		}
		for _, r := range t.Actions.Redis {
			actions = append(actions, "redis "+r.Name)
		}
		for _, h := range t.Actions.Webhooks {
			actions = append(actions, "webhook "+h.Name)
		}
		for _, h := range t.Actions.Exec {
			actions = append(actions, "exec "+h.Name)
		}
		if t.Actions.Verify.Window.Duration > 0 {
			actions = append(actions, "verify "+t.Actions.Verify.Window.String())
		}
		fmt.Fprintf(w, "    probes:  %s\n    rules:   %s\n    actions: %s\n    notify:  %s\n",
			orNone(probes), orNone(rules), strings.Join(actions, ", "), orNone(t.Notify))
		fmt.Fprintf(w, "    rollout: %s\n", rolloutSummary(t))
	}
}

// printWarnings lists, one a line with its file and line, the keys that
// load but have no effect and the rules a compare rule would write better
// (config.Config.Warnings). They do not fail the check.
func printWarnings(w io.Writer, cfg *config.Config) {
	for _, p := range cfg.Warnings {
		fmt.Fprintf(w, "warning: %s\n", p.In(cfg.Path))
	}
}

// rolloutSummary is one line on how canaryd deploy rolls the target out.
func rolloutSummary(t config.Target) string {
	r := t.Rollout
	if r == nil {
		return "none (canaryd watches the deploys the pipeline makes)"
	}
	steps, err := r.RolloutSteps()
	if err != nil {
		return err.Error()
	}
	parts := make([]string, 0, len(steps))
	for _, st := range steps {
		p := fmt.Sprintf("%g%%", st.Weight)
		if st.Hold.Duration > 0 {
			p += " for " + st.Hold.String()
		}
		if st.Gate {
			p += " then gate"
		}
		parts = append(parts, p)
	}
	out := strings.Join(parts, " -> ")
	if r.PreTraffic != nil {
		out += "; pre-traffic " + r.PreTraffic.Kind() + " hook"
	}
	if r.PostTraffic != nil {
		out += "; post-traffic " + r.PostTraffic.Kind() + " hook"
	}
	return out + "; known-bad redeploys: " + t.KnownBad
}

func storeWhere(cfg *config.Config) string {
	if cfg.Store.Backend == "redis" {
		return strings.Join(cfg.Store.Redis.Addrs, ",")
	}
	return cfg.Store.Path
}

func dry(b bool) string {
	if b {
		return ", DRY-RUN"
	}
	return ""
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// checkAWS proves, target by target, what a rollback needs — AWS
// permissions, caches, probes, hooks — and then the notifiers, one line per
// check, and returns how many checks failed.
func checkAWS(ctx context.Context, w io.Writer, cfg *config.Config, c awsChecker) int {
	if c.now == nil {
		c.now = time.Now
	}
	r := &checkReport{w: w}
	for _, t := range cfg.Targets {
		c.target(ctx, r, cfg, t)
		checkDeps(ctx, r, t)
	}
	c.events(ctx, r, cfg)
	checkNotifiers(ctx, r, cfg)
	return r.failed
}
