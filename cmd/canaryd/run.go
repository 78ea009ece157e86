package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"syscall"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/daemon"
	"github.com/canaryd/canaryd/store/backend"
)

func cmdRun(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "run")
	path := fs.String("config", "config.toml", "config file, s3://bucket/key or ssm:PARAMETER")
	dryRun := fs.Bool("dry-run", false, "alert only: compute and journal rollback plans, never execute them")
	level := fs.String("log-level", "", "debug|info|warn|error (default: daemon.log_level)")
	format := fs.String("log-format", "", "json|console (default: console on a terminal, json otherwise)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if *level == "" {
		*level = cfg.Daemon.LogLevel
	}
	log, _, err := newLogger(env.stderr, *level, *format)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return run(ctx, runOptions{cfg: cfg, path: *path, dryRun: *dryRun, log: log})
}

type runOptions struct {
	cfg    *config.Config
	path   string
	dryRun bool
	log    *zap.Logger
	daemon daemon.Config // base (tests and the demo set clock, AWS options)
	ready  chan<- string // receives the admin API address once listening
}

// run is the daemon process: store, daemon, admin API, signals.
func run(ctx context.Context, o runOptions) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	clock := o.daemon.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	st, err := backend.Open(ctx, o.cfg.Store, clock)
	if err != nil {
		return err
	}
	defer st.Close()
	dc := o.daemon
	dc.Conf, dc.Store, dc.Clock, dc.Logger, dc.DryRun = o.cfg, st, clock, o.log, o.dryRun || dc.DryRun
	d, err := daemon.New(dc)
	if err != nil {
		return err
	}
	v, rev := buildVersion()
	daemon.RegisterBuildInfo(d.Registry(), v, rev, runtime.Version())
	tokens, err := api.TokensFromConfig(o.cfg.Daemon)
	if err != nil {
		return err
	}
	srv := api.New(api.Config{Controller: d.Controller(), Store: st, Tokens: tokens,
		Registry: d.Registry(), Ready: d.Ready, Clock: clock, Logger: o.log, Evidence: d.Evidence(), Traces: d.Traces()})
	ln, err := listen(o.cfg.Daemon.Listen)
	if err != nil {
		return err
	}
	o.log.Info("canaryd started", zap.String("version", versionString()), zap.String("admin", ln.Addr().String()),
		zap.Int("targets", len(o.cfg.Targets)), zap.Bool("dry_run", dc.DryRun), zap.String("store", o.cfg.Store.Backend))
	if len(tokens) == 0 {
		o.log.Warn("no admin API token configured: every /v1 request is refused")
	}
	if o.ready != nil {
		o.ready <- ln.Addr().String()
	}
	apiDone := make(chan error, 1)
	go func() { apiDone <- srv.Serve(ctx, ln, o.cfg.Daemon.TLSCertFile, o.cfg.Daemon.TLSKeyFile) }()
	go reloadOnHUP(ctx, o, d)
	runErr := d.Run(ctx)
	stop()
	if err := <-apiDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
		o.log.Error("admin API", zap.Error(err))
	}
	o.log.Info("canaryd stopped")
	return runErr
}

// reloadOnHUP reloads the config file on SIGHUP; an invalid file keeps the
// running config and the reason is logged.
func reloadOnHUP(ctx context.Context, o runOptions, d *daemon.Daemon) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			cfg, err := loadConfig(o.path)
			if err != nil {
				o.log.Error("SIGHUP: config invalid, keeping the running config", zap.Error(err))
				continue
			}
			if cfg.Daemon.Listen != o.cfg.Daemon.Listen || !reflect.DeepEqual(cfg.Store, o.cfg.Store) || !reflect.DeepEqual(cfg.Daemon.Tokens, o.cfg.Daemon.Tokens) {
				o.log.Warn("SIGHUP: daemon.listen, API tokens and [store] changes need a restart; other changes apply now")
			}
			if err := d.Reload(cfg); err != nil {
				o.log.Error("SIGHUP: reload failed, keeping the running config", zap.Error(err))
			}
		}
	}
}
