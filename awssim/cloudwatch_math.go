package awssim

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Metric math: a small subset of CloudWatch's expression language —
// numbers, query ids, + - * /, comparisons (> < >= <= == !=), AND/OR/NOT
// (&& || !), parentheses, and the functions IF(cond, a[, b]),
// FILL(s, value|REPEAT), ABS, CEIL, FLOOR, PERIOD, DIFF, RATE and
// SUM/AVG/MIN/MAX (of an array [a, b] pointwise, or of one series to a
// scalar). Series are dense grids with
// NaN for "no datapoint"; arithmetic on a missing point yields no point.

// mval is a scalar (g == nil) or a series.
type mval struct {
	scalar float64
	g      *grid
}

// mathEnv resolves query ids to values.
type mathEnv interface {
	lookup(id string) (mval, error)
}

type mnode func(env mathEnv) (mval, error)

type mparser struct {
	toks []string
	pos  int
}

// parseExpr compiles an expression.
func parseExpr(src string) (mnode, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &mparser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	return n, nil
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case unicode.IsDigit(c) || c == '.':
			j := i
			for j < len(s) && (unicode.IsDigit(rune(s[j])) || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				((s[j] == '+' || s[j] == '-') && j > i && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			if i+1 < len(s) {
				two := s[i : i+2]
				switch two {
				case ">=", "<=", "==", "!=", "&&", "||":
					toks = append(toks, two)
					i += 2
					continue
				}
			}
			if !strings.ContainsRune("+-*/()<>,![]", c) {
				return nil, fmt.Errorf("unexpected character %q", c)
			}
			toks = append(toks, string(c))
			i++
		}
	}
	return toks, nil
}

func (p *mparser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *mparser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *mparser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("expected %q, got %q", t, got)
	}
	return nil
}

// binary parses a left-associative level.
func (p *mparser) binary(sub func() (mnode, error), ops map[string]func(a, b float64) float64) (mnode, error) {
	left, err := sub()
	if err != nil {
		return nil, err
	}
	for {
		f, ok := ops[strings.ToUpper(p.peek())]
		if !ok {
			return left, nil
		}
		p.next()
		right, err := sub()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(env mathEnv) (mval, error) { return apply2(env, l, right, f) }
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var (
	orOps  = map[string]func(a, b float64) float64{"OR": func(a, b float64) float64 { return b2f(a != 0 || b != 0) }, "||": func(a, b float64) float64 { return b2f(a != 0 || b != 0) }}
	andOps = map[string]func(a, b float64) float64{"AND": func(a, b float64) float64 { return b2f(a != 0 && b != 0) }, "&&": func(a, b float64) float64 { return b2f(a != 0 && b != 0) }}
	cmpOps = map[string]func(a, b float64) float64{
		">": func(a, b float64) float64 { return b2f(a > b) }, "<": func(a, b float64) float64 { return b2f(a < b) },
		">=": func(a, b float64) float64 { return b2f(a >= b) }, "<=": func(a, b float64) float64 { return b2f(a <= b) },
		"==": func(a, b float64) float64 { return b2f(a == b) }, "!=": func(a, b float64) float64 { return b2f(a != b) },
	}
	addOps = map[string]func(a, b float64) float64{"+": func(a, b float64) float64 { return a + b }, "-": func(a, b float64) float64 { return a - b }}
	mulOps = map[string]func(a, b float64) float64{"*": func(a, b float64) float64 { return a * b }, "/": func(a, b float64) float64 { return a / b }}
)

func (p *mparser) or() (mnode, error)  { return p.binary(p.and, orOps) }
func (p *mparser) and() (mnode, error) { return p.binary(p.cmp, andOps) }
func (p *mparser) cmp() (mnode, error) { return p.binary(p.add, cmpOps) }
func (p *mparser) add() (mnode, error) { return p.binary(p.mul, addOps) }
func (p *mparser) mul() (mnode, error) { return p.binary(p.unary, mulOps) }

func (p *mparser) unary() (mnode, error) {
	switch t := p.peek(); {
	case t == "-":
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(env mathEnv) (mval, error) { return apply1(env, x, func(a float64) float64 { return -a }) }, nil
	case t == "!" || strings.EqualFold(t, "NOT"):
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(env mathEnv) (mval, error) { return apply1(env, x, func(a float64) float64 { return b2f(a == 0) }) }, nil
	}
	return p.primary()
}

func (p *mparser) primary() (mnode, error) {
	t := p.next()
	switch {
	case t == "":
		return nil, fmt.Errorf("unexpected end of expression")
	case t == "(":
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		return n, p.expect(")")
	case unicode.IsDigit(rune(t[0])) || t[0] == '.':
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t)
		}
		return func(mathEnv) (mval, error) { return mval{scalar: f}, nil }, nil
	case p.peek() == "(":
		return p.call(strings.ToUpper(t))
	case unicode.IsLower(rune(t[0])):
		id := t
		return func(env mathEnv) (mval, error) { return env.lookup(id) }, nil
	}
	return nil, fmt.Errorf("unexpected %q", t)
}

func (p *mparser) args() ([]mnode, []string, error) {
	if err := p.expect("("); err != nil {
		return nil, nil, err
	}
	var args []mnode
	var raw []string
	for p.peek() != ")" {
		if len(args) > 0 {
			if err := p.expect(","); err != nil {
				return nil, nil, err
			}
		}
		raw = append(raw, p.peek())
		a, err := p.or()
		if err != nil {
			return nil, nil, err
		}
		args = append(args, a)
	}
	p.next()
	return args, raw, nil
}
