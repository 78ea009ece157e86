package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions maps key paths such as "target[1].rule[0].threshold" (and
// table headers such as "target[1]") to the line where they are written, so
// that validation errors can name both the key and the line.
type positions struct {
	line   map[string]int
	byLine map[int]string
	// numbers lists keys whose value is a bare number, in file order, to
	// locate "wrong type" errors the decoder reports without a position.
	numbers []numberKey
}

type numberKey struct {
	path, raw string
	line      int
}

// indexPositions indexes data; visit, when not nil, is also shown every
// expression with its key parts, line and resolved table path (one parse
// serves both the index and the unknown-key check).
func indexPositions(data []byte, visit func(e *unstable.Node, parts []string, line int, prefix string)) positions {
	pos := positions{line: map[string]int{}, byLine: map[int]string{}}
	var p unstable.Parser
	p.Reset(data)
	lines := lineStarts(data)
	arrays := map[string]int{} // resolved array-table path -> count so far
	prefix := ""
	for p.NextExpression() {
		e := p.Expression()
		parts, line := keyParts(e, lines)
		switch e.Kind {
		case unstable.Table:
			prefix = resolve(arrays, parts)
			pos.set(prefix, line)
		case unstable.ArrayTable:
			if len(parts) == 0 {
				continue
			}
			base := resolve(arrays, parts[:len(parts)-1])
			name := join(base, parts[len(parts)-1])
			arrays[name]++
			prefix = name + "[" + strconv.Itoa(arrays[name]-1) + "]"
			pos.set(prefix, line)
		case unstable.KeyValue:
			path := join(prefix, strings.Join(parts, "."))
			pos.set(path, line)
			if v := e.Value(); v != nil && (v.Kind == unstable.Integer || v.Kind == unstable.Float) {
				pos.numbers = append(pos.numbers, numberKey{path: path, raw: string(v.Data), line: line})
			}
		}
		if visit != nil {
			visit(e, parts, line, prefix)
		}
	}
	return pos
}

// numberAt finds the first key written as the bare number raw.
func (p positions) numberAt(raw string) (string, int, bool) {
	for _, n := range p.numbers {
		if n.raw == raw {
			return n.path, n.line, true
		}
	}
	return "", 0, false
}

func (p positions) set(path string, line int) {
	p.line[path] = line
	if _, ok := p.byLine[line]; !ok {
		p.byLine[line] = path
	}
}

// lineOf returns the line of path, or of its nearest written parent.
func (p positions) lineOf(path string) int {
	for path != "" {
		if l, ok := p.line[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

// lineStarts returns the offset at which each line begins.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// lineAt is the 1-based line holding offset (a binary search: the parser's
// own Shape rescans the file from the start, quadratic on big configs).
func lineAt(starts []int, offset int) int {
	return sort.Search(len(starts), func(i int) bool { return starts[i] > offset })
}

func keyParts(e *unstable.Node, lines []int) ([]string, int) {
	var parts []string
	line := 0
	it := e.Key()
	for it.Next() {
		n := it.Node()
		if line == 0 && n.Raw.Length > 0 {
			line = lineAt(lines, int(n.Raw.Offset))
		}
		parts = append(parts, string(n.Data))
	}
	return parts, line
}

func resolve(arrays map[string]int, parts []string) string {
	cur := ""
	for _, part := range parts {
		cur = join(cur, part)
		if n := arrays[cur]; n > 0 {
			cur += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return cur
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// written reports whether path was written in the file.
func (p positions) written(path string) bool {
	_, ok := p.line[path]
	return ok
}
