package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/watcher"
)

func cmdCheck(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "check")
	path := fs.String("config", "config.toml", "config file")
	withAWS := fs.Bool("aws", false, "also read each target's alias and versions to prove permissions and connectivity")
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
	checkStorePersistence(ctx, env.stdout, cfg.Store)
	if !*withAWS {
		return nil
	}
	failed := checkAWS(ctx, env.stdout, cfg, awsclient.Options{})
	if failed > 0 {
		return exitError{code: exitFailure, err: fmt.Errorf("%d of %d targets failed the AWS check", failed, len(cfg.Targets))}
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
	token := "admin API token: NOT SET (all /v1 calls refused)"
	if cfg.Daemon.AdminToken.IsSet() {
		token = "admin API token: set"
	}
	fmt.Fprintf(w, "config %s is valid\n", cfg.Path)
	fmt.Fprintf(w, "daemon: listen %s, %s, poll every %s, sweep %q, store %s (%s)\n",
		cfg.Daemon.Listen, mode, cfg.Daemon.PollInterval, cfg.Daemon.SweepCron, cfg.Store.Backend, storeWhere(cfg))
	fmt.Fprintf(w, "%s\n", token)
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
	}
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

// checkAWS reads each target's alias and versions, one line per target,
// and returns how many failed.
func checkAWS(ctx context.Context, w io.Writer, cfg *config.Config, base awsclient.Options) int {
	failed := 0
	for _, t := range cfg.Targets {
		line, err := checkTarget(ctx, cfg, t, base)
		if err != nil {
			failed++
			fmt.Fprintf(w, "FAIL %s: %v\n", t.Name, err)
			continue
		}
		fmt.Fprintf(w, "ok   %s: %s\n", t.Name, line)
	}
	return failed
}

func checkTarget(ctx context.Context, cfg *config.Config, t config.Target, base awsclient.Options) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	o := awsclient.ForTarget(base, cfg.AWS, t)
	o.MaxAttempts = 2
	awsCfg, err := awsclient.Load(ctx, o)
	if err != nil {
		return "", err
	}
	lc := lambda.NewFromConfig(awsCfg)
	alias, err := lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(t.Function), Name: aws.String(t.Alias)})
	if err != nil {
		return "", fmt.Errorf("lambda:GetAlias %s:%s: %w", t.Function, t.Alias, err)
	}
	versions, err := lc.ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(t.Function), MaxItems: aws.Int32(50)})
	if err != nil {
		return "", fmt.Errorf("lambda:ListVersionsByFunction %s: %w", t.Function, err)
	}
	split := ""
	if alias.RoutingConfig != nil && len(alias.RoutingConfig.AdditionalVersionWeights) > 0 {
		split = fmt.Sprintf(" split %v", alias.RoutingConfig.AdditionalVersionWeights)
	}
	points, err := checkMetrics(ctx, cloudwatch.NewFromConfig(awsCfg), t)
	if err != nil {
		return "", fmt.Errorf("cloudwatch:GetMetricData for %s:%s: %w", t.Function, t.Alias, err)
	}
	return fmt.Sprintf("alias %s -> version %s%s (RevisionId %s), %d versions readable, metrics readable (%d invocation datapoints in the last hour)",
		t.Alias, aws.ToString(alias.FunctionVersion), split, aws.ToString(alias.RevisionId), len(versions.Versions), points), nil
}

// checkMetrics reads the alias's Invocations for the last hour: proof that
// cloudwatch:GetMetricData is allowed and the dimensions are right.
func checkMetrics(ctx context.Context, cw *cloudwatch.Client, t config.Target) (int, error) {
	end := time.Now().Truncate(time.Minute)
	out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(end.Add(-time.Hour)), EndTime: aws.Time(end),
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id: aws.String("inv"),
			MetricStat: &cwtypes.MetricStat{Period: aws.Int32(int32(t.MetricPeriod.Duration.Seconds())), Stat: aws.String("Sum"),
				Metric: &cwtypes.Metric{Namespace: aws.String("AWS/Lambda"), MetricName: aws.String("Invocations"),
					Dimensions: []cwtypes.Dimension{
						{Name: aws.String("FunctionName"), Value: aws.String(watcher.FunctionName(t.Function))},
						{Name: aws.String("Resource"), Value: aws.String(watcher.FunctionName(t.Function) + ":" + t.Alias)},
					}}},
		}},
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range out.MetricDataResults {
		n += len(r.Values)
	}
	return n, nil
}
