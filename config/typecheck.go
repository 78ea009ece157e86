package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2/unstable"
)

// The type check runs with the unknown-key walk, before decoding: every
// value of the wrong type, and every bad duration, is a problem in words a
// user reads ("must be a number: write 0.05 for 5%"), all of them at once.
// The key-value holding each is then blanked out of the document, so that
// the decoder — which stops at its first type error — decodes the rest and
// validation reports everything else too.

var durationType = reflect.TypeFor[Duration]()

// checkType checks value v of the key at path against Go type t.
func (l *loader) checkType(path string, line int, t reflect.Type, v *unstable.Node) {
	if t == nil || v == nil {
		return
	}
	msg := typeProblem(t, v)
	if msg == "" {
		return
	}
	l.problems = append(l.problems, Problem{Path: path, Line: line, Msg: msg})
	if l.typeBad == nil {
		l.typeBad = map[string]bool{}
	}
	l.typeBad[path] = true
	if l.expr != nil {
		l.blank = append(l.blank, l.expr.Raw)
	}
}

// typeProblem says what is wrong with v as a t, or "".
func typeProblem(t reflect.Type, v *unstable.Node) string {
	for t.Kind() == reflect.Pointer { // an optional value (*bool, *Rollout) has its element's type
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return durationProblem(v)
	case t == reflect.TypeFor[RedisConn]() && v.Kind != unstable.InlineTable:
		return fmt.Sprintf("must be a table such as { addrs = [\"redis.internal:6379\"], tls = true, password_env = \"REDIS_PASSWORD\" }, not %s (a Redis URL is not accepted)", describe(v))
	}
	switch t.Kind() {
	case reflect.String:
		if v.Kind != unstable.String {
			return "must be a string, not " + describe(v)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if v.Kind != unstable.Integer {
			return "must be a whole number, not " + describe(v)
		}
	case reflect.Float64:
		if v.Kind == unstable.String && strings.HasSuffix(strings.TrimSpace(string(v.Data)), "%") {
			return fmt.Sprintf("must be a number, not %s: write a fraction (0.05 for 5%%)", describe(v))
		}
		if v.Kind != unstable.Integer && v.Kind != unstable.Float {
			return "must be a number, not " + describe(v)
		}
	case reflect.Bool:
		if v.Kind != unstable.Bool {
			return "must be true or false, not " + describe(v)
		}
	case reflect.Slice:
		return sliceProblem(t, v)
	case reflect.Map:
		if v.Kind != unstable.InlineTable {
			return "must be a table such as { Name = \"value\" }, not " + describe(v)
		}
		return mapProblem(t, v)
	case reflect.Struct:
		if v.Kind != unstable.InlineTable {
			return "must be a table ([section] or { key = value }), not " + describe(v)
		}
	}
	return ""
}

func durationProblem(v *unstable.Node) string {
	switch v.Kind {
	case unstable.String:
		if _, err := time.ParseDuration(string(v.Data)); err != nil {
			return fmt.Sprintf("invalid duration %q: write a string such as \"30s\" or \"5m\"", v.Data)
		}
		return ""
	case unstable.Integer, unstable.Float:
		return fmt.Sprintf("must be a duration string such as \"30s\" (got the number %s)", v.Data)
	}
	return "must be a duration string such as \"30s\", not " + describe(v)
}

func sliceProblem(t reflect.Type, v *unstable.Node) string {
	if v.Kind != unstable.Array {
		return "must be a list such as [\"a\", \"b\"], not " + describe(v)
	}
	it := v.Children()
	for i := 0; it.Next(); i++ {
		if msg := typeProblem(t.Elem(), it.Node()); msg != "" {
			return fmt.Sprintf("item %d %s", i, msg)
		}
	}
	return ""
}

func mapProblem(t reflect.Type, v *unstable.Node) string {
	it := v.Children()
	for it.Next() {
		kv := it.Node()
		if kv.Kind != unstable.KeyValue {
			continue
		}
		if msg := typeProblem(t.Elem(), kv.Value()); msg != "" {
			return "each value " + msg
		}
	}
	return ""
}

// describe names a TOML value for a message.
func describe(v *unstable.Node) string {
	switch v.Kind {
	case unstable.String:
		return fmt.Sprintf("the string %q", v.Data)
	case unstable.Integer, unstable.Float:
		return "the number " + string(v.Data)
	case unstable.Bool:
		return string(v.Data)
	case unstable.Array:
		return "a list"
	case unstable.InlineTable:
		return "a table"
	}
	return "a date or time"
}

// blanked returns data with the key-values that failed the type check
// replaced by spaces (newlines kept, so every line number stays true).
func (l *loader) blanked(data []byte) []byte {
	if len(l.blank) == 0 {
		return data
	}
	out := append([]byte(nil), data...)
	for _, r := range l.blank {
		for i := int(r.Offset); i < int(r.Offset+r.Length) && i < len(out); i++ {
			if out[i] != '\n' {
				out[i] = ' '
			}
		}
	}
	return out
}

// dropFollowOns removes problems that only echo a type problem: the value
// was blanked, so validation saw it missing or zero.
func (l *loader) dropFollowOns(from int) {
	if len(l.typeBad) == 0 {
		return
	}
	kept := l.problems[:from]
	for _, p := range l.problems[from:] {
		if !l.underTypeProblem(p.Path) {
			kept = append(kept, p)
		}
	}
	l.problems = kept
}

// underTypeProblem reports whether path, or a table holding it, was
// blanked.
func (l *loader) underTypeProblem(path string) bool {
	for path != "" {
		if l.typeBad[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return false
		}
		path = path[:i]
	}
	return false
}
