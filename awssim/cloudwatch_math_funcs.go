package awssim

import (
	"fmt"
	"math"
	"strings"
)

func (p *mparser) call(name string) (mnode, error) {
	if name == "FILL" {
		return p.fill()
	}
	if agg, ok := aggregates[name]; ok {
		return p.aggregate(name, agg)
	}
	args, _, err := p.args()
	if err != nil {
		return nil, err
	}
	one := func(f func(env mathEnv, v mval) (mval, error)) (mnode, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("%s takes 1 argument", name)
		}
		return func(env mathEnv) (mval, error) {
			v, err := args[0](env)
			if err != nil {
				return mval{}, err
			}
			return f(env, v)
		}, nil
	}
	pointwise := func(f func(float64) float64) (mnode, error) {
		return one(func(_ mathEnv, v mval) (mval, error) { return mapSeries(v, f), nil })
	}
	switch name {
	case "IF":
		if len(args) != 2 && len(args) != 3 {
			return nil, fmt.Errorf("IF takes 2 or 3 arguments")
		}
		return ifNode(args), nil
	case "ABS":
		return pointwise(math.Abs)
	case "CEIL":
		return pointwise(math.Ceil)
	case "FLOOR":
		return pointwise(math.Floor)
	case "PERIOD":
		return one(func(_ mathEnv, v mval) (mval, error) {
			if v.g == nil {
				return mval{}, fmt.Errorf("PERIOD needs a time series")
			}
			per := float64(v.g.period)
			return mapSeries(v, func(float64) float64 { return per }), nil
		})
	case "DIFF", "RATE":
		return one(func(_ mathEnv, v mval) (mval, error) {
			if v.g == nil {
				return mval{}, fmt.Errorf("%s needs a time series", name)
			}
			return mval{g: diff(v.g, name == "RATE")}, nil
		})
	}
	return nil, fmt.Errorf("unsupported function %s", name)
}

// diff is the change from the previous datapoint (per second for rate).
func diff(g *grid, rate bool) *grid {
	out := cloneGrid(g)
	prev := -1
	for i, x := range g.v {
		out.v[i] = math.NaN()
		if math.IsNaN(x) {
			continue
		}
		if prev >= 0 {
			d := x - g.v[prev]
			if rate {
				d /= float64(int64(i-prev) * g.period)
			}
			out.v[i] = d
		}
		prev = i
	}
	return out
}

type aggFunc func(xs []float64) float64

var aggregates = map[string]aggFunc{
	"SUM": func(xs []float64) float64 { return reduceF(xs, sumF) },
	"MIN": func(xs []float64) float64 { return reduceF(xs, math.Min) },
	"MAX": func(xs []float64) float64 { return reduceF(xs, math.Max) },
	"AVG": func(xs []float64) float64 { return reduceF(xs, sumF) / float64(len(xs)) },
}

func reduceF(xs []float64, f func(a, b float64) float64) float64 {
	acc := xs[0]
	for _, x := range xs[1:] {
		acc = f(acc, x)
	}
	return acc
}

// aggregate parses SUM/AVG/MIN/MAX([a, b, ...]) (pointwise over the
// available values) or SUM/AVG/MIN/MAX(series) (one scalar).
func (p *mparser) aggregate(name string, agg aggFunc) (mnode, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	if p.peek() != "[" {
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return func(env mathEnv) (mval, error) {
			v, err := x(env)
			if err != nil || v.g == nil {
				return v, err
			}
			var xs []float64
			for _, f := range v.g.v {
				if !math.IsNaN(f) {
					xs = append(xs, f)
				}
			}
			if len(xs) == 0 {
				return mval{scalar: math.NaN()}, nil
			}
			return mval{scalar: agg(xs)}, nil
		}, nil
	}
	p.next()
	var items []mnode
	for p.peek() != "]" {
		if len(items) > 0 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		it, err := p.or()
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	p.next()
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s of an empty array", name)
	}
	return func(env mathEnv) (mval, error) { return pointwiseAgg(env, items, agg) }, nil
}

func pointwiseAgg(env mathEnv, items []mnode, agg aggFunc) (mval, error) {
	vals := make([]mval, len(items))
	var base *grid
	for i, it := range items {
		v, err := it(env)
		if err != nil {
			return mval{}, err
		}
		vals[i] = v
		if base == nil && v.g != nil {
			base = v.g
		}
	}
	if base == nil {
		xs := make([]float64, len(vals))
		for i, v := range vals {
			xs[i] = v.scalar
		}
		return mval{scalar: agg(xs)}, nil
	}
	out := cloneGrid(base)
	xs := make([]float64, 0, len(vals))
	for i := range out.v {
		xs = xs[:0]
		for _, v := range vals {
			x, err := at(v, base, i)
			if err != nil {
				return mval{}, err
			}
			if !math.IsNaN(x) {
				xs = append(xs, x)
			}
		}
		out.v[i] = math.NaN()
		if len(xs) > 0 {
			out.v[i] = clean(agg(xs))
		}
	}
	return mval{g: out}, nil
}

// fill parses FILL(series, value | REPEAT).
func (p *mparser) fill() (mnode, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	s, err := p.or()
	if err != nil {
		return nil, err
	}
	if err := p.expect(","); err != nil {
		return nil, err
	}
	if strings.EqualFold(p.peek(), "REPEAT") {
		p.next()
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return func(env mathEnv) (mval, error) {
			v, err := s(env)
			if err != nil || v.g == nil {
				return v, err
			}
			out := cloneGrid(v.g)
			last := math.NaN()
			for i, x := range out.v {
				if math.IsNaN(x) {
					out.v[i] = last
				} else {
					last = x
				}
			}
			return mval{g: out}, nil
		}, nil
	}
	with, err := p.or()
	if err != nil {
		return nil, err
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	return func(env mathEnv) (mval, error) {
		a, err := s(env)
		if err != nil {
			return mval{}, err
		}
		b, err := with(env)
		if err != nil {
			return mval{}, err
		}
		return combine(a, b, func(x, y float64) float64 {
			if math.IsNaN(x) {
				return y
			}
			return x
		}, true)
	}, nil
}

func ifNode(args []mnode) mnode {
	return func(env mathEnv) (mval, error) {
		vals := make([]mval, len(args))
		for i, a := range args {
			v, err := a(env)
			if err != nil {
				return mval{}, err
			}
			vals[i] = v
		}
		if len(vals) == 2 {
			vals = append(vals, mval{scalar: math.NaN()})
		}
		c := vals[0]
		if c.g == nil {
			if c.scalar != 0 {
				return vals[1], nil
			}
			return vals[2], nil
		}
		out := cloneGrid(c.g)
		for i, cv := range c.g.v {
			if math.IsNaN(cv) {
				continue
			}
			pick := vals[2]
			if cv != 0 {
				pick = vals[1]
			}
			x, err := at(pick, c.g, i)
			if err != nil {
				return mval{}, err
			}
			out.v[i] = x
		}
		return mval{g: out}, nil
	}
}

// at reads v at index i of grid g (scalars broadcast).
func at(v mval, g *grid, i int) (float64, error) {
	if v.g == nil {
		return v.scalar, nil
	}
	if v.g.period != g.period || v.g.start != g.start || len(v.g.v) != len(g.v) {
		return 0, fmt.Errorf("time series with different periods cannot be combined")
	}
	return v.g.v[i], nil
}

func cloneGrid(g *grid) *grid {
	return &grid{start: g.start, period: g.period, v: append([]float64(nil), g.v...)}
}

func mapSeries(v mval, f func(float64) float64) mval {
	if v.g == nil {
		return mval{scalar: f(v.scalar)}
	}
	out := cloneGrid(v.g)
	for i, x := range out.v {
		if !math.IsNaN(x) {
			out.v[i] = clean(f(x))
		}
	}
	return mval{g: out}
}

func clean(x float64) float64 {
	if math.IsInf(x, 0) {
		return math.NaN()
	}
	return x
}

func apply1(env mathEnv, n mnode, f func(float64) float64) (mval, error) {
	v, err := n(env)
	if err != nil {
		return mval{}, err
	}
	return mapSeries(v, f), nil
}

func apply2(env mathEnv, l, r mnode, f func(a, b float64) float64) (mval, error) {
	a, err := l(env)
	if err != nil {
		return mval{}, err
	}
	b, err := r(env)
	if err != nil {
		return mval{}, err
	}
	return combine(a, b, f, false)
}

// combine applies f pointwise. Missing points (NaN) give no point unless
// passNaN (FILL), and non-finite results (x/0) are dropped.
func combine(a, b mval, f func(x, y float64) float64, passNaN bool) (mval, error) {
	if a.g == nil && b.g == nil {
		return mval{scalar: f(a.scalar, b.scalar)}, nil
	}
	base := a.g
	if base == nil {
		base = b.g
	}
	out := cloneGrid(base)
	for i := range out.v {
		x, err := at(a, base, i)
		if err != nil {
			return mval{}, err
		}
		y, err := at(b, base, i)
		if err != nil {
			return mval{}, err
		}
		if !passNaN && (math.IsNaN(x) || math.IsNaN(y)) {
			out.v[i] = math.NaN()
			continue
		}
		out.v[i] = clean(f(x, y))
	}
	return mval{g: out}, nil
}
