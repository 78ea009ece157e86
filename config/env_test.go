package config

import (
	"strings"
	"testing"
)

func TestEnvironmentOverridesDeploySettings(t *testing.T) {
	env := map[string]string{EnvListen: "0.0.0.0:9090", EnvRedisAddrs: "r1:6379, r2:6379", EnvRedisTLS: "true", EnvRedisPassword: "s3cret-pass"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := Parse(mustRead(t, "testdata/valid-minimal.toml"), "c.toml", Options{LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Store
	if cfg.Daemon.Listen != "0.0.0.0:9090" || s.Backend != "redis" || strings.Join(s.Redis.Addrs, "|") != "r1:6379|r2:6379" ||
		!s.Redis.TLS || s.Redis.Password.Value() != "s3cret-pass" {
		t.Fatalf("overrides not applied: listen %q store %+v", cfg.Daemon.Listen, s)
	}
	env[EnvRedisTLS] = "maybe"
	_, err = Parse(mustRead(t, "testdata/valid-minimal.toml"), "c.toml", Options{LookupEnv: lookup})
	if err == nil || !strings.Contains(err.Error(), "CANARYD_REDIS_TLS must be true or false") {
		t.Fatalf("bad CANARYD_REDIS_TLS: %v", err)
	}
	cfg, err = Parse(mustRead(t, "testdata/valid-minimal.toml"), "c.toml", Options{LookupEnv: noEnv})
	if err != nil || cfg.Daemon.Listen != DefaultListen || cfg.Store.Backend != "bolt" {
		t.Fatalf("without the environment: %v %q %q", err, cfg.Daemon.Listen, cfg.Store.Backend)
	}
}
