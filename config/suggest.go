package config

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// unknownKey says a key is unknown and, when one is close, which was meant.
func unknownKey(table *schema, parts []string, bad int) string {
	parent, _ := table.lookup(parts[:bad])
	if s := closest(parts[bad], parent); s != "" {
		return fmt.Sprintf("unknown key; did you mean %q?", s)
	}
	return "unknown key"
}

// unknownTable says a table header is unknown: a target's sub-table
// written at the top level ([[rule]] for [[target.rule]]) gets the header
// it needs, any other a close match.
func unknownTable(kind unstable.Kind, parts []string, bad int) string {
	open, close := "[", "]"
	if kind == unstable.ArrayTable {
		open, close = "[[", "]]"
	}
	header := open + strings.Join(parts, ".") + close
	target := rootSchema().fields["target"]
	if bad == 0 && target != nil {
		if _, ok := target.fields[strings.ToLower(parts[0])]; ok {
			return fmt.Sprintf("unknown table %s; did you mean %starget.%s%s? It belongs to a target: write it after that target's [[target]]",
				header, open, strings.Join(parts, "."), close)
		}
	}
	parent, _ := rootSchema().lookup(parts[:bad])
	if s := closest(parts[bad], parent); s != "" {
		fixed := append(append(append([]string{}, parts[:bad]...), s), parts[bad+1:]...)
		return fmt.Sprintf("unknown table %s; did you mean %s%s%s?", header, open, strings.Join(fixed, "."), close)
	}
	return "unknown table " + header
}

// closest is the key of s nearest to key, if near enough to be a typo.
func closest(key string, s *schema) string {
	if s == nil {
		return ""
	}
	best, bestD := "", len(key)/3+1
	if bestD > 3 {
		bestD = 3
	}
	for _, n := range s.names {
		if d := editDistance(strings.ToLower(key), strings.ToLower(n)); d <= bestD && (best == "" || d < editDistance(strings.ToLower(key), strings.ToLower(best))) {
			best = n
		}
	}
	return best
}

// editDistance is the Levenshtein distance, with a transposition costing 1.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
