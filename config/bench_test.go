package config

import (
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
