package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/history"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// TestUsageNamesOnlyDefinedFlags: every --flag a command's usage line
// advertises is one the command defines (demo once advertised --keep).
func TestUsageNamesOnlyDefinedFlags(t *testing.T) {
	flagRE := regexp.MustCompile(`--([a-z][a-z-]*)`)
	for name, c := range commands() {
		t.Run(name, func(t *testing.T) {
			code, _, help := runCLI(t, name, "--help")
			if code != 0 {
				t.Fatalf("%s --help: exit %d", name, code)
			}
			for _, m := range flagRE.FindAllStringSubmatch(c.usage, -1) {
				if m[1] == "help" {
					continue
				}
				if !strings.Contains(help, "\n  -"+m[1]+" ") && !strings.Contains(help, "\n  -"+m[1]+"\n") {
					t.Errorf("usage %q names --%s, which %s does not define:\n%s", c.usage, m[1], name, help)
				}
			}
		})
	}
}

// TestConsoleLogsToAFileHaveNoColours: colours are for a terminal only.
func TestConsoleLogsToAFileHaveNoColours(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "canaryd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log, _, err := newLogger(f, "info", "console")
	if err != nil {
		t.Fatal(err)
	}
	log.Warn("alias reverted")
	_ = log.Sync()
	b, _ := os.ReadFile(f.Name())
	if !strings.Contains(string(b), "WARN") || strings.Contains(string(b), "\x1b[") {
		t.Fatalf("console log in a file: %q", b)
	}
}

// TestStatusSaysHowTheDeployWasSeen: the watch column names its source
// and, for an event, how long after the alias changed the watch began.
func TestStatusSaysHowTheDeployWasSeen(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	printStatus(&buf, api.Status{Targets: []api.TargetStatus{
		{Name: "shop", Function: "shop", Alias: "live", Version: "8", KnownGood: "7",
			Watch: &api.WatchStatus{Phase: store.PhaseBaking, NewVersion: "8", Source: "event", EventAt: at, DetectedAt: at.Add(1400 * time.Millisecond)}},
		{Name: "cart", Function: "cart", Alias: "live", Version: "3", KnownGood: "2",
			Watch: &api.WatchStatus{Phase: store.PhaseBaking, NewVersion: "3", Source: "sweep", DetectedAt: at}},
	}})
	if out := buf.String(); !strings.Contains(out, "baking v8 (event +1s)") || !strings.Contains(out, "baking v3 (sweep)") {
		t.Fatalf("status:\n%s", out)
	}
}

func TestStatusShowsTheTrafficSplit(t *testing.T) {
	var buf bytes.Buffer
	printStatus(&buf, api.Status{Targets: []api.TargetStatus{{Name: "shop", Function: "shop", Alias: "live", Version: "7",
		Weights: map[string]float64{"8": 0.1}, KnownGood: "7"}}})
	if !strings.Contains(buf.String(), "7 (8 at 10%)") {
		t.Fatalf("status:\n%s", buf.String())
	}
}

// TestHistoryJSONAndShortReferences: `history --format json` lists as
// JSON (refs included); --incident takes TARGET#N and a prefix.
func TestHistoryJSONAndShortReferences(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"inc-20261101T100000.000000000Z-shop-v5-aaaa", "inc-20261102T100000.000000000Z-shop-v6-bbbb"} {
		if err := st.CreateIncident(ctx, store.Incident{ID: id, Target: "shop", FromVersion: "5", OpenedAt: t0.Add(time.Duration(i) * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.New(api.Config{Store: st, Token: config.NewSecret("history-test-token")}).Handler())
	t.Cleanup(srv.Close)
	t.Setenv("CANARYD_ADMIN_TOKEN", "history-test-token")
	code, out, errOut := runCLI(t, "history", "shop", "--format", "json", "--addr", srv.URL)
	var l history.Listing
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Incidents) != 2 || l.Incidents[0].Ref != "shop#2" || l.Watches == nil {
		t.Fatalf("history --format json: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "history", "--addr", srv.URL)
	if code != 0 || !strings.Contains(out, "shop#1") {
		t.Fatalf("history table: exit %d\n%s", code, out)
	}
	for ref, want := range map[string]string{"shop#1": "shop-v5-aaaa", "20261102": "shop-v6-bbbb"} {
		code, out, errOut = runCLI(t, "history", "--incident", ref, "--addr", srv.URL)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("history --incident %s: exit %d\n%s%s", ref, code, out, errOut)
		}
	}
	if code, _, errOut = runCLI(t, "history", "--format", "markdown", "--addr", srv.URL); code != 2 {
		t.Errorf("a markdown listing: exit %d %s, want 2", code, errOut)
	}
}
