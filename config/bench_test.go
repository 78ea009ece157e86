package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse10kTargets: loading (and SIGHUP-reloading) a config of
// 10,000 targets must stay linear; the key->line index once rescanned the
// file for every key and took minutes at this size.
func BenchmarkParse10kTargets(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("[aws]\nregion = \"us-east-1\"\n")
	for i := 0; i < 10_000; i++ {
		fmt.Fprintf(&sb, "[[target]]\nname = \"t%d\"\nfunction = \"f\"\nalias = \"a\"\n  [[target.rule]]\n  name = \"r\"\n  kind = \"throttles\"\n  threshold = 1\n", i)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(data, "big.toml", Options{LookupEnv: noEnv}); err != nil {
			b.Fatal(err)
		}
	}
}

// unknownKeysConfig is a config of n targets, each with one misspelt key.
func unknownKeysConfig(n int) []byte {
	var sb strings.Builder
	sb.WriteString("[aws]\nregion = \"us-east-1\"\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "[[target]]\nname = \"t%d\"\nfunction = \"f\"\nalias = \"a\"\nbake_tme = \"5m\"\n  [[target.rule]]\n  name = \"r\"\n  kind = \"throttles\"\n  threshold = 1\n", i)
	}
	return []byte(sb.String())
}

// BenchmarkUnknownKeys8000: reporting 8,000 unknown keys must stay linear
// in the file size (the decoder's own strict mode rescans the file for
// every unknown key).
func BenchmarkUnknownKeys8000(b *testing.B) {
	data := unknownKeysConfig(8000)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := Parse(data, "typos.toml", Options{LookupEnv: noEnv})
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 8000 {
			b.Fatalf("want 8000 problems, got %v", err)
		}
	}
}
