package main

import (
	"context"
	"time"

	"github.com/canaryd/canaryd/history"
	"github.com/canaryd/canaryd/store"
)

func cmdHistory(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "history")
	cf := addClientFlags(fs)
	incident := fs.String("incident", "", "print the postmortem draft of this incident")
	format := fs.String("format", "", "listing: table (default) or json; postmortem (--incident): markdown (default) or json")
	limit := fs.Int("limit", 50, "most recent entries to list")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *incident == "" && *format != "" && *format != "table" && *format != "json" {
		return usagef("--format must be table or json for a listing (markdown is for --incident)")
	}
	if len(pos) > 1 {
		return usagef("usage: %s", commands()["history"].usage)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if *incident != "" {
		switch *format {
		case "", "markdown", "md":
			md, err := c.PostmortemMarkdown(ctx, *incident)
			if err != nil {
				return err
			}
			_, err = env.stdout.Write(md)
			return err
		case "json":
			doc, err := c.Postmortem(ctx, *incident)
			if err != nil {
				return err
			}
			return writeJSON(env.stdout, doc)
		default:
			return usagef("--format must be markdown or json")
		}
	}
	target := ""
	if len(pos) == 1 {
		target = pos[0]
	}
	watches, err := c.Watches(ctx, store.WatchFilter{Target: target, Limit: *limit})
	if err != nil {
		return err
	}
	incs, err := c.Incidents(ctx, target, *limit)
	if err != nil {
		return err
	}
	switch *format {
	case "", "table":
		return history.WriteList(env.stdout, watches, incs, time.Now())
	case "json":
		return history.WriteListJSON(env.stdout, watches, incs)
	}
	return usagef("--format must be table or json for a listing")
}
