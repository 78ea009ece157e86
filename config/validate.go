package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/canaryd/canaryd/event"
	"github.com/robfig/cron/v3"
)

var (
	namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	// CronParser accepts standard 5-field specs and descriptors (@every 5m).
	CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
)

// eventNames are the alert kinds a notifier's `events` may name.
var eventNames = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range event.Alerts {
		m[string(k)] = true
	}
	return m
}()

func (l *loader) validate(c *Config) {
	l.validateDaemon(c)
	l.validateTokens(&c.Daemon)
	l.validateStore(&c.Store)
	l.validateRobust(c)
	l.validateEvents(c)
	for i := range c.Targets {
		l.validateRollout(fmt.Sprintf("target[%d].rollout", i), c.Targets[i].Rollout)
	}
	notifiers := l.validateNotifiers(c)
	if len(c.Targets) == 0 {
		l.add("target", "at least one [[target]] is required")
	}
	names := map[string]string{}
	for i := range c.Targets {
		path := fmt.Sprintf("target[%d]", i)
		t := &c.Targets[i]
		if prev, dup := names[t.Name]; dup && t.Name != "" {
			l.add(path+".name", "duplicate target name %q (also %s)", t.Name, prev)
		}
		names[t.Name] = path
		l.validateTarget(path, t, notifiers)
	}
}

func (l *loader) validateDaemon(c *Config) {
	d := &c.Daemon
	if _, _, err := net.SplitHostPort(d.Listen); err != nil {
		l.add("daemon.listen", "must be host:port: %v", err)
	}
	if (d.TLSCertFile == "") != (d.TLSKeyFile == "") {
		l.add("daemon.tls_cert_file", "tls_cert_file and tls_key_file must be set together")
	}
	switch d.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		l.add("daemon.log_level", "must be one of debug, info, warn, error (got %q)", d.LogLevel)
	}
	l.minDur("daemon.poll_interval", d.PollInterval, time.Second)
	l.minDur("daemon.shutdown_timeout", d.ShutdownTimeout, time.Second)
	if _, err := CronParser.Parse(d.SweepCron); err != nil {
		l.add("daemon.sweep_cron", "invalid cron spec %q: %v", d.SweepCron, err)
	}
	l.intRange("daemon.max_concurrent_aws", d.MaxConcurrentAWS, 1, 1024)
	if d.MaxPollRate <= 0 || d.MaxPollRate > 1000 {
		l.add("daemon.max_poll_rate", "must be in (0, 1000] alias reads per second (got %g)", d.MaxPollRate)
	}
	l.intRange("daemon.trace_keep", d.TraceKeep, 1, 100000)
	l.durWithin("daemon.orphan_sweep", d.OrphanSweep, minOrphanDur, maxOrphanDur)
	l.durWithin("daemon.orphan_age", d.OrphanAge, minOrphanDur, maxOrphanDur)
	l.durWithin("daemon.lost_sweep", d.LostSweep, minOrphanDur, maxOrphanDur)
	if c.AWS.EndpointURL != "" {
		l.url("aws.endpoint_url", c.AWS.EndpointURL)
	}
	l.roleARN("aws.role_arn", c.AWS.RoleARN)
	l.intRange("aws.max_attempts", c.AWS.MaxAttempts, 1, 20)
	if m := c.AWS.RetryMode; m != "adaptive" && m != "standard" {
		l.add("aws.retry_mode", "must be \"adaptive\" or \"standard\" (got %q)", m)
	}
}

func (l *loader) validateStore(s *Store) {
	switch s.Backend {
	case "bolt":
		if s.Path == "" {
			l.add("store.path", "required for the bolt backend")
		}
	case "redis":
		if len(s.Redis.Addrs) == 0 {
			l.add("store.redis.addrs", "required for the redis backend")
		}
	default:
		l.add("store.backend", "must be \"bolt\" or \"redis\" (got %q)", s.Backend)
	}
	l.minDur("store.lease_ttl", s.LeaseTTL, 2*time.Second)
}

func (l *loader) validateNotifiers(c *Config) map[string]bool {
	seen := map[string]bool{}
	for i := range c.Notifiers {
		n := &c.Notifiers[i]
		p := fmt.Sprintf("notifier[%d]", i)
		l.name(p+".name", n.Name)
		if seen[n.Name] {
			l.add(p+".name", "duplicate notifier name %q", n.Name)
		}
		seen[n.Name] = true
		switch n.Type {
		case NotifierPagerDuty:
			if !n.RoutingKey.IsSet() {
				l.add(p, "pagerduty needs routing_key_env or routing_key_file")
			}
			if n.URL != "" {
				l.url(p+".url", n.URL)
			}
		case NotifierSlack:
			if !n.SecretURL.IsSet() {
				l.add(p, "slack needs url_env or url_file (the webhook URL is a secret)")
			}
		case NotifierSNS:
			if !strings.HasPrefix(n.TopicARN, "arn:aws") {
				l.add(p+".topic_arn", "must be an SNS topic ARN (got %q)", n.TopicARN)
			}
		case NotifierWebhook:
			l.url(p+".url", n.URL)
		default:
			l.add(p+".type", "must be one of pagerduty, slack, sns, webhook (got %q)", n.Type)
		}
		l.minDur(p+".timeout", n.Timeout, 100*time.Millisecond)
		l.intRange(p+".retries", n.Retries, 0, 20)
		for _, e := range n.Events {
			if !eventNames[e] {
				l.add(p+".events", "unknown event %q", e)
			}
		}
	}
	return seen
}

func (l *loader) validateTarget(path string, t *Target, notifiers map[string]bool) {
	l.name(path+".name", t.Name)
	l.checkFunction(path+".function", t.Function)
	l.checkAlias(path+".alias", t.Alias)
	if t.Region == "" {
		l.add(path+".region", "required (or set aws.region)")
	}
	l.roleARN(path+".role_arn", t.RoleARN)
	l.minDur(path+".bake_time", t.BakeTime, time.Second)
	if t.RollbackWindow.Duration < 0 {
		l.add(path+".rollback_window", "must not be negative")
	}
	if t.KnownBad != KnownBadRollback && t.KnownBad != KnownBadWatch {
		l.add(path+".known_bad", "must be %q or %q (got %q)", KnownBadRollback, KnownBadWatch, t.KnownBad)
	}
	if p := t.MetricPeriod.Duration; p < time.Minute || p%time.Minute != 0 {
		l.add(path+".metric_period", "must be a whole number of minutes, at least 1m (got %s)", p)
	}
	l.intRange(path+".metric_lag", t.MetricLag, 1, 15) // 0 would read no period
	l.minDur(path+".baseline_window", t.BaselineWindow, t.MetricPeriod.Duration)
	l.durWithin(path+".shape_window", t.ShapeWindow, t.BaselineWindow.Duration, MaxShapeWindow)
	l.durWithin(path+".baseline_horizon", t.BaselineHorizon, 0, 30*24*time.Hour)
	for _, n := range t.Notify {
		if !notifiers[n] {
			l.add(path+".notify", "unknown notifier %q", n)
		}
	}
	probes := map[string]bool{}
	for i := range t.Probes {
		p := &t.Probes[i]
		pp := fmt.Sprintf("%s.probe[%d]", path, i)
		l.name(pp+".name", p.Name)
		if probes[p.Name] {
			l.add(pp+".name", "duplicate probe name %q", p.Name)
		}
		probes[p.Name] = true
		l.validateProbe(pp, p)
	}
	if len(t.Rules) == 0 {
		l.add(path, "at least one [[target.rule]] is required")
	}
	rules := map[string]bool{}
	for i := range t.Rules {
		r := &t.Rules[i]
		rp := fmt.Sprintf("%s.rule[%d]", path, i)
		l.name(rp+".name", r.Name)
		if rules[r.Name] {
			l.add(rp+".name", "duplicate rule name %q", r.Name)
		}
		rules[r.Name] = true
		l.validateRule(rp, r, probes, t.MetricPeriod.Duration)
		l.warnRule(rp, r)
	}
	l.validateActions(path+".actions", &t.Actions)
	l.validateCodeDeploy(path+".codedeploy", t)
}

// validateCodeDeploy checks a target's [target.codedeploy]: CodeDeploy
// names are 1 to 100 characters.
func (l *loader) validateCodeDeploy(path string, t *Target) {
	cd := t.CodeDeploy
	if cd == nil {
		return
	}
	for _, f := range []struct{ key, v string }{{"application", cd.Application}, {"deployment_group", cd.DeploymentGroup}} {
		switch {
		case strings.TrimSpace(f.v) == "":
			l.add(path+"."+f.key, "required")
		case len(f.v) > 100:
			l.add(path+"."+f.key, "must be at most 100 characters (got %d)", len(f.v))
		}
	}
	if t.Rollout != nil {
		l.warn(path, "this target also has a [target.rollout]: canaryd deploy and CodeDeploy would both shift the alias")
	}
}

func (l *loader) validateProbe(p string, pr *Probe) {
	if u, err := url.Parse(pr.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.add(p+".url", "must be an absolute http(s) URL (got %q)", pr.URL)
	}
	switch pr.Method {
	case "GET", "HEAD", "POST", "PUT", "OPTIONS":
	default:
		l.add(p+".method", "must be GET, HEAD, POST, PUT or OPTIONS (got %q)", pr.Method)
	}
	l.minDur(p+".timeout", pr.Timeout, 10*time.Millisecond)
	l.minDur(p+".interval", pr.Interval, 100*time.Millisecond)
	if pr.Timeout.Duration > pr.Interval.Duration {
		l.add(p+".timeout", "must not exceed interval (%s > %s)", pr.Timeout, pr.Interval)
	}
	for _, s := range pr.ExpectStatus {
		if s < 100 || s > 599 {
			l.add(p+".expect_status", "%d is not an HTTP status", s)
		}
	}
	if pr.BodyMatch != "" {
		if _, err := regexp.Compile(pr.BodyMatch); err != nil {
			l.add(p+".body_match", "invalid regexp: %v", err)
		}
	}
	if pr.MaxBodyBytes < 0 || pr.MaxBodyBytes > 16<<20 {
		l.add(p+".max_body_bytes", "must be between 1 and 16777216 (got %d)", pr.MaxBodyBytes)
	}
	l.intRange(p+".max_redirects", pr.MaxRedirects, 0, 10)
}

func (l *loader) validateRule(p string, r *Rule, probes map[string]bool, period time.Duration) {
	for _, err := range CheckRule(*r, probes, period) {
		path := p
		var fe *FieldError
		if errors.As(err, &fe) && fe.Field != "" {
			path += "." + fe.Field
		}
		msg := err.Error()
		if fe != nil {
			msg = fe.Msg
		}
		l.add(path, "%s", msg)
	}
}

func (l *loader) validateActions(p string, a *Actions) {
	for i, cf := range a.CloudFront {
		cp := fmt.Sprintf("%s.cloudfront[%d]", p, i)
		l.required(cp+".distribution", cf.Distribution)
		if len(cf.Paths) == 0 {
			l.add(cp+".paths", "at least one path is required")
		}
		for _, path := range cf.Paths {
			if !strings.HasPrefix(path, "/") {
				l.add(cp+".paths", "path %q must start with /", path)
			}
		}
	}
	for i, r := range a.Redis {
		rp := fmt.Sprintf("%s.redis[%d]", p, i)
		l.name(rp+".name", r.Name)
		if len(r.Conn.Addrs) == 0 {
			l.add(rp+".conn.addrs", "at least one address is required")
		}
		if len(r.Patterns) == 0 && !r.FlushDB {
			l.add(rp+".patterns", "at least one key pattern is required (or flush_db = true)")
		}
		l.intRange(rp+".batch_size", r.BatchSize, 1, 10_000)
	}
	for i, w := range a.Webhooks {
		wp := fmt.Sprintf("%s.webhook[%d]", p, i)
		l.name(wp+".name", w.Name)
		l.url(wp+".url", w.URL)
		l.minDur(wp+".timeout", w.Timeout, 100*time.Millisecond)
		l.intRange(wp+".retries", w.Retries, 0, 20)
	}
	for i, e := range a.Exec {
		ep := fmt.Sprintf("%s.exec[%d]", p, i)
		l.name(ep+".name", e.Name)
		if len(e.Argv) == 0 || e.Argv[0] == "" {
			l.add(ep+".argv", "must name a command (argv, not a shell string)")
		}
		l.minDur(ep+".timeout", e.Timeout, 100*time.Millisecond)
	}
	if a.Verify.Window.Duration < 0 {
		l.add(p+".verify.window", "must not be negative")
	}
}

func (l *loader) required(path, v string) {
	if strings.TrimSpace(v) == "" {
		l.add(path, "required")
	}
}

func (l *loader) name(path, v string) {
	if v == "" {
		l.add(path, "required")
	} else if !namePattern.MatchString(v) {
		l.add(path, "%q must be lower-case letters, digits, - or _ (at most 63)", v)
	}
}

func (l *loader) minDur(path string, d Duration, min time.Duration) {
	if d.Duration < min {
		l.add(path, "must be at least %s (got %s)", min, d.Duration)
	}
}

func (l *loader) intRange(path string, v, lo, hi int) {
	if v < lo || v > hi {
		l.add(path, "must be between %s and %s (got %d)", strconv.Itoa(lo), strconv.Itoa(hi), v)
	}
}

func (l *loader) url(path, v string) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		l.add(path, "must be an absolute http(s) URL")
	}
}

func (l *loader) roleARN(path, v string) {
	if v != "" && !strings.HasPrefix(v, "arn:aws") {
		l.add(path, "must be an IAM role ARN (got %q)", v)
	}
}
