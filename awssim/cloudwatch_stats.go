package awssim

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// statFunc reduces the buckets of one period to a value (NaN = none).
type statFunc func(bs []cwBucket) float64

// parseStat resolves Sum, Average, SampleCount, Minimum, Maximum, pNN
// (p0..p100 with up to two decimals, e.g. p99.9) and the trimmed count
// TC(a:b) with absolute bounds (either may be empty).
func parseStat(s string) (statFunc, error) {
	if lo, hi, ok := parseRange(s, "TC("); ok {
		return func(bs []cwBucket) float64 { return trimmedCount(bs, lo, hi) }, nil
	}
	switch s {
	case "Sum":
		return func(bs []cwBucket) float64 { return reduce(bs, func(b cwBucket) float64 { return b.sum }, sumF) }, nil
	case "SampleCount":
		return func(bs []cwBucket) float64 { return reduce(bs, func(b cwBucket) float64 { return b.count }, sumF) }, nil
	case "Minimum":
		return func(bs []cwBucket) float64 { return reduce(bs, func(b cwBucket) float64 { return b.min }, math.Min) }, nil
	case "Maximum":
		return func(bs []cwBucket) float64 { return reduce(bs, func(b cwBucket) float64 { return b.max }, math.Max) }, nil
	case "Average":
		return func(bs []cwBucket) float64 {
			var sum, n float64
			for _, b := range bs {
				sum += b.sum
				n += b.count
			}
			if n == 0 {
				return math.NaN()
			}
			return sum / n
		}, nil
	}
	if strings.HasPrefix(s, "p") {
		p, err := strconv.ParseFloat(s[1:], 64)
		if err == nil && p >= 0 && p <= 100 && !strings.ContainsAny(s[1:], "eE+-") {
			return func(bs []cwBucket) float64 { return percentile(bs, p) }, nil
		}
	}
	return nil, fmt.Errorf("invalid statistic %q", s)
}

func sumF(a, b float64) float64 { return a + b }

func reduce(bs []cwBucket, get func(cwBucket) float64, f func(a, b float64) float64) float64 {
	if len(bs) == 0 {
		return math.NaN()
	}
	acc := get(bs[0])
	for _, b := range bs[1:] {
		acc = f(acc, get(b))
	}
	return acc
}

// percentile is the weighted nearest-rank percentile of the raw values;
// NaN when only statistic sets were recorded.
func percentile(bs []cwBucket, p float64) float64 {
	type vw struct{ v, w float64 }
	var xs []vw
	var total float64
	for _, b := range bs {
		for i, v := range b.vals {
			w := 1.0
			if b.wts != nil {
				w = b.wts[i]
			}
			xs = append(xs, vw{v, w})
			total += w
		}
	}
	if len(xs) == 0 || total <= 0 {
		return math.NaN()
	}
	slices.SortFunc(xs, func(a, b vw) int { return cmp.Compare(a.v, b.v) })
	rank := p / 100 * total
	var cum float64
	for _, x := range xs {
		cum += x.w
		if cum >= rank && cum > 0 {
			return x.v
		}
	}
	return xs[len(xs)-1].v
}

// parseRange reads "<prefix>a:b)" with absolute numeric bounds; an empty
// bound is open. CloudWatch's percentage bounds (TC(10%:90%)) are not
// simulated.
func parseRange(s, prefix string) (lo, hi float64, ok bool) {
	if !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, ")") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(s[len(prefix):len(s)-1], ":")
	if !found || strings.Contains(a+b, "%") {
		return 0, 0, false
	}
	lo, hi = math.Inf(-1), math.Inf(1)
	var err error
	if a != "" {
		if lo, err = strconv.ParseFloat(a, 64); err != nil {
			return 0, 0, false
		}
	}
	if b != "" {
		if hi, err = strconv.ParseFloat(b, 64); err != nil {
			return 0, 0, false
		}
	}
	return lo, hi, lo < hi
}

// trimmedCount is the weighted number of raw values in (lo, hi] (lower
// bound exclusive, upper inclusive, as CloudWatch defines TC); NaN when
// only statistic sets were recorded.
func trimmedCount(bs []cwBucket, lo, hi float64) float64 {
	var n float64
	raw := false
	for _, b := range bs {
		for i, v := range b.vals {
			raw = true
			if v > lo && v <= hi {
				if b.wts != nil {
					n += b.wts[i]
				} else {
					n++
				}
			}
		}
	}
	if !raw {
		return math.NaN()
	}
	return n
}
