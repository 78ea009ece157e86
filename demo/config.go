package demo

import "fmt"

// demoConfig is the demo's config.toml, loaded through the real loader.
func demoConfig(s *stack) string {
	redis := ""
	if s.cache.addr != "" {
		redis = fmt.Sprintf(`
  [[target.actions.redis]]
  name = "response-cache"
  patterns = [%q]
    [target.actions.redis.conn]
    addrs = [%q]
`, cachePattern, s.cache.addr)
	}
	return fmt.Sprintf(`
[daemon]
listen = "127.0.0.1:0"
poll_interval = "2s"
sweep_cron = "@every 1m"
trace_dir = %q

[aws]
region = "us-east-1"
endpoint_url = %q
max_backoff = "200ms"

[store]
backend = "bolt"

[[notifier]]
name = "oncall"
type = "webhook"
url = %q
timeout = "5s"

[[target]]
name = "checkout"
function = %q
alias = %q
bake_time = "2m"
rollback_window = "30m"
metric_period = "1m"
baseline_window = "20m"
notify = ["oncall"]

  [[target.probe]]
  name = "health"
  url = %q
  interval = "5s"
  timeout = "2s"
  expect_status = [200]
  body_match = '"status":"ok"'

  [[target.rule]]
  name = "health-probe"
  kind = "probe"
  probe = "health"
  consecutive_failures = 3

  [[target.rule]]
  name = "error-rate"
  kind = "error_rate"
  threshold = 0.05
  window = "2m"
  min_invocations = 100

  [[target.actions.cloudfront]]
  distribution = %q
  paths = ["/api/*", "/index.html"]
  wait = "1m"
%s
  [target.actions.verify]
  window = "1m"
`, s.traces, s.simURL, s.hook.srv.URL, function, alias, s.service.url(), distribution, redis)
}
