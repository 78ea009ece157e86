package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/canaryd/canaryd/demo"
)

// The browser tests drive a real headless Chromium against the demo: the
// real daemon, the in-process AWS simulator, the admin API and its
// console, with simulated time running 30x faster than real time. They
// wait on what the page shows, each wait bounded by a deadline.

// chromium finds the browser, or skips (fails when CANARYD_REQUIRE_BROWSER
// is set, as in CI).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CANARYD_REQUIRE_BROWSER") != "" {
		t.Fatal("CANARYD_REQUIRE_BROWSER is set but no chromium is installed (apt-get install -y chromium)")
	}
	t.Skip("no chromium installed (apt-get install -y chromium); set CANARYD_REQUIRE_BROWSER=1 to fail instead")
	return ""
}

// browser is one headless Chromium tab that collects console errors,
// uncaught exceptions and the browser's own error log (CSP violations,
// failed loads).
type browser struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T, ctx context.Context) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("headless", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: bctx}
	// Console API calls, uncaught exceptions and the browser's own log
	// (CSP violations, failed loads) at warning level and above.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(bctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				b.note(fmt.Sprintf("%s (%s %s:%d)", m, m.Source, m.URL, m.Line+1))
			}
		}
	}()
	t.Cleanup(func() { cancelTab(); cancelAlloc(); <-done })
	return b
}

func (b *browser) note(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\nconsole errors: %v", what, err, b.consoleErrors())
	}
}

// waitJS waits until the JavaScript expression is true, at most within.
func (b *browser) waitJS(what, expr string, within time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(within))); err != nil {
		b.t.Fatalf("waiting for %s: %v\npage:\n%s\nconsole errors: %v", what, err, b.text(), b.consoleErrors())
	}
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

func (b *browser) text() string {
	s, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// screenshot writes the page as a PNG into the artifact directory.
func (b *browser) screenshot(dir, name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		b.t.Fatalf("screenshot %s: %v (not a PNG?)", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// colorScheme emulates prefers-color-scheme.
func (b *browser) colorScheme(v string) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}}); err != nil {
		b.t.Fatalf("emulate %s: %v", v, err)
	}
}

// artifactDir is $CANARYD_ARTIFACT_DIR, else a temporary directory.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("CANARYD_ARTIFACT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

type consoleInfo struct{ url, token string }

// TestConsoleInBrowser follows the demo in the console: no token, no data;
// the good deploy baking then promoted; the bad one tripping, with its
// chart and explanation; its incident with the postmortem; and no error in
// the browser's console throughout.
func TestConsoleInBrowser(t *testing.T) {
	chromium(t)
	dir := artifactDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	b := newBrowser(t, ctx)

	ready := make(chan consoleInfo, 1)
	goodDone := make(chan struct{})    // the test has seen the good deploy promoted
	betweenActs := make(chan struct{}) // the demo is between its acts
	demoCtx, stopDemo := context.WithCancel(ctx)
	var out syncBuf
	demoErr := make(chan error, 1)
	go func() {
		_, err := demo.Run(demoCtx, &out, demo.Options{Speed: 30, Redis: "off", Timeout: 90 * time.Second, Stay: true,
			OnConsole: func(url, token string) { ready <- consoleInfo{url, token} },
			BetweenActs: func(ctx context.Context) {
				close(betweenActs)
				select {
				case <-goodDone:
				case <-ctx.Done():
				}
			}})
		demoErr <- err
	}()
	t.Cleanup(func() {
		stopDemo()
		<-demoErr
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	})
	var c consoleInfo
	select {
	case c = <-ready:
	case err := <-demoErr:
		t.Fatalf("demo ended before its console listened: %v\n%s", err, out.String())
	case <-ctx.Done():
		t.Fatal("the console never listened")
	}
	checkHeaders(t, c.url)

	// No token: the sign-in form and no data.
	b.do("open the console", chromedp.Navigate(c.url+"?poll=300"))
	b.waitJS("the sign-in form", `!document.getElementById("login").hidden`, 10*time.Second)
	if txt := b.text(); strings.Contains(txt, "checkout") || !strings.Contains(txt, "Sign in") {
		t.Fatalf("without a token the page shows:\n%s", txt)
	}
	b.screenshot(dir, "console-signin.png")

	// Keyboard only: the token field has the focus, the skip link comes
	// first in the tab order, the form takes the token and Enter.
	if got := b.eval(`document.activeElement.id + "|" + document.querySelector("a, button, input").textContent`); got != "token|Skip to content" {
		t.Errorf("focus and first focusable: %q, want the token field and the skip link", got)
	}
	if got := b.eval(`document.querySelector("label[for=token]").textContent`); got != "API token" {
		t.Errorf("the token field's label is %q", got)
	}
	b.do("sign in", chromedp.SendKeys(chromedp.ID("token"), c.token+kb.Enter))
	b.waitJS("the targets page", `document.querySelector("#view h1")?.textContent === "Targets" && document.body.innerText.includes("checkout")`, 10*time.Second)

	// The good deploy: baking (with time left), then promoted.
	b.waitJS("version 2 baking", `[...document.querySelectorAll("td.watch-state")].some(td => /baking \d/.test(td.textContent) && td.textContent.includes("left"))`, 40*time.Second)
	b.screenshot(dir, "console-targets-baking.png")
	select {
	case <-betweenActs:
	case <-ctx.Done():
		t.Fatal("the good deploy was never promoted")
	}
	b.waitJS("version 2 promoted", `[...document.querySelectorAll("td.watch-state")].some(td => td.textContent.includes("promoted") && td.textContent.includes("version 2"))`, 10*time.Second)
	b.screenshot(dir, "console-targets-promoted.png")
	close(goodDone)

	// The bad deploy trips; its watch page shows each rule's chart and the explanation.
	b.waitJS("version 3 tripped", `[...document.querySelectorAll("tbody tr")].some(tr => tr.textContent.includes("checkout version 3") && /tripped|rolling back|rolled back/.test(tr.textContent))`, 40*time.Second)
	b.eval(`[...document.querySelectorAll("a")].find(a => a.textContent === "checkout version 3").click(), ""`)
	b.waitJS("the watch's charts and explanation", `document.querySelector("#view h1")?.textContent.includes("version 3")
		&& document.querySelectorAll(".chart svg.evchart").length >= 2
		&& [...document.querySelectorAll(".explain")].some(p => /: observed .* threshold .*e=.* ≥ 1\/α=/.test(p.textContent))
		&& document.querySelector(".chart svg .breach") !== null
		&& document.body.innerText.includes("failing")`, 20*time.Second)
	// Every evaluation's numbers open from the keyboard.
	b.eval(`document.querySelector("details summary").focus(), ""`)
	b.do("open the evaluations with Enter", chromedp.KeyEvent(kb.Enter))
	b.waitJS("the evaluations table", `document.querySelector("details").open && document.querySelectorAll("details tbody tr").length > 0`, 5*time.Second)
	b.eval(`document.querySelector("details").open = false, ""`)
	// The trace canaryd recorded of the watch downloads with the token.
	b.do("fetch the replay trace", chromedp.Click(chromedp.ID("trace")))
	b.waitJS("the trace to save", `/^ \d+ records: canaryd replay --config CONFIG --target checkout --trace FILE$/.test(document.getElementById("trace-note")?.textContent)
		&& document.getElementById("trace-save")?.getAttribute("href")?.startsWith("blob:")
		&& document.getElementById("trace-save")?.getAttribute("download") === "checkout-" + location.hash.split("/").pop() + ".jsonl"`, 10*time.Second)
	shot := b.screenshot(dir, "console-watch.png")
	if os.Getenv("CANARYD_UPDATE_SCREENSHOT") != "" {
		copyFile(t, shot, filepath.Join("..", "docs", "console-watch.png"))
	}
	// Dark mode: the page and the charts follow prefers-color-scheme.
	b.colorScheme("dark")
	b.waitJS("dark colours", `getComputedStyle(document.body).backgroundColor === "rgb(13, 17, 23)"
		&& getComputedStyle(document.querySelector(".evchart .bg")).fill === "rgb(13, 17, 23)"`, 5*time.Second)
	b.screenshot(dir, "console-watch-dark.png")
	b.colorScheme("light")

	// The incident: timeline, plan steps, alerts, the postmortem with its chart.
	b.do("open the incidents", chromedp.Navigate(c.url+"?poll=300#/incidents"))
	b.waitJS("the incident in the list", `[...document.querySelectorAll("a")].some(a => a.textContent === "checkout#1")`, 10*time.Second)
	b.eval(`[...document.querySelectorAll("a")].find(a => a.textContent === "checkout#1").click(), ""`)
	b.waitJS("the incident page with its postmortem", `document.body.innerText.includes("rolled_back")
		&& [...document.querySelectorAll("article.postmortem h3")].some(h => h.textContent === "Triggering rule")
		&& document.querySelector("article.postmortem figure svg.evchart") !== null
		&& [...document.querySelectorAll("td")].some(td => td.textContent.startsWith("lambda"))
		&& document.getElementById("download")?.getAttribute("href")?.startsWith("blob:")
		&& document.getElementById("download")?.hasAttribute("download")`, 30*time.Second)
	b.screenshot(dir, "console-incident.png")

	// Signing out forgets the token and the data.
	b.do("sign out", chromedp.Click(chromedp.ID("signout")))
	b.waitJS("the sign-in form again", `!document.getElementById("login").hidden && document.getElementById("view").childElementCount === 0`, 5*time.Second)
	if stored := b.eval(`sessionStorage.getItem("canaryd.token") || ""`); stored != "" {
		t.Error("the token outlived signing out")
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the browser logged errors:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("screenshots in %s", dir)
}

// checkHeaders: the shell is public and strict; the data is not.
func checkHeaders(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("GET %s: %d, CSP %q", url, resp.StatusCode, csp)
	}
	base := strings.TrimSuffix(url, "/console/")
	for _, path := range []string{"/v1/status", "/v1/watches", "/v1/incidents"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", path, resp.StatusCode)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, data, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
