package policy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/canaryd/canaryd/config"
)

// exampleTarget decodes testdata/traces/target.toml strictly into the
// config types (config.Load would also apply defaults and validate; Compile
// assumes the same defaults for zero values).
func exampleTarget(t testing.TB) config.Target {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tracesDir, "target.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg config.Config
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("target.toml: %v", err)
	}
	if len(cfg.Targets) != 1 {
		t.Fatalf("target.toml: %d targets", len(cfg.Targets))
	}
	return cfg.Targets[0]
}

func replayFile(t *testing.T, name string, opts ReplayOptions) ReplayResult {
	t.Helper()
	f, err := os.Open(filepath.Join(tracesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Replay(context.Background(), f, exampleTarget(t), opts)
	if err != nil {
		t.Fatalf("replay %s: %v", name, err)
	}
	return res
}

func TestReplayExampleTraces(t *testing.T) {
	for _, tc := range exampleTraces {
		t.Run(tc.file, func(t *testing.T) {
			res := replayFile(t, tc.file, ReplayOptions{})
			var out strings.Builder
			res.WriteTimeline(&out)
			t.Log("\n" + out.String())
			if res.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s", res.Outcome, tc.want)
			}
		})
	}
}
