package main

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/canaryd/canaryd/demo"
)

func cmdDemo(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "demo")
	redisAddr := fs.String("redis", "", "Redis address for the cache step (default: start redis-server if installed, else skip; \"off\" skips it)")
	speed := fs.Float64("speed", 30, "simulated seconds per real second")
	verbose := fs.Bool("verbose", false, "also print the daemon's own logs")
	console := fs.String("console", "127.0.0.1:0", "address of the demo's admin API and web console (\"off\": none)")
	stay := fs.Bool("stay", true, "keep the web console up after the demo, until Ctrl-C")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	o := demo.Options{Redis: *redisAddr, Speed: *speed, Console: *console, Stay: *stay}
	if *verbose {
		log, _, err := newLogger(env.stderr, "info", "console")
		if err != nil {
			return err
		}
		o.Logger = log
	}
	// Ctrl-C ends the demo (and the console it keeps up) cleanly: its
	// temporary store and servers are removed.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	_, err := demo.Run(ctx, env.stdout, o)
	return err
}
