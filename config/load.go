package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Problem is one thing wrong with a config file: the key path (e.g.
// "target[0].rule[1].threshold"), the line it is on (0 if unknown) and what
// is wrong.
type Problem struct {
	Path string
	Line int
	Msg  string
}

// Error lists every problem found in a config file at once.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid config: ")
	} else {
		fmt.Fprintf(&b, "invalid config (%d problems):", len(e.Problems))
	}
	for _, p := range e.Problems {
		if len(e.Problems) > 1 {
			b.WriteString("\n  ")
		}
		b.WriteString(p.In(e.File))
	}
	return b.String()
}

// In is the problem as a line of file: "file:line: path: message" (file
// and line when known).
func (p Problem) In(file string) string {
	var b strings.Builder
	loc := file
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", file, p.Line)
	}
	if loc != "" {
		b.WriteString(loc + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Options controls where secrets are read from; zero values use the process
// environment and the file system.
type Options struct {
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
}

// Load reads, decodes strictly, defaults, resolves secrets and validates the
// config file at path. Every problem is reported in one *Error. A file
// larger than MaxConfigBytes is refused before it is parsed.
func Load(path string) (*Config, error) {
	data, err := ReadFileLimited(path, MaxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path, Options{})
}

// Parse is Load for bytes already read; name is used in messages. A UTF-8
// byte order mark at the start (editors on Windows write one) is ignored.
func Parse(data []byte, name string, o Options) (*Config, error) {
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.ReadFile == nil {
		o.ReadFile = func(path string) ([]byte, error) { return ReadFileLimited(path, MaxSecretBytes) }
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	l := &loader{file: name, opts: o}
	if len(data) > MaxConfigBytes {
		l.problems = append(l.problems, Problem{Msg: fmt.Sprintf("config is larger than the limit of %d bytes", MaxConfigBytes)})
		return nil, l.err()
	}
	cfg, err := l.decode(data)
	if err != nil {
		return nil, err
	}
	cfg.Path = name
	mark := len(l.problems)
	l.applyEnv(cfg)
	applyDefaults(cfg, l.pos)
	l.applyRobustDefaults(cfg)
	applyEventsDefaults(cfg)
	l.resolveSecrets(cfg)
	l.validate(cfg)
	l.dropFollowOns(mark)
	if len(l.problems) > 0 {
		return nil, l.err()
	}
	sort.SliceStable(l.warnings, func(i, j int) bool { return l.warnings[i].Line < l.warnings[j].Line })
	cfg.Warnings = l.warnings
	return cfg, nil
}

type loader struct {
	file     string
	opts     Options
	pos      positions
	problems []Problem
	warnings []Problem

	// The type check's state (typecheck.go): the expression being
	// checked, the ranges to blank before decoding, the paths blanked.
	expr    *unstable.Node
	blank   []unstable.Range
	typeBad map[string]bool
}

func (l *loader) add(path, format string, args ...any) {
	l.problems = append(l.problems, Problem{Path: path, Line: l.pos.lineOf(path), Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) err() error {
	sort.SliceStable(l.problems, func(i, j int) bool { return l.problems[i].Line < l.problems[j].Line })
	return &Error{File: l.file, Problems: l.problems}
}

// decode parses TOML strictly. Unknown keys and values of the wrong type
// are collected as problems (by unknownKeys, in one pass before decoding)
// and loading goes on without them, so they are reported with every other
// problem; a syntax error stops decoding.
func (l *loader) decode(data []byte) (*Config, error) {
	l.pos = indexPositions(data, newUnknownKeys(l, data).visit)
	cfg := &Config{}
	err := toml.NewDecoder(bytes.NewReader(l.blanked(data))).Decode(cfg)
	var de *toml.DecodeError
	switch {
	case err == nil:
	case errors.As(err, &de):
		row, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		l.problems = append(l.problems, Problem{Path: l.pathAt(row, de.Key()), Line: row, Msg: msg})
		return nil, l.err()
	default:
		// Errors from UnmarshalText carry no position; Duration's message
		// names the offending value.
		pr := Problem{Msg: strings.TrimPrefix(err.Error(), "toml: ")}
		var bad *badDurationError
		if errors.As(err, &bad) {
			if path, line, ok := l.pos.numberAt(bad.raw); ok {
				pr = Problem{Path: path, Line: line, Msg: "must be a duration string such as \"30s\" (got the number " + bad.raw + ")"}
			}
		}
		l.problems = append(l.problems, pr)
		return nil, l.err()
	}
	return cfg, nil
}

// pathAt prefers the indexed path written at row ("target[1].foo") over
// the decoder's index-less key ("target.foo").
func (l *loader) pathAt(row int, key toml.Key) string {
	if p, ok := l.pos.byLine[row]; ok {
		return p
	}
	return strings.Join(key, ".")
}
