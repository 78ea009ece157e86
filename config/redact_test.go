package config

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSecretsListsEveryResolvedSecret: every kind of secret reference the
// loader resolves is in Config.Secrets.
func TestSecretsListsEveryResolvedSecret(t *testing.T) {
	dir := t.TempDir()
	hmacFile := filepath.Join(dir, "hmac")
	if err := os.WriteFile(hmacFile, []byte("webhook-hmac-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `
[daemon]
admin_token_env = "TOKEN"
[aws]
region = "us-east-1"
[store]
backend = "redis"
[store.redis]
addrs = ["127.0.0.1:6379"]
password_env = "STORE_PW"
[[notifier]]
name = "pd"
type = "pagerduty"
routing_key_env = "PD_KEY"
[[notifier]]
name = "slack"
type = "slack"
url_env = "SLACK_URL"
[[notifier]]
name = "hook"
type = "webhook"
url = "https://hooks.example/x"
secret_env = "NOTIFY_HMAC"
[[target]]
name = "api"
function = "f"
alias = "a"
  [[target.probe]]
  name = "h"
  url = "https://x.example/health"
  headers_env = { Authorization = "HEALTH_TOKEN" }
  [[target.rule]]
  name = "r"
  kind = "probe"
  probe = "h"
  [[target.actions.redis]]
  name = "c"
  patterns = ["p:*"]
  conn = { addrs = ["127.0.0.1:6379"], password_env = "CACHE_PW" }
  [[target.actions.webhook]]
  name = "w"
  url = "https://bot.example/hook"
  secret_file = "` + hmacFile + `"
`
	env := map[string]string{"TOKEN": "admin-token-1", "STORE_PW": "store-pass-2", "PD_KEY": "pd-key-3",
		"SLACK_URL": "https://hooks.slack.com/services/T/B/slack-4", "NOTIFY_HMAC": "notify-hmac-5",
		"HEALTH_TOKEN": "Bearer health-6", "CACHE_PW": "cache-pass-7"}
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Bearer health-6", "admin-token-1", "cache-pass-7", "https://hooks.slack.com/services/T/B/slack-4",
		"notify-hmac-5", "pd-key-3", "store-pass-2", "webhook-hmac-key"}
	if got := cfg.Secrets(); !reflect.DeepEqual(got, want) {
		t.Errorf("Secrets() = %q\nwant %q", got, want)
	}
}

func TestRedactor(t *testing.T) {
	const tok = `s3cr3t"token<&>/x y`
	jsonForm, _ := json.Marshal(tok)
	r := NewRedactor(tok, "abc", "pass", "password-long")
	cases := []struct {
		name, in, want string
	}{
		{"raw", "env: TOKEN=" + tok + "\n", "env: TOKEN=[redacted]\n"},
		{"json escaped", `{"output":` + string(jsonForm) + `}`, `{"output":"[redacted]"}`},
		{"query escaped", "GET /?t=" + url.QueryEscape(tok), "GET /?t=[redacted]"},
		{"path escaped", "GET /" + url.PathEscape(tok), "GET /[redacted]"},
		{"longest first", "password-long and pass", "[redacted] and [redacted]"},
		{"too short to redact", "abc", "abc"},
		{"nothing to redact", "all clear", "all clear"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	var none *Redactor
	if got := none.Redact(tok); got != tok {
		t.Errorf("nil redactor changed %q to %q", tok, got)
	}
	if got := none.With("more-secret").Redact("x more-secret"); got != "x [redacted]" {
		t.Errorf("nil.With: %q", got)
	}
	if got := r.With("extra-secret").Redact(tok + " extra-secret"); strings.Contains(got, "secret") {
		t.Errorf("With lost or missed a secret: %q", got)
	}
	if r.MaxLen() < len(jsonForm)-2 {
		t.Errorf("MaxLen %d shorter than the JSON form of the token (%d)", r.MaxLen(), len(jsonForm)-2)
	}
}

func TestEnvSecrets(t *testing.T) {
	env := map[string]string{"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI", "AWS_SESSION_TOKEN": "", "HOME": "/root"}
	got := EnvSecrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if !reflect.DeepEqual(got, []string{"wJalrXUtnFEMI"}) {
		t.Errorf("EnvSecrets = %q", got)
	}
}
