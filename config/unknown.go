package config

// Unknown keys are found here rather than by the decoder's strict mode:
// go-toml builds each strict error with a scan of the whole document (its
// position and a context snippet), so reporting n unknown keys in a file
// of size s took O(n·s) — 21 s for 8,000 typos in an 8,000-target file.
// This walk is one pass over the parsed expressions against a schema taken
// once from the Config type.

import (
	"encoding"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2/unstable"
)

// schema is the set of keys a TOML table may hold, from a Go type. A nil
// *schema is a leaf (a scalar, a TextUnmarshaler, a list of scalars): keys
// below it are the decoder's business (a type error), not unknown keys.
type schema struct {
	fields map[string]*schema      // by lower-cased toml name (the decoder folds case)
	types  map[string]reflect.Type // the Go type of each field, for the type check
	names  []string                // the toml names, for "did you mean"
	open   bool                    // a map: every key is allowed
	elem   *schema                 // open: the schema of each value
	elemT  reflect.Type            // open: the Go type of each value
}

var (
	configSchemaOnce sync.Once
	configSchema     *schema
)

// rootSchema is the schema of Config, built once.
func rootSchema() *schema {
	configSchemaOnce.Do(func() { configSchema = schemaOf(reflect.TypeFor[Config]()) })
	return configSchema
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func schemaOf(t reflect.Type) *schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &schema{fields: map[string]*schema{}, types: map[string]reflect.Type{}}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			s.fields[strings.ToLower(name)] = schemaOf(f.Type)
			s.types[strings.ToLower(name)] = f.Type
			s.names = append(s.names, name)
		}
		return s
	case reflect.Slice, reflect.Array:
		return schemaOf(t.Elem())
	case reflect.Map:
		return &schema{open: true, elem: schemaOf(t.Elem()), elemT: t.Elem()}
	}
	return nil
}

// lookup follows parts from s. It returns the schema reached and, when a
// part is not a key of its table, that part's index (else -1).
func (s *schema) lookup(parts []string) (*schema, int) {
	cur := s
	for i, p := range parts {
		switch {
		case cur == nil:
			return nil, -1
		case cur.open:
			cur = cur.elem
		default:
			next, ok := cur.fields[strings.ToLower(p)]
			if !ok {
				return nil, i
			}
			cur = next
		}
	}
	return cur, -1
}

// unknownKeys checks the expressions indexPositions shows it and adds an
// "unknown key" problem for every key and table header that Config has no
// field for. Keys under an unknown table are not reported again.
type unknownKeys struct {
	l     *loader
	lines []int
	table *schema // of the current table header
	skip  bool    // the current table is unknown
}

func newUnknownKeys(l *loader, data []byte) *unknownKeys {
	return &unknownKeys{l: l, lines: lineStarts(data), table: rootSchema()}
}

// visit has indexPositions' callback signature.
func (u *unknownKeys) visit(e *unstable.Node, parts []string, line int, prefix string) {
	switch e.Kind {
	case unstable.Table, unstable.ArrayTable:
		if len(parts) == 0 {
			return
		}
		var bad int
		u.table, bad = rootSchema().lookup(parts)
		u.skip = bad >= 0
		if u.skip {
			u.l.problems = append(u.l.problems, Problem{Path: prefix, Line: line, Msg: unknownTable(e.Kind, parts, bad)})
		}
	case unstable.KeyValue:
		if !u.skip {
			u.l.expr = e
			u.l.unknownInKeyValue(u.table, prefix, e, parts, line, u.lines)
		}
	}
}

// unknownInKeyValue checks one key = value under table (at path prefix),
// and the keys of an inline table value, or of an array of them.
func (l *loader) unknownInKeyValue(table *schema, prefix string, e *unstable.Node, parts []string, line int, lines []int) {
	path := join(prefix, strings.Join(parts, "."))
	s, bad := table.lookup(parts)
	if bad >= 0 {
		l.problems = append(l.problems, Problem{Path: path, Line: line, Msg: unknownKey(table, parts, bad)})
		return
	}
	l.checkType(path, line, table.typeOf(parts), e.Value())
	if s == nil || s.open {
		return
	}
	switch v := e.Value(); v.Kind {
	case unstable.InlineTable:
		l.unknownInInline(s, path, v, lines)
	case unstable.Array:
		it := v.Children()
		for i := 0; it.Next(); i++ {
			if n := it.Node(); n.Kind == unstable.InlineTable {
				l.unknownInInline(s, path+"["+strconv.Itoa(i)+"]", n, lines)
			}
		}
	}
}

func (l *loader) unknownInInline(s *schema, path string, n *unstable.Node, lines []int) {
	it := n.Children()
	for it.Next() {
		kv := it.Node()
		if kv.Kind != unstable.KeyValue {
			continue
		}
		parts, line := keyParts(kv, lines)
		l.unknownInKeyValue(s, path, kv, parts, line, lines)
	}
}

// typeOf is the Go type of the value at parts, or nil when unknown.
func (s *schema) typeOf(parts []string) reflect.Type {
	if len(parts) == 0 {
		return nil
	}
	parent, bad := s.lookup(parts[:len(parts)-1])
	switch {
	case bad >= 0 || parent == nil:
		return nil
	case parent.open:
		return parent.elemT
	}
	return parent.types[strings.ToLower(parts[len(parts)-1])]
}
