package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/store"
)

// clientFlags are the flags of the subcommands that talk to the admin API.
type clientFlags struct {
	addr, tokenFile, configPath string
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	fs.StringVar(&c.addr, "addr", "", "admin API base URL (default $CANARYD_ADDR, else from --config, else http://127.0.0.1:8080)")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the admin token (default $CANARYD_ADMIN_TOKEN, else from --config)")
	fs.StringVar(&c.configPath, "config", "", "read the address and token reference from this config file")
	return c
}

func (c *clientFlags) client() (*api.Client, error) {
	addr, token := c.addr, ""
	if addr == "" {
		addr = os.Getenv("CANARYD_ADDR")
	}
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, usagef("--token-file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	} else {
		token = os.Getenv("CANARYD_ADMIN_TOKEN")
	}
	if c.configPath != "" {
		cfg, err := loadConfig(c.configPath)
		if err != nil {
			return nil, err
		}
		if addr == "" {
			scheme := "http"
			if cfg.Daemon.TLSCertFile != "" {
				scheme = "https"
			}
			addr = scheme + "://" + cfg.Daemon.Listen
		}
		if token == "" {
			token = cfg.Daemon.AdminToken.Value()
		}
	}
	if addr == "" {
		addr = "http://127.0.0.1:8080"
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return api.NewClient(addr, token, &http.Client{Timeout: 5 * time.Minute}), nil
}

func actor() string {
	if u, err := user.Current(); err == nil {
		return u.Username + "@cli"
	}
	return "cli"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "status")
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	live := fs.Bool("watch", false, "redraw every --interval until interrupted (a live view of rollouts and watches)")
	interval := fs.Duration("interval", 2*time.Second, "--watch: how often to redraw")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *live && *asJSON {
		return usagef("--watch and --json do not go together")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	for {
		st, err := c.Status(ctx)
		switch {
		case err != nil && !*live:
			return err
		case *asJSON:
			return writeJSON(env.stdout, st)
		case *live:
			fmt.Fprint(env.stdout, "\033[H\033[2J") // home, clear
			if err != nil {
				fmt.Fprintf(env.stdout, "%s: %v (retrying)\n", time.Now().UTC().Format(time.TimeOnly), err)
			} else {
				printStatus(env.stdout, st)
			}
		default:
			printStatus(env.stdout, st)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(max(*interval, 100*time.Millisecond)):
		}
	}
}

func printStatus(w io.Writer, st api.Status) {
	mode := "acting"
	if st.DryRun {
		mode = "DRY-RUN (alert only)"
	}
	if st.Paused {
		mode += ", PAUSED for all targets"
	}
	fmt.Fprintf(w, "replica %s at %s: %s\n", st.Replica, st.Time.Format(time.RFC3339), mode)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tALIAS\tVERSION\tKNOWN-GOOD\tWATCH\tVERDICT\tFLAGS")
	for _, t := range st.Targets {
		watch, verdict := "-", "-"
		if t.Watch != nil {
			watch = fmt.Sprintf("%s v%s", t.Watch.Phase, t.Watch.NewVersion)
			if r := t.Watch.Rollout; r != nil && t.Watch.Phase == store.PhaseRollingOut && r.Step < len(r.Steps) {
				watch += fmt.Sprintf(" step %d/%d %g%%", r.Step+1, len(r.Steps), r.Steps[r.Step].Weight*100)
			}
			watch += detectedBy(t.Watch)
			if t.Watch.LastVerdict != nil {
				verdict = string(t.Watch.LastVerdict.Kind)
			}
		}
		var flags []string
		if t.Paused {
			flags = append(flags, "paused")
		}
		if t.DryRun {
			flags = append(flags, "dry-run")
		}
		if t.Error != "" {
			flags = append(flags, "error: "+t.Error)
		}
		fmt.Fprintf(tw, "%s\t%s:%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Function, t.Alias, dash(t.Version)+trafficSplit(t.Weights), dash(t.KnownGood), watch, verdict, strings.Join(flags, ","))
	}
	_ = tw.Flush()
	for _, o := range st.Overrides {
		fmt.Fprintf(w, "override %s: %s on %s by %s until %s: %s\n", o.ID, o.Kind, o.Target, o.Actor, until(o), o.Reason)
	}
	for _, t := range st.Targets {
		if t.Watch != nil && t.Watch.LastVerdict != nil && t.Watch.LastVerdict.Summary != "" {
			fmt.Fprintf(w, "%s: %s\n", t.Name, t.Watch.LastVerdict.Summary)
		}
	}
}

// detectedBy says how a watch's deploy was seen, and for an event how long
// after the alias changed: " (event +2s)".
func detectedBy(w *api.WatchStatus) string {
	switch {
	case w.Source == "":
		return ""
	case !w.EventAt.IsZero():
		return fmt.Sprintf(" (%s +%s)", w.Source, w.DetectedAt.Sub(w.EventAt).Round(time.Second))
	}
	return " (" + w.Source + ")"
}

func until(o store.Override) string {
	if o.ExpiresAt.IsZero() {
		return "removed"
	}
	return o.ExpiresAt.Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdOverride(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "override")
	cf := addClientFlags(fs)
	ttl := fs.String("ttl", "1h", "how long the override lasts")
	reason := fs.String("reason", "", "why (required, shown in status and alerts)")
	version := fs.String("version", "", "rollback: version to roll back to; mark-good: the version")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("usage: %s", commands()["override"].usage)
	}
	verb, tgt := pos[0], pos[1]
	if tgt == "all" {
		tgt = "*"
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if verb == "resume" {
		return resume(ctx, env, c, tgt)
	}
	kinds := map[string]store.OverrideKind{"pause": store.OverridePause, "rollback": store.OverrideForceRollback, "mark-good": store.OverrideMarkGood}
	kind, ok := kinds[verb]
	if !ok {
		return usagef("unknown override %q: pause, resume, rollback or mark-good", verb)
	}
	if *reason == "" {
		return usagef("--reason is required")
	}
	ov, err := c.SetOverride(ctx, api.OverrideRequest{Target: tgt, Kind: kind, TTL: *ttl, Reason: *reason, Actor: actor(), Version: *version})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "override %s set: %s on %s until %s\n", ov.ID, ov.Kind, ov.Target, until(ov.Override))
	return nil
}

// resume removes every pause override on the target (api.Client.Resume).
func resume(ctx context.Context, env *cliEnv, c *api.Client, tgt string) error {
	removed, err := c.Resume(ctx, tgt, actor())
	for _, id := range removed {
		fmt.Fprintf(env.stdout, "removed pause %s on %s\n", id, tgt)
	}
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		return exitError{code: exitFailure, err: fmt.Errorf("no pause override on %s", tgt)}
	}
	return nil
}

// trafficSplit shows an alias's additional version weights after its
// primary version: "7 (8 at 10%)" — the primary takes the rest.
func trafficSplit(w map[string]float64) string {
	if len(w) == 0 {
		return ""
	}
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s at %s%%", k, strconv.FormatFloat(w[k]*100, 'f', -1, 64))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
