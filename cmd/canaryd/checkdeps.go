package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/notify"
	"github.com/canaryd/canaryd/store/backend"
)

// Checks of what a rollback needs besides AWS: the Redis caches it
// clears, the probes that verify it, its hooks, and whom it pages.

// depsTimeout bounds each dependency check.
const depsTimeout = 5 * time.Second

// maxScanKeys bounds the keys a Redis check walks to count matches.
const maxScanKeys = 1_000_000

func checkDeps(ctx context.Context, r *checkReport, t config.Target) {
	for _, p := range t.Probes {
		r.add(checkProbe(ctx, t.Name, p))
	}
	for _, a := range t.Actions.Redis {
		r.add(checkRedis(ctx, t.Name, a))
	}
	for _, h := range t.Actions.Exec {
		r.add(checkExec(t.Name, h))
	}
	for _, h := range t.Actions.Webhooks {
		r.add(checkReachable(ctx, t.Name, "webhook "+h.Name, h.URL, "not called: a call would run the hook"))
	}
}

// checkProbe sends the probe once, as the watcher would.
func checkProbe(ctx context.Context, scope string, p config.Probe) checkLine {
	what := "probe " + p.Name
	ctx, cancel := context.WithTimeout(ctx, p.Timeout.Duration)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, nil)
	if err != nil {
		return checkLine{checkFail, scope, what, err.Error()}
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range p.SecretHeaders {
		req.Header.Set(k, v.Value())
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return checkLine{checkFail, scope, what, fmt.Sprintf("%s %s unreachable: %v", p.Method, p.URL, err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, p.MaxBodyBytes))
	resp.Body.Close()
	detail := fmt.Sprintf("%s %s answered %d in %dms", p.Method, p.URL, resp.StatusCode, time.Since(start).Milliseconds())
	if !expected(p.ExpectStatus, resp.StatusCode) {
		return checkLine{checkWarn, scope, what, detail + ": not an expected status (the service is unhealthy now, or expect_status is wrong)"}
	}
	return checkLine{checkOK, scope, what, detail}
}

func expected(codes []int, status int) bool {
	if len(codes) == 0 {
		return status >= 200 && status < 300
	}
	return slices.Contains(codes, status)
}

// checkRedis pings the cache and counts the keys its patterns match.
func checkRedis(ctx context.Context, scope string, a config.RedisAction) checkLine {
	what := "redis " + a.Name
	ctx, cancel := context.WithTimeout(ctx, depsTimeout)
	defer cancel()
	c := backend.RedisClient(a.Conn)
	defer c.Close()
	where := strings.Join(a.Conn.Addrs, ",")
	if err := c.Ping(ctx).Err(); err != nil {
		return checkLine{checkFail, scope, what, fmt.Sprintf("%s unreachable: %v", where, err)}
	}
	if a.FlushDB {
		n, err := c.DBSize(ctx).Result()
		if err != nil {
			return checkLine{checkFail, scope, what, fmt.Sprintf("%s: DBSIZE: %v", where, err)}
		}
		return checkLine{checkOK, scope, what, fmt.Sprintf("%s reachable; flush_db would remove %d keys of db %d", where, n, a.Conn.DB)}
	}
	counts := make([]string, 0, len(a.Patterns))
	for _, p := range a.Patterns {
		n, complete, err := countKeys(ctx, c, p, a.BatchSize)
		if err != nil {
			return checkLine{checkFail, scope, what, fmt.Sprintf("%s: SCAN %s: %v", where, p, err)}
		}
		more := ""
		if !complete {
			more = "+"
		}
		counts = append(counts, fmt.Sprintf("%d%s keys match %s", n, more, p))
	}
	return checkLine{checkOK, scope, what, where + " reachable; " + strings.Join(counts, ", ")}
}

// countKeys counts the keys matching pattern with SCAN, on every master of
// a cluster; complete is false when it stopped at maxScanKeys or the
// deadline.
func countKeys(ctx context.Context, c redis.UniversalClient, pattern string, batch int) (int, bool, error) {
	count := func(ctx context.Context, node redis.Cmdable, total *int, complete *bool) error {
		var cursor uint64
		for scanned := 0; ; scanned += batch {
			keys, next, err := node.Scan(ctx, cursor, pattern, int64(batch)).Result()
			if err != nil {
				return err
			}
			*total += len(keys)
			if cursor = next; cursor == 0 {
				return nil
			}
			if scanned > maxScanKeys || ctx.Err() != nil {
				*complete = false
				return nil
			}
		}
	}
	total, complete := 0, true
	if cc, ok := c.(*redis.ClusterClient); ok {
		err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return count(ctx, n, &total, &complete) })
		return total, complete, err
	}
	err := count(ctx, c, &total, &complete)
	return total, complete, err
}

// checkExec finds an exec hook's program as the actuator will run it.
func checkExec(scope string, h config.ExecHook) checkLine {
	what := "exec " + h.Name
	bad := checkWarn
	if h.Critical {
		bad = checkFail
	}
	prog := h.Argv[0]
	path, err := exec.LookPath(prog)
	if err != nil {
		return checkLine{bad, scope, what, fmt.Sprintf("%s: %v", prog, unwrapExec(err))}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return checkLine{bad, scope, what, err.Error()}
	}
	return checkLine{checkOK, scope, what, fmt.Sprintf("%s is an executable file (%s)", path, fi.Mode().Perm())}
}

func unwrapExec(err error) error {
	if ee, ok := err.(*exec.Error); ok {
		return ee.Err
	}
	return err
}

// checkReachable resolves and connects to a URL's host without sending
// anything: a request would be an alert, or run a hook.
func checkReachable(ctx context.Context, scope, what, raw, note string) checkLine {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return checkLine{checkFail, scope, what, "not an absolute URL"}
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	ctx, cancel := context.WithTimeout(ctx, depsTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return checkLine{checkFail, scope, what, fmt.Sprintf("%s unreachable: %v", addr, err)}
	}
	conn.Close()
	return checkLine{checkOK, scope, what, fmt.Sprintf("%s accepts connections (%s)", addr, note)}
}

// checkNotifiers proves each notifier can be reached without alerting
// anyone; delivery itself is `canaryd notify test`'s job.
func checkNotifiers(ctx context.Context, r *checkReport, cfg *config.Config) {
	for _, n := range cfg.Notifiers {
		scope := "notifier " + n.Name
		send := "not sent: `canaryd notify test " + n.Name + "` sends a test alert"
		switch n.Type {
		case config.NotifierSNS:
			r.add(checkLine{checkUnproved, scope, "sns:Publish", n.TopicARN + ": no SNS call proves it without publishing; " + send})
		case config.NotifierPagerDuty:
			u := n.URL
			if u == "" {
				u = notify.DefaultPagerDutyURL
			}
			r.add(checkReachable(ctx, scope, "pagerduty", u, send))
		case config.NotifierSlack:
			r.add(checkReachable(ctx, scope, "slack", n.SecretURL.Value(), send))
		case config.NotifierWebhook:
			r.add(checkReachable(ctx, scope, "webhook", n.URL, send))
		}
	}
}
