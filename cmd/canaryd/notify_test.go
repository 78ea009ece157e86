package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/canaryd/canaryd/awssim"
)

// TestNotifyTest: a test alert goes through each notifier for real — a
// webhook, PagerDuty (triggered, then resolved at once), SNS through the
// SDK — and a failing receiver is named with exit 1.
func TestNotifyTest(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{}
	receiver := func(name string, status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got[name] = append(got[name], string(b))
			mu.Unlock()
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	hook, pd, broken := receiver("hook", 200), receiver("pd", 202), receiver("broken", 500)
	sim, _ := awssim.Start(t, awssim.Options{})
	topic := sim.CreateTopic("deploys")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("PD_KEY", "pd-routing-key")
	cfg := fmt.Sprintf(`
[aws]
region = "us-east-1"
endpoint_url = %q
[[notifier]]
name = "hook"
type = "webhook"
url = %q
[[notifier]]
name = "pager"
type = "pagerduty"
routing_key_env = "PD_KEY"
url = %q
[[notifier]]
name = "sns"
type = "sns"
topic_arn = %q
[[notifier]]
name = "broken"
type = "webhook"
url = %q
retries = 0
[[target]]
name = "api"
function = "api"
alias = "live"
notify = ["hook"]
  [[target.rule]]
  name = "r"
  kind = "throttles"
  threshold = 1
`, sim.URL(), hook.URL, pd.URL, topic, broken.URL)
	path := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "notify", "test", "--config", path)
	if code != 1 || !strings.Contains(out, "ok   hook (webhook)") || !strings.Contains(out, "ok   pager (pagerduty)") ||
		!strings.Contains(out, "ok   sns (sns)") || !strings.Contains(out, "FAIL broken (webhook)") || !strings.Contains(errOut, "1 of 4 notifiers failed") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	var ev struct{ Type, Message string }
	if len(got["hook"]) != 1 || json.Unmarshal([]byte(got["hook"][0]), &ev) != nil || ev.Type != "test" || !strings.Contains(ev.Message, "no deploy is affected") {
		t.Errorf("webhook received %v", got["hook"])
	}
	if len(got["pd"]) != 2 || !strings.Contains(got["pd"][0], `"event_action":"trigger"`) || !strings.Contains(got["pd"][1], `"event_action":"resolve"`) {
		t.Errorf("pagerduty received %v; want a trigger and its resolve", got["pd"])
	}
	if msgs := sim.SNSMessages(topic); len(msgs) != 1 {
		t.Errorf("SNS messages %d", len(msgs))
	}
	got = map[string][]string{}
	mu.Unlock()
	code, out, _ = runCLI(t, "notify", "test", "hook", "--config", path)
	mu.Lock()
	if code != 0 || strings.Contains(out, "pager") || len(got["hook"]) != 1 {
		t.Errorf("notify test hook: exit %d\n%s (received %v)", code, out, got)
	}
	if code, _, errOut := runCLI(t, "notify", "test", "nope", "--config", path); code != 2 || !strings.Contains(errOut, "broken, hook, pager, sns") {
		t.Errorf("unknown notifier: exit %d %s", code, errOut)
	}
}
