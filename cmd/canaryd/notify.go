package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/notify"
)

// cmdNotify is `canaryd notify test [NOTIFIER]`: one test alert through
// each configured notifier (or the one named), synchronously, so that a
// broken routing key or webhook shows now rather than during an incident.
func cmdNotify(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "notify")
	path := fs.String("config", "config.toml", "config file, s3://bucket/key or ssm:PARAMETER")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || pos[0] != "test" || len(pos) > 2 {
		return usagef("usage: %s", commands()["notify"].usage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	chosen, err := chooseNotifiers(cfg, pos[1:])
	if err != nil {
		return err
	}
	notifiers, err := notify.FromConfig(chosen, notify.Deps{SNS: snsFor(ctx, cfg.AWS)})
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	ev := notify.TestEvent(time.Now(), randomHex(6), host)
	failed := 0
	for _, c := range chosen {
		actx, cancel := context.WithTimeout(ctx, c.Timeout.Duration)
		err := notify.SendTest(actx, notifiers[c.Name], ev)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(env.stdout, "FAIL %s (%s): %v\n", c.Name, c.Type, err)
			continue
		}
		fmt.Fprintf(env.stdout, "ok   %s (%s): test alert %s delivered\n", c.Name, c.Type, ev.ID)
	}
	if failed > 0 {
		return exitError{code: exitFailure, err: fmt.Errorf("%d of %d notifiers failed", failed, len(chosen))}
	}
	return nil
}

func chooseNotifiers(cfg *config.Config, names []string) ([]config.Notifier, error) {
	if len(cfg.Notifiers) == 0 {
		return nil, usagef("the config has no [[notifier]]")
	}
	if len(names) == 0 {
		return cfg.Notifiers, nil
	}
	var known []string
	for _, n := range cfg.Notifiers {
		if n.Name == names[0] {
			return []config.Notifier{n}, nil
		}
		known = append(known, n.Name)
	}
	sort.Strings(known)
	return nil, usagef("no notifier %q in the config (it has %s)", names[0], orNone(known))
}

// snsFor builds SNS clients the way the daemon does: [aws] settings, the
// default credential chain.
func snsFor(ctx context.Context, a config.AWS) func(region string) (notify.SNSAPI, error) {
	return func(region string) (notify.SNSAPI, error) {
		cfg, err := awsclient.Load(ctx, awsclient.Options{Region: region, RoleARN: a.RoleARN, ExternalID: a.ExternalID,
			EndpointURL: a.EndpointURL, MaxAttempts: a.MaxAttempts, MaxBackoff: a.MaxBackoff.Duration, RetryMode: "standard",
			ReadTimeout: a.ReadTimeout.Duration, ActionTimeout: a.ActionTimeout.Duration,
			ConnectTimeout: a.ConnectTimeout.Duration, ResponseHeaderTimeout: a.ResponseHeaderTimeout.Duration})
		if err != nil {
			return nil, err
		}
		return notify.SNSFromAWSConfig(cfg)(region)
	}
}
