package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/store"
)

// Exit codes of deploy --wait and wait, the same as replay's.
const (
	exitRolledBack = 3 // the deploy tripped: rolled back (or rolling back)
	exitUndecided  = 4 // timed out, superseded, or failing with alert only
)

// cmdDeploy starts a rollout canaryd drives ([target.rollout]) and, with
// --wait, follows it to its verdict.
func cmdDeploy(ctx context.Context, env *cliEnv, args []string) error {
	return deployOrAnnounce(ctx, env, "deploy", args, true)
}

// cmdAnnounce tells canaryd about a deploy the pipeline made itself (it
// moved the alias): the watch starts now instead of at the next poll.
func cmdAnnounce(ctx context.Context, env *cliEnv, args []string) error {
	return deployOrAnnounce(ctx, env, "announce", args, false)
}

func deployOrAnnounce(ctx context.Context, env *cliEnv, name string, args []string, rollout bool) error {
	fs := newFlags(env, name)
	cf := addClientFlags(fs)
	what := "the version the alias now serves (required)"
	if rollout {
		what = "the published Lambda version to roll out (required)"
	}
	version := fs.String("version", "", what)
	wait := fs.Bool("wait", false, "follow it until promoted (exit 0) or rolled back (exit 3); 4 on timeout")
	wf := addWaitFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *version == "" {
		return usagef("usage: %s", commands()[name].usage)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	res, err := c.AnnounceDeploy(ctx, api.DeployRequest{Target: pos[0], Version: *version, Actor: actor(), Rollout: rollout})
	if err != nil {
		return err
	}
	msg := res.Message
	if msg == "" {
		msg = fmt.Sprintf("deploy of %s version %s announced (watch %s)", res.Target, res.Version, dash(res.WatchID))
	}
	fmt.Fprintln(env.stdout, msg)
	if !*wait {
		return nil
	}
	return waitFor(ctx, env.stdout, c, pos[0], *version, res.WatchID, *wf)
}

type waitFlags struct {
	timeout, interval time.Duration
}

func addWaitFlags(fs interface {
	DurationVar(*time.Duration, string, time.Duration, string)
}) *waitFlags {
	w := &waitFlags{}
	fs.DurationVar(&w.timeout, "timeout", 30*time.Minute, "give up (exit 4) after this long")
	fs.DurationVar(&w.interval, "interval", 2*time.Second, "how often to ask the daemon")
	return w
}

// cmdWait follows a target's deploy until canaryd decides: exit 0
// promoted, 3 rolled back, 4 timed out or undecided (superseded, failing
// while canaryd can only alert).
func cmdWait(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "wait")
	cf := addClientFlags(fs)
	version := fs.String("version", "", "wait for the deploy of this version (default: the target's latest deploy)")
	wf := addWaitFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: %s", commands()["wait"].usage)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	return waitFor(ctx, env.stdout, c, pos[0], *version, "", *wf)
}

// waitFor polls the target's watches and prints every change of phase,
// rollout step and verdict until the deploy is decided. It finds the
// watch by id, else the newest of version, else the newest.
func waitFor(ctx context.Context, out io.Writer, c *api.Client, target, version, id string, wf waitFlags) error {
	ctx, cancel := context.WithTimeout(ctx, wf.timeout)
	defer cancel()
	tick := time.NewTicker(max(wf.interval, 100*time.Millisecond))
	defer tick.Stop()
	last := ""
	for {
		w, found, err := findWatch(ctx, c, target, version, id)
		switch {
		case err != nil && ctx.Err() == nil:
			fmt.Fprintf(out, "%s  (asking the daemon failed: %v; retrying)\n", time.Now().UTC().Format(time.TimeOnly), err)
		case found:
			if line := progressLine(w); line != last {
				fmt.Fprintf(out, "%s  %s\n", time.Now().UTC().Format(time.TimeOnly), line)
				last = line
			}
			if code, msg, done := decided(w); done {
				if code == exitOK {
					fmt.Fprintln(out, msg)
					return nil
				}
				return exitError{code: code, err: errors.New(msg)}
			}
		}
		select {
		case <-ctx.Done():
			what := "its deploy"
			if version != "" {
				what = "version " + version
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return exitError{code: exitUndecided, err: fmt.Errorf("timed out after %s waiting for %s of %s to be decided", wf.timeout, what, target)}
			}
			return exitError{code: exitUndecided, err: ctx.Err()}
		case <-tick.C:
		}
	}
}

func findWatch(ctx context.Context, c *api.Client, target, version, id string) (store.Watch, bool, error) {
	ws, err := c.Watches(ctx, store.WatchFilter{Target: target, Limit: 20})
	if err != nil {
		return store.Watch{}, false, err
	}
	for _, w := range ws { // newest first
		if (id != "" && w.ID == id) || (id == "" && (version == "" || w.NewVersion == version)) {
			return w, true, nil
		}
	}
	return store.Watch{}, false, nil
}

// progressLine is one line about where a watch is.
func progressLine(w store.Watch) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s v%s (known-good %s): %s", w.Target, w.NewVersion, dash(w.KnownGood), w.Phase)
	if r := w.Rollout; r != nil && w.Phase == store.PhaseRollingOut && r.Step < len(r.Steps) {
		st := r.Steps[r.Step]
		fmt.Fprintf(&b, ", step %d/%d at %g%%", r.Step+1, len(r.Steps), st.Weight*100)
		if st.Hold > 0 {
			fmt.Fprintf(&b, " for %s", st.Hold)
		}
		if st.Gate && !r.Gated {
			b.WriteString(", then a gate: `canaryd promote " + w.Target + "`")
		}
		if r.PreHook == store.HookPending {
			b.WriteString(", pre-traffic hook running")
		}
	}
	if w.VerdictKind != "" {
		fmt.Fprintf(&b, "; verdict %s", w.VerdictKind)
	}
	if !w.AlertOnlyAt.IsZero() {
		fmt.Fprintf(&b, "; FAILING, alert only: %s", w.AlertOnlyWhy)
	}
	return b.String()
}

// decided maps a watch to the exit code of a pipeline waiting for it.
func decided(w store.Watch) (code int, msg string, done bool) {
	switch w.Phase {
	case store.PhasePromoted, store.PhaseEnded:
		switch {
		case w.IncidentID != "":
		case !w.PromotedAt.IsZero():
			return exitOK, fmt.Sprintf("%s version %s promoted", w.Target, w.NewVersion), true
		case w.Rollout != nil: // e.g. its pre-traffic hook failed
			return exitRolledBack, fmt.Sprintf("%s version %s not rolled out: %s", w.Target, w.NewVersion, w.Reason), true
		default:
			return exitUndecided, fmt.Sprintf("%s version %s: watch ended without a verdict: %s", w.Target, w.NewVersion, w.Reason), true
		}
	case store.PhaseSuperseded:
		return exitUndecided, fmt.Sprintf("%s version %s superseded by %s before a verdict", w.Target, w.NewVersion, dash(w.SupersededBy)), true
	}
	if w.IncidentID != "" || w.Phase == store.PhaseTripped || w.Phase == store.PhaseRollingBack ||
		w.Phase == store.PhaseRolledBack || w.Phase == store.PhaseRollbackFailed {
		return exitRolledBack, fmt.Sprintf("%s version %s rolled back (%s, incident %s): %s", w.Target, w.NewVersion, w.Phase, dash(w.IncidentID), w.Reason), true
	}
	return 0, "", false
}

// cmdPromote passes a rollout's gate or moves it to its next step now.
func cmdPromote(ctx context.Context, env *cliEnv, args []string) error {
	return stepOverride(ctx, env, "promote", args, store.OverridePromote, "advanced by hand")
}

// cmdAbort rolls a deploy under watch (or a rollout) back now.
func cmdAbort(ctx context.Context, env *cliEnv, args []string) error {
	return stepOverride(ctx, env, "abort", args, store.OverrideForceRollback, "aborted by hand")
}

func stepOverride(ctx context.Context, env *cliEnv, name string, args []string, kind store.OverrideKind, defReason string) error {
	fs := newFlags(env, name)
	cf := addClientFlags(fs)
	reason := fs.String("reason", defReason, "why, for the journal and alerts")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] == "all" || pos[0] == "*" {
		return usagef("usage: %s", commands()[name].usage)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ov, err := c.SetOverride(ctx, api.OverrideRequest{Target: pos[0], Kind: kind, TTL: "1h", Reason: *reason, Actor: actor()})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s of %s requested (override %s); the daemon acts on its next tick\n", name, ov.Target, ov.ID)
	return nil
}
