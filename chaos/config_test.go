package chaos

import (
	"os"
	"strings"
	"testing"
	"text/template"
)

// aliasName is every protected function's alias.
const aliasName = "live"

// Short durations on the real clock: a deploy is judged within seconds, a
// rollback takes two or three, a dead replica's targets move within the
// lease TTL.
var configTemplate = template.Must(template.New("config").Funcs(template.FuncMap{"upper": strings.ToUpper}).Parse(`
[daemon]
listen = "{{.Listen}}"
admin_token_file = "{{.TokenFile}}"
poll_interval = "1s"
log_level = "debug"
shutdown_timeout = "5s"
replica_id = "{{.ID}}"{{if .OrphanSweep}}
orphan_sweep = "{{.OrphanSweep}}"{{end}}{{if .OrphanAge}}
orphan_age = "{{.OrphanAge}}"{{end}}{{if .LostSweep}}
lost_sweep = "{{.LostSweep}}"{{end}}

[aws]
region = "us-east-1"
endpoint_url = "{{.SimURL}}"
max_backoff = "50ms"
retry_mode = "{{.RetryMode}}"
read_timeout = "{{.ReadTimeout}}"
action_timeout = "{{.ActionTimeout}}"

[store]
backend = "{{.Backend}}"
path = "{{.BoltPath}}"
lease_ttl = "3s"
  [store.redis]
  addrs = [{{range $i, $a := .StoreAddrs}}{{if $i}}, {{end}}"{{$a}}"{{end}}]
  password_env = "CHAOS_STORE_PASSWORD"{{if .MasterName}}
  master_name = "{{.MasterName}}"{{end}}{{if .Cluster}}
  cluster = true{{end}}

[[notifier]]
name = "oncall"
type = "webhook"
url = "{{.AlertURL}}"
secret_env = "CHAOS_ALERT_SECRET"
timeout = "2s"
retries = 3
{{range .Functions}}
[[target]]
name = "{{.}}"
function = "{{.}}"
alias = "live"
bake_time = "3s"
notify = ["oncall"]

  [[target.probe]]
  name = "health"
  url = "{{$.HealthURL}}/{{.}}"
  interval = "500ms"
  timeout = "400ms"
  headers_env = { "X-Probe-Token" = "CHAOS_PROBE_TOKEN" }

  [[target.rule]]
  name = "health-probe"
  kind = "probe"
  probe = "health"
  consecutive_failures = 3

{{if $.RetryFor}}
  [target.actions]
  retry_for = "{{$.RetryFor}}"
{{end}}
  [[target.actions.cloudfront]]
  distribution = "E{{upper .}}"
  paths = ["/*"]

  [[target.actions.redis]]
  name = "pages"
  patterns = ["{{.}}:page:*"]
    [target.actions.redis.conn]
    addrs = ["{{$.CacheAddr}}"]

  [[target.actions.webhook]]
  name = "incident-tool"
  url = "{{$.HookURL}}"
  secret_env = "CHAOS_HOOK_SECRET"
  timeout = "2s"

  [[target.actions.exec]]
  name = "env"
  argv = ["/usr/bin/env"]
  timeout = "2s"

  [target.actions.verify]
  window = "3s"
{{if $.Rollout}}{{$.Rollout}}{{end}}{{end}}`))

// planSteps is how many steps the template's rollback plan has: alias,
// CloudFront, Redis, webhook, exec, verify.
const planSteps = 6

// configData fills configTemplate for one replica.
type configData struct {
	ID, Listen, TokenFile                   string
	SimURL, RetryMode                       string
	ReadTimeout, ActionTimeout              string
	Backend, BoltPath, MasterName           string
	StoreAddrs                              []string
	Cluster                                 bool
	AlertURL, HealthURL, HookURL, CacheAddr string
	Functions                               []string
	Rollout                                 string // the targets' [target.rollout] table, if any
	RetryFor                                string // the targets' actions.retry_for ("": the default)
	OrphanSweep                             string // daemon.orphan_sweep, a test-only key ("": the default, 5m)
	OrphanAge                               string // daemon.orphan_age, a test-only key ("": the default, 1m)
	LostSweep                               string // daemon.lost_sweep, a test-only key ("": the default, 1m)
}

func writeConfig(t testing.TB, path string, d configData) {
	t.Helper()
	var b strings.Builder
	if err := configTemplate.Execute(&b, d); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}
