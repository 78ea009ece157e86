package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// fmtAll renders a config every way a log line might (%v, %+v, %#v, JSON).
func fmtAll(c *Config) string {
	j, _ := json.Marshal(c)
	return fmt.Sprintf("%v %+v %#v %s", c, c, c, j)
}

// FuzzParse checks that no input makes the loader panic, and that every
// rejection is a *Error with at least one problem.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.toml")
	files = append(files, "../config.toml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.toml", Options{LookupEnv: noEnv, ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist }})
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
		if e, ok := err.(*Error); ok && len(e.Problems) == 0 {
			t.Fatal("config error with no problems")
		}
	})
}
