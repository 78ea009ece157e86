package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/canaryd/canaryd/api"
)

func cmdRollback(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "rollback")
	cf := addClientFlags(fs)
	to := fs.String("to", "", "version to roll back to (default: the recorded known-good version)")
	yes := fs.Bool("yes", false, "act without showing the plan and asking first")
	reason := fs.String("reason", "manual rollback", "why, for the journal and alerts")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: %s", commands()["rollback"].usage)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	req := api.RollbackRequest{Target: pos[0], ToVersion: *to, Reason: *reason, Actor: actor()}
	if !*yes {
		req.PlanOnly = true
		plan, err := c.Rollback(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "Plan for %s: %s -> %s\n%s", plan.Target, plan.FromVersion, plan.ToVersion, plan.PlanText)
		fmt.Fprint(env.stdout, "Proceed? [y/N] ")
		answer, _ := bufio.NewReader(env.stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return exitError{code: exitFailure, err: fmt.Errorf("not confirmed; nothing changed")}
		}
		req.PlanOnly = false
	}
	res, err := c.Rollback(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "rollback %s of %s: %s -> %s: %s %s\n", res.IncidentID, res.Target, res.FromVersion, res.ToVersion, res.Outcome, res.Message)
	switch res.Outcome {
	case "rolled_back":
		return nil
	case "started": // still running (an AWS brown-out is retried): the message says how to follow it
		return exitError{code: 4, err: fmt.Errorf("rollback %s still running", res.IncidentID)}
	}
	return exitError{code: exitFailure, err: fmt.Errorf("rollback outcome %s", res.Outcome)}
}
