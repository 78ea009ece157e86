package main

import (
	"context"

	"github.com/canaryd/canaryd/demo"
)

func cmdDemo(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "demo")
	redisAddr := fs.String("redis", "", "Redis address for the cache step (default: start redis-server if installed, else skip; \"off\" skips it)")
	speed := fs.Float64("speed", 30, "simulated seconds per real second")
	verbose := fs.Bool("verbose", false, "also print the daemon's own logs")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	o := demo.Options{Redis: *redisAddr, Speed: *speed}
	if *verbose {
		log, _, err := newLogger(env.stderr, "info", "console")
		if err != nil {
			return err
		}
		o.Logger = log
	}
	_, err := demo.Run(ctx, env.stdout, o)
	return err
}
