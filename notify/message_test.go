package notify

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/canaryd/canaryd/event"

	"github.com/canaryd/canaryd/policy"
)

func TestRenderTrippedExplainsEverything(t *testing.T) {
	ev := trippedEvent()
	m := Render(ev)
	if m.Title != "[CRITICAL] checkout: tripped, rolling back 7 -> 6" {
		t.Errorf("title = %q", m.Title)
	}
	text := m.Text()
	mustContain(t, "text", text,
		ev.Message,
		"error-rate: observed 0.084 > threshold 0.05 over 5m0s (5 samples, evidence 1200) baseline 0.002", // rule, values, window, samples
		"[BREACHED] error-rate", "[ok] p99-latency: observed 180, trips when > 800, over 5m0s (5 samples)",
		"known-good 6 -> new 7 (checkout-fn:live)",
		"lambda-alias: done in 1.25s - live 7 -> 6",
		"cloudfront:E123: failed in 300ms - error: AccessDenied",
		`pause on checkout by alice, expires 2026-11-26T01:30:00Z (in 30m0s): "load test"`,
		"canaryd override pause checkout --ttl 1h --reason",
		"canaryd status",
		"canaryd history --incident inc-checkout-w-42 --format markdown",
	)
	// Breached findings come first.
	if strings.Index(text, "[BREACHED]") > strings.Index(text, "[ok]") {
		t.Errorf("breached finding not listed first:\n%s", text)
	}
	mustContain(t, "headline", m.Headline, "checkout: tripped", "error-rate: observed 0.084 > threshold 0.05")
}

func TestRenderTitles(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Event)
		title  string
		steps  []string // substrings expected among next steps
		absent string   // substring that must not be among next steps
	}{
		{"tripped dry run", func(e *Event) { e.DryRun = true }, "[CRITICAL] checkout: failing, dry run: would roll back 7 -> 6",
			[]string{"canaryd rollback checkout"}, ""},
		{"tripped acts", func(e *Event) {}, "[CRITICAL] checkout: tripped, rolling back 7 -> 6", []string{"override pause"}, "canaryd rollback"},
		{"rollback done", func(e *Event) { e.Type, e.Severity = event.RollbackDone, event.Info }, "[INFO] checkout: rolled back 7 -> 6, health verified",
			[]string{"canaryd status"}, "override pause"},
		{"rollback failed", func(e *Event) { e.Type = event.RollbackFailed }, "[CRITICAL] checkout: rollback FAILED (7 -> 6)",
			[]string{"canaryd rollback checkout", "override pause"}, ""},
		{"unhealthy", func(e *Event) { e.Type = event.RollbackUnhealthy }, "[CRITICAL] checkout: rolled back to 6 but health did not recover",
			[]string{"override pause"}, ""},
		{"alert only no known-good", func(e *Event) { e.Type, e.KnownGood, e.Severity = event.AlertOnly, "", event.Warning },
			"[WARNING] checkout: version 7 failing, alert only (no rollback)", []string{"canaryd rollback checkout"}, ""},
		{"promoted", func(e *Event) { e.Type, e.Severity = event.Promoted, event.Info }, "[INFO] checkout: version 7 promoted", nil, "canaryd"},
		{"override set", func(e *Event) { e.Type, e.Override = event.OverrideSet, &e.Overrides[0] }, "[CRITICAL] checkout: override pause set (by alice)",
			[]string{"canaryd override resume checkout"}, "rollback"},
		{"override expired", func(e *Event) { e.Type, e.Override = event.OverrideExpired, &e.Overrides[0] }, "[CRITICAL] checkout: override pause expired (by alice)", nil, "canaryd"},
		{"given next steps win", func(e *Event) { e.NextSteps = []string{"call bob"} }, "[CRITICAL] checkout: tripped, rolling back 7 -> 6",
			[]string{"call bob"}, "canaryd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := trippedEvent()
			tc.mutate(&ev)
			m := Render(ev)
			if m.Title != tc.title {
				t.Errorf("title = %q, want %q", m.Title, tc.title)
			}
			steps := strings.Join(m.NextSteps, "\n")
			for _, s := range tc.steps {
				mustContain(t, "next steps", steps, s)
			}
			if tc.absent != "" && strings.Contains(steps, tc.absent) {
				t.Errorf("next steps mention %q:\n%s", tc.absent, steps)
			}
			for _, r := range m.Title {
				if r > 0x7e {
					t.Errorf("title not ASCII: %q", m.Title)
				}
			}
		})
	}
}

func TestRenderWithoutVerdictOrVersions(t *testing.T) {
	m := Render(Event{Type: event.OverrideExpired, Severity: event.Info, Target: "api"})
	if m.What == "" || len(m.Why) != 0 || m.Versions != "" {
		t.Errorf("unexpected message %+v", m)
	}
	for _, s := range m.Sections() {
		if len(s.Lines) == 0 {
			t.Errorf("empty section %q", s.Heading)
		}
	}
}

func TestRenderNotEnoughEvidence(t *testing.T) {
	ev := trippedEvent()
	ev.Verdict.Findings = append(ev.Verdict.Findings, policy.Finding{Rule: "throttles", Note: "3 invocations < min_invocations 50"})
	mustContain(t, "text", Render(ev).Text(), "[not enough evidence] throttles", "3 invocations < min_invocations 50")
}

func TestTruncate(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijkl", 10, "abcdefg..."},
		{"ééééééé", 10, "ééé..."}, // 2-byte runes: never cut inside one
	}
	for _, tc := range cases {
		got := truncate(tc.in, tc.n)
		if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
