package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/config/source"
)

// Exit codes, following common CLI habits.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // usage or config error
)

// usageError marks errors that exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitError carries a specific exit code (replay's 3 and 4).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

type cliEnv struct {
	stdin          io.Reader // `--trace -` reads the trace here
	stdout, stderr io.Writer
}

// commands is the command table; a function rather than a package variable
// because the commands refer back to it for their --help.
func commands() map[string]command {
	return map[string]command{
		"run":         {"run the daemon", "canaryd run --config FILE|s3://BUCKET/KEY|ssm:NAME [--dry-run] [--log-level L] [--log-format json|console]", cmdRun},
		"check":       {"validate a config and summarise what would be watched", "canaryd check --config FILE|s3://BUCKET/KEY|ssm:NAME [--aws [--invalidate]]", cmdCheck},
		"demo":        {"show the whole story offline: a good deploy promoted, a bad one rolled back, both in the web console", "canaryd demo [--redis ADDR|off] [--speed 30] [--verbose] [--console ADDR|off] [--stay=false]", cmdDemo},
		"status":      {"show targets, watches, rollouts and overrides (admin API)", "canaryd status [--addr URL] [--json] [--watch [--interval 2s]]", cmdStatus},
		"deploy":      {"roll a published version out step by step ([target.rollout]), optionally waiting for the verdict", "canaryd deploy TARGET --version V [--wait [--timeout 30m]]", cmdDeploy},
		"announce":    {"tell canaryd about a deploy the pipeline made (it moved the alias)", "canaryd announce TARGET --version V [--wait [--timeout 30m]]", cmdAnnounce},
		"wait":        {"follow a deploy until canaryd decides: exit 0 promoted, 3 rolled back, 4 timed out", "canaryd wait TARGET [--version V] [--timeout 30m]", cmdWait},
		"promote":     {"pass a rollout's gate, or move it to its next step now", "canaryd promote TARGET [--reason TEXT]", cmdPromote},
		"abort":       {"roll the deploy under watch (or a rollout) back now", "canaryd abort TARGET [--reason TEXT]", cmdAbort},
		"override":    {"pause, resume, force a rollback or mark a version good", "canaryd override pause|resume|rollback|mark-good TARGET|all [--ttl 1h] [--reason TEXT] [--version V]", cmdOverride},
		"rollback":    {"roll a target back now, by hand", "canaryd rollback TARGET [--to VERSION] [--yes] [--reason TEXT]  (through the admin API)", cmdRollback},
		"history":     {"list past watches and incidents, or print a postmortem draft", "canaryd history [TARGET] [--format table|json] [--limit 50] | canaryd history --incident ID|TARGET#N|PREFIX [--format markdown|json]", cmdHistory},
		"trace":       {"download the replay trace canaryd recorded of a watch (daemon.trace_dir)", "canaryd trace WATCH_ID | canaryd trace --incident ID|TARGET#N [--out FILE]", cmdTrace},
		"replay":      {"run a recorded or synthetic trace through the policy, offline", "canaryd replay --config FILE --trace TRACE.jsonl|- [--target NAME] [--full] [--rule NAME[,NAME]]", cmdReplay},
		"version":     {"print the version", "canaryd version", cmdVersion},
		"notify":      {"send a test alert through every notifier, or one", "canaryd notify test [NOTIFIER] --config FILE", cmdNotify},
		"healthcheck": {"exit 0 if the local daemon answers /healthz (container health checks)", "canaryd healthcheck [--addr HOST:PORT] [--ready] [--tls] [--timeout 3s]", cmdHealthcheck},
	}
}

// Main runs the CLI on the process's standard input and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return MainIO(ctx, args, os.Stdin, stdout, stderr)
}

// MainIO is Main with the standard input given.
func MainIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c, ok := commands()[args[1]]; ok {
				fmt.Fprintf(stdout, "%s\n\nusage: %s\n", c.summary, c.usage)
				return exitOK
			}
		}
		printUsage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "canaryd: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return exitUsage
	}
	err := c.run(ctx, env, args[1:])
	return report(stderr, args[0], err)
}

func report(stderr io.Writer, name string, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "canaryd %s: %v\n", name, ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "canaryd %s: %v\n", name, err)
	var ue usageError
	var ce *config.Error
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return exitUsage
	}
	return exitFailure
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "canaryd watches every deploy of a Lambda alias and rolls it back when it goes bad.")
	fmt.Fprintln(w, "\nusage: canaryd COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands()))
	for n := range commands() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands()[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'canaryd COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 runtime failure, 2 usage or config error (replay, wait, deploy --wait: 3 rolled back, 4 undecided or timed out).")
}

// newFlags builds a FlagSet whose errors are usage errors.
func newFlags(env *cliEnv, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("canaryd "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		c := commands()[name]
		fmt.Fprintf(env.stderr, "%s\n\nusage: %s\n\nflags:\n", c.summary, c.usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterleaved parses flags that may come before or after positional
// arguments ("rollback api --yes") and returns the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// loadConfig reads the config from a file, an S3 object (s3://bucket/key)
// or an SSM parameter (ssm:NAME).
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, usagef("--config is required")
	}
	return source.Load(context.Background(), path, source.Options{})
}
