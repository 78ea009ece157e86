package quality

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// This file answers CloudWatch statistics of Lambda's Duration from a
// period's raw durations, exactly:
//
//	SampleCount Sum Average Minimum Maximum IQM
//	pNN      percentile, nearest rank: the smallest value with at least NN% of
//	         the values at or below it (CloudWatch estimates; we are exact)
//	tmNN tcNN tsNN wmNN    = TM(:NN%) TC(:NN%) TS(:NN%) WM(:NN%)
//	TM(a:b) TC(a:b) TS(a:b) trimmed mean, count and sum of the values in (a, b]
//	WM(a:b)  winsorized mean: values outside (a, b] clamped to its bounds
//	PR(a:b)  percent of all values in (a, b] (absolute bounds only)
//
// Bounds are absolute values (ms) or percentages ("10%"), either may be
// empty. A percentage bound p stands for the value of rank ceil(p*n), so
// TC(:99%) counts the values up to p99 and TC(99%:) those above it.

// stat is a parsed statistic.
type stat struct {
	name     string
	fn       string // "count", "sum", "avg", "min", "max", "p", "TM", "TC", "TS", "WM", "PR"
	q        float64
	lo, hi   bound
	hasRange bool
}

// bound is one end of a range: absolute (ms), percent (0-100), or open.
type bound struct {
	set, pct bool
	v        float64
}

// parseStat parses a CloudWatch statistic name.
func parseStat(s string) (stat, error) {
	st := stat{name: s}
	switch s {
	case "SampleCount":
		st.fn = "count"
	case "Sum":
		st.fn = "sum"
	case "Average":
		st.fn = "avg"
	case "Minimum":
		st.fn = "min"
	case "Maximum":
		st.fn = "max"
	case "IQM":
		st.fn, st.hasRange = "TM", true
		st.lo, st.hi = bound{true, true, 25}, bound{true, true, 75}
	default:
		return parseShaped(s)
	}
	return st, nil
}

func parseShaped(s string) (stat, error) {
	st := stat{name: s}
	bad := fmt.Errorf("unsupported statistic %q (want SampleCount, Sum, Average, Minimum, Maximum, IQM, pNN, tmNN, tcNN, tsNN, wmNN or TM/TC/TS/WM/PR(a:b))", s)
	for _, short := range []string{"tm", "tc", "ts", "wm", "p"} {
		rest, ok := strings.CutPrefix(s, short)
		if !ok {
			continue
		}
		q, err := strconv.ParseFloat(rest, 64)
		if err != nil || q <= 0 || q > 100 || rest == "" || rest[0] == '+' {
			return st, bad
		}
		if short == "p" {
			st.fn, st.q = "p", q
			return st, nil
		}
		st.fn, st.hasRange, st.hi = strings.ToUpper(short), true, bound{true, true, q}
		return st, nil
	}
	open := strings.IndexByte(s, '(')
	if open != 2 || !strings.HasSuffix(s, ")") {
		return st, bad
	}
	st.fn, st.hasRange = s[:2], true
	switch st.fn {
	case "TM", "TC", "TS", "WM", "PR":
	default:
		return st, bad
	}
	lo, hi, ok := strings.Cut(s[3:len(s)-1], ":")
	if !ok {
		return st, bad
	}
	var err1, err2 error
	st.lo, err1 = parseBound(lo)
	st.hi, err2 = parseBound(hi)
	if err1 != nil || err2 != nil || (!st.lo.set && !st.hi.set) {
		return st, bad
	}
	if st.fn == "PR" && (st.lo.pct || st.hi.pct) {
		return st, fmt.Errorf("statistic %q: PR takes absolute bounds", s)
	}
	if st.fn == "WM" && (st.lo.set && !st.lo.pct || st.hi.set && !st.hi.pct) {
		return st, fmt.Errorf("statistic %q: WM takes percentage bounds", s)
	}
	return st, nil
}

func parseBound(s string) (bound, error) {
	if s == "" {
		return bound{}, nil
	}
	b := bound{set: true}
	if v, ok := strings.CutSuffix(s, "%"); ok {
		b.pct, s = true, v
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || (b.pct && v > 100) {
		return b, fmt.Errorf("bad bound %q", s)
	}
	b.v = v
	return b, nil
}

// eval answers the statistic over values in any order; ok is false when
// CloudWatch would return no datapoint (no values, or an empty trimmed
// range for a mean).
func (st stat) eval(xs []float64) (float64, bool) {
	n := len(xs)
	if n == 0 {
		return 0, false
	}
	switch st.fn {
	case "count":
		return float64(n), true
	case "sum":
		return sum(xs), true
	case "avg":
		return sum(xs) / float64(n), true
	case "min":
		return slices.Min(xs), true
	case "max":
		return slices.Max(xs), true
	case "p":
		return kth(slices.Clone(xs), rank(st.q, n)-1), true
	}
	if st.lo.pct || st.hi.pct || st.fn == "WM" {
		return st.evalSorted(slices.Sorted(slices.Values(xs)))
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	if st.lo.set {
		lo = st.lo.v
	}
	if st.hi.set {
		hi = st.hi.v
	}
	var cnt, total float64
	for _, x := range xs {
		if x > lo && x <= hi {
			cnt++
			total += x
		}
	}
	return st.trimmed(cnt, total, n)
}

// trimmed is TC, TS, PR or TM from the count and sum of the values in range.
func (st stat) trimmed(cnt, total float64, n int) (float64, bool) {
	switch st.fn {
	case "TC":
		return cnt, true
	case "TS":
		return total, true
	case "PR":
		return 100 * cnt / float64(n), true
	}
	if cnt == 0 {
		return 0, false
	}
	return total / cnt, true
}

// evalSorted answers the range statistics with percentage bounds over
// sorted values.
func (st stat) evalSorted(xs []float64) (float64, bool) {
	n := len(xs)
	if st.fn != "WM" {
		i, j := st.index(st.lo, xs, 0), st.index(st.hi, xs, n) // values xs[i:j] lie in (lo, hi]
		in := xs[i:max(i, j)]
		return st.trimmed(float64(len(in)), sum(in), n)
	}
	// WM: clamp to the values at the bounds' ranks.
	loV, hiV := xs[0], xs[n-1]
	if st.lo.set {
		loV = xs[max(rank(st.lo.v, n), 1)-1]
	}
	if st.hi.set {
		hiV = xs[max(rank(st.hi.v, n), 1)-1]
	}
	s := 0.0
	for _, x := range xs {
		s += min(max(x, loV), hiV)
	}
	return s / float64(n), true
}

// kth is the k-th smallest value (from 0), by quickselect; it reorders xs.
func kth(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		pivot := median3(xs[lo], xs[(lo+hi)/2], xs[hi])
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

func median3(a, b, c float64) float64 {
	return max(min(a, b), min(max(a, b), c))
}

// index is the position in xs where a bound cuts: the number of values at
// or below it. An open bound is def.
func (st stat) index(b bound, xs []float64, def int) int {
	switch {
	case !b.set:
		return def
	case b.pct:
		return rank(b.v, len(xs))
	}
	return sort.Search(len(xs), func(i int) bool { return xs[i] > b.v })
}

// rank is the nearest rank of percentile q (0-100) among n values: ceil(q/100*n), at least 0.
func rank(q float64, n int) int {
	k := int(math.Ceil(q/100*float64(n) - 1e-9))
	return min(max(k, 0), n)
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}
