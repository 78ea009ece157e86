package config

import (
	"fmt"
	"sort"
	"strings"
)

// resolveSecrets reads every *_env / *_file reference. A reference that
// does not resolve is a problem naming the key; the value is never printed.
func (l *loader) resolveSecrets(c *Config) {
	d := &c.Daemon
	d.AdminToken = l.secret("daemon", "admin_token", d.AdminTokenEnv, d.AdminTokenFile)
	l.resolveTokens(d)
	l.redisSecret("store.redis", &c.Store.Redis)
	for i := range c.Notifiers {
		n := &c.Notifiers[i]
		p := fmt.Sprintf("notifier[%d]", i)
		n.RoutingKey = l.secret(p, "routing_key", n.RoutingKeyEnv, n.RoutingKeyFile)
		n.SecretURL = l.secret(p, "url", n.URLEnv, n.URLFile)
		n.Secret = l.secret(p, "secret", n.SecretEnv, n.SecretFile)
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		tp := fmt.Sprintf("target[%d]", i)
		for j := range t.Probes {
			l.probeHeaders(fmt.Sprintf("%s.probe[%d]", tp, j), &t.Probes[j])
		}
		for j := range t.Actions.Redis {
			l.redisSecret(fmt.Sprintf("%s.actions.redis[%d].conn", tp, j), &t.Actions.Redis[j].Conn)
		}
		for j := range t.Actions.Webhooks {
			w := &t.Actions.Webhooks[j]
			w.Secret = l.secret(fmt.Sprintf("%s.actions.webhook[%d]", tp, j), "secret", w.SecretEnv, w.SecretFile)
		}
		if r := t.Rollout; r != nil {
			for name, h := range map[string]*TrafficHook{"pre_traffic": r.PreTraffic, "post_traffic": r.PostTraffic} {
				if h != nil && h.Webhook != nil {
					h.Webhook.Secret = l.secret(tp+".rollout."+name+".webhook", "secret", h.Webhook.SecretEnv, h.Webhook.SecretFile)
				}
			}
		}
	}
}

func (l *loader) redisSecret(path string, r *RedisConn) {
	r.Password = l.secret(path, "password", r.PasswordEnv, r.PasswordFile)
}

func (l *loader) probeHeaders(path string, p *Probe) {
	if len(p.HeadersEnv) == 0 && len(p.HeadersFile) == 0 {
		return
	}
	p.SecretHeaders = map[string]Secret{}
	for _, h := range sortedKeys(p.HeadersEnv) {
		p.SecretHeaders[h] = l.secret(path, "headers_env."+h, p.HeadersEnv[h], "")
	}
	for _, h := range sortedKeys(p.HeadersFile) {
		if _, dup := p.SecretHeaders[h]; dup {
			l.add(path+".headers_file."+h, "header %q is also set in headers_env", h)
			continue
		}
		p.SecretHeaders[h] = l.secret(path, "headers_file."+h, "", p.HeadersFile[h])
	}
}

// secret resolves name_env or name_file under path. Both set is a problem;
// neither set yields an empty Secret (validation decides if it is required).
func (l *loader) secret(path, name, env, file string) Secret {
	envKey, fileKey := join(path, name+"_env"), join(path, name+"_file")
	if strings.HasPrefix(name, "headers_") {
		envKey, fileKey = join(path, name), join(path, name)
	}
	switch {
	case env != "" && file != "":
		l.add(envKey, "at most one of %s_env and %s_file may be set", name, name)
	case env != "":
		v, ok := l.opts.LookupEnv(env)
		if !ok || v == "" {
			l.add(envKey, "environment variable %s is not set or empty", env)
			return Secret{}
		}
		return Secret{value: v}
	case file != "":
		b, err := l.opts.ReadFile(file)
		if err == nil && len(b) > MaxSecretBytes {
			err = tooLarge(file, MaxSecretBytes)
		}
		if err != nil {
			l.add(fileKey, "cannot read secret file: %v", err)
			return Secret{}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			l.add(fileKey, "secret file %s is empty", file)
		}
		return Secret{value: v}
	}
	return Secret{}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
