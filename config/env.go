package config

import (
	"strconv"
	"strings"
)

// Deploy-time settings the environment may override, so one config.toml
// serves a laptop, a VM and a container: the admin listener (a container
// listens on 0.0.0.0) and the Redis store the platform created (ECS task
// definitions set these; see deploy/terraform).
const (
	EnvListen        = "CANARYD_LISTEN"         // daemon.listen
	EnvRedisAddrs    = "CANARYD_REDIS_ADDRS"    // store.redis.addrs, comma-separated; also sets store.backend = "redis"
	EnvRedisTLS      = "CANARYD_REDIS_TLS"      // store.redis.tls (true/false)
	EnvRedisPassword = "CANARYD_REDIS_PASSWORD" // store.redis.password, when the file names no password_env/_file
)

// applyEnv applies the environment overrides, before defaults. A malformed
// value is a problem naming the variable.
func (l *loader) applyEnv(c *Config) {
	get := func(k string) (string, bool) {
		v, ok := l.opts.LookupEnv(k)
		return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
	}
	if v, ok := get(EnvListen); ok {
		c.Daemon.Listen = v
	}
	if v, ok := get(EnvRedisAddrs); ok {
		c.Store.Backend = "redis"
		c.Store.Redis.Addrs = nil
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.Store.Redis.Addrs = append(c.Store.Redis.Addrs, a)
			}
		}
	}
	if v, ok := get(EnvRedisTLS); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.add("store.redis.tls", "$%s must be true or false (got %q)", EnvRedisTLS, v)
		}
		c.Store.Redis.TLS = b
	}
	if _, ok := get(EnvRedisPassword); ok && c.Store.Redis.PasswordEnv == "" && c.Store.Redis.PasswordFile == "" {
		c.Store.Redis.PasswordEnv = EnvRedisPassword
	}
}
