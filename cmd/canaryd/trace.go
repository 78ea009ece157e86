package main

import (
	"context"
	"fmt"
	"os"
)

// cmdTrace downloads the replay trace the daemon recorded of a watch, or
// of an incident's watch, for `canaryd replay --trace`.
func cmdTrace(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "trace")
	cf := addClientFlags(fs)
	incident := fs.String("incident", "", "the trace of this incident's watch")
	out := fs.String("out", "", "write the trace to this file instead of standard output")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if (len(pos) == 1) == (*incident != "") || len(pos) > 1 {
		return usagef("usage: %s", commands()["trace"].usage)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	id := ""
	if len(pos) == 1 {
		id = pos[0]
	} else {
		d, err := c.Incident(ctx, *incident)
		if err != nil {
			return err
		}
		id = d.Incident.WatchID
	}
	b, err := c.Trace(ctx, id)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = env.stdout.Write(b)
		return err
	}
	if err := os.WriteFile(*out, b, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "wrote %s (%d bytes): canaryd replay --config CONFIG --trace %s\n", *out, len(b), *out)
	return nil
}
