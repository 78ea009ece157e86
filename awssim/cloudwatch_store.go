package awssim

import (
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// cwStore holds datapoints per metric identity (namespace, name,
// dimensions) as a time-sorted slice of per-second buckets. Buckets written
// by LambdaTraffic are one per minute, and sample slices are shared between
// the dimension sets of one write, so memory stays small.
type cwStore struct {
	mu     sync.RWMutex
	series map[string]*cwSeries
	// LambdaTraffic's generators by function and for the account, which
	// the concurrency metrics aggregate.
	traffic map[string]*fnTraffic
	acct    *acctTraffic
}

type cwSeries struct {
	buckets []cwBucket // ascending by t
	gens    []genRef   // synthetic traffic evaluated lazily (LambdaTraffic)
}

// cwBucket aggregates everything recorded at one second: the statistic set
// plus raw values (with weights, nil = 1 each) for percentiles.
type cwBucket struct {
	t                    int64
	sum, count, min, max float64
	vals, wts            []float64
}

func newCWStore() *cwStore {
	return &cwStore{series: map[string]*cwSeries{}, traffic: map[string]*fnTraffic{}, acct: &acctTraffic{}}
}

// metricKey is the identity of a metric: dimension order does not matter.
func metricKey(ns, name string, dims map[string]string) string {
	var b strings.Builder
	b.WriteString(ns)
	b.WriteByte(0x1f)
	b.WriteString(name)
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(0x1e)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(dims[k])
	}
	return b.String()
}

// seriesLocked returns (creating) the series of key; st.mu must be held.
func (st *cwStore) seriesLocked(key string) *cwSeries {
	s := st.series[key]
	if s == nil {
		s = &cwSeries{}
		st.series[key] = s
	}
	return s
}

// add merges a bucket into the series of key.
func (st *cwStore) add(key string, nb cwBucket) {
	if nb.count <= 0 {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.seriesLocked(key)
	n := len(s.buckets)
	if n == 0 || s.buckets[n-1].t < nb.t {
		s.buckets = append(s.buckets, nb)
		return
	}
	i := sort.Search(n, func(i int) bool { return s.buckets[i].t >= nb.t })
	if i < n && s.buckets[i].t == nb.t {
		b := &s.buckets[i]
		b.sum += nb.sum
		b.count += nb.count
		b.min = math.Min(b.min, nb.min)
		b.max = math.Max(b.max, nb.max)
		b.vals, b.wts = mergeSamples(b.vals, b.wts, nb.vals, nb.wts)
		return
	}
	s.buckets = slices.Insert(s.buckets, i, nb)
}

// mergeSamples concatenates into fresh slices (inputs may be shared).
func mergeSamples(av, aw, bv, bw []float64) ([]float64, []float64) {
	if len(bv) == 0 {
		return av, aw
	}
	vals := slices.Concat(av, bv)
	if aw == nil && bw == nil {
		return vals, nil
	}
	wts := make([]float64, 0, len(vals))
	wts = appendWeights(wts, aw, len(av))
	wts = appendWeights(wts, bw, len(bv))
	return vals, wts
}

func appendWeights(dst, w []float64, n int) []float64 {
	if w != nil {
		return append(dst, w...)
	}
	for range n {
		dst = append(dst, 1)
	}
	return dst
}

// valuesBucket builds a bucket from raw values with counts (nil = 1 each).
func valuesBucket(t time.Time, vals, counts []float64) cwBucket {
	b := cwBucket{t: t.Unix(), min: math.Inf(1), max: math.Inf(-1), vals: vals, wts: counts}
	for i, v := range vals {
		c := 1.0
		if counts != nil {
			c = counts[i]
		}
		b.sum += v * c
		b.count += c
		b.min = math.Min(b.min, v)
		b.max = math.Max(b.max, v)
	}
	return b
}

// grid is a dense series: v[i] is the value of the period starting at
// start+i*period, NaN where there is no datapoint.
type grid struct {
	start, period int64
	v             []float64
}

func newGrid(start, end time.Time, period int64) grid {
	s := floorDiv(start.Unix(), period) * period
	e := end.Unix()
	n := 0
	if e > s {
		n = int((e - s + period - 1) / period)
	}
	g := grid{start: s, period: period, v: make([]float64, n)}
	for i := range g.v {
		g.v[i] = math.NaN()
	}
	return g
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// query fills a grid for [start, end) with stat over the series of key,
// seeing only data at or before cutoff.
func (st *cwStore) query(key string, start, end time.Time, period int64, stat statFunc, cutoff int64) grid {
	g := newGrid(start, end, period)
	st.mu.RLock()
	defer st.mu.RUnlock()
	s := st.series[key]
	if s == nil || len(g.v) == 0 {
		return g
	}
	lo, hi := g.start, min(end.Unix(), cutoff+1)
	if len(s.gens) > 0 {
		s.queryWithGens(&g, lo, hi, stat)
		return g
	}
	i := sort.Search(len(s.buckets), func(i int) bool { return s.buckets[i].t >= lo })
	for i < len(s.buckets) && s.buckets[i].t < hi {
		idx := (s.buckets[i].t - g.start) / period
		j := i
		for j < len(s.buckets) && s.buckets[j].t < hi && (s.buckets[j].t-g.start)/period == idx {
			j++
		}
		g.v[idx] = stat(s.buckets[i:j])
		i = j
	}
	return g
}

// queryWithGens is the slow path: per period, concrete buckets plus the
// minutes synthesised by traffic generators.
func (s *cwSeries) queryWithGens(g *grid, lo, hi int64, stat statFunc) {
	var bs []cwBucket
	var gens []genRef // those overlapping [lo, hi)
	for _, gr := range s.gens {
		if from, to := gr.gen.span(); from < hi && to > lo {
			gens = append(gens, gr)
		}
	}
	i := sort.Search(len(s.buckets), func(i int) bool { return s.buckets[i].t >= lo })
	for idx := range g.v {
		ps := g.start + int64(idx)*g.period
		pe := min(ps+g.period, hi)
		if ps >= hi {
			break
		}
		bs = bs[:0]
		for i < len(s.buckets) && s.buckets[i].t < pe {
			bs = append(bs, s.buckets[i])
			i++
		}
		for _, gr := range gens {
			bs = gr.gen.appendBuckets(bs, gr.metric, ps, pe)
		}
		if len(bs) > 0 {
			g.v[idx] = stat(bs)
		}
	}
}
