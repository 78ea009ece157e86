package policy

import (
	"path/filepath"
	"testing"

	"github.com/canaryd/canaryd/config"
)

// exampleTarget loads testdata/traces/target.toml with config.Load, as
// `canaryd replay --config` does (strict decoding, defaults, validation).
func exampleTarget(t testing.TB) config.Target {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "testdata", "traces", "target.toml"))
	if err != nil {
		t.Fatalf("target.toml: %v", err)
	}
	if len(cfg.Targets) != 1 {
		t.Fatalf("target.toml: %d targets", len(cfg.Targets))
	}
	return cfg.Targets[0]
}
