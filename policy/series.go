package policy

import (
	"math"
	"sync"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// This file sorts samples into per-metric, per-version series once per
// evaluation (or fold), so that rules read periods by binary search. The
// buffers are pooled: an evaluation allocates only what it returns.

type outcome uint8

const (
	outOK outcome = iota
	outFail
	outNoData
	outSrcErr
)

// pt is one sample reduced to what the rules need. t is the period start
// (metrics) or the probe time, end the period end (== t for probes), both in
// Unix nanoseconds.
type pt struct {
	t, end int64
	out    outcome
	v      float64
}

// watchInfo is what sorting needs to know about the watch.
type watchInfo struct {
	start             int64 // WatchStart, Unix ns
	knownGood, newVer string
}

type evalCtx struct {
	alias  [][]pt     // per metric id: alias-level samples (Version "")
	newV   [][]pt     // per metric id: the new version's samples
	kg     [][]pt     // per metric id: the known-good version's samples
	probes [][]pt     // per probe rule
	recs   []period   // a rule's periods being judged
	acc    []epochAcc // a rule's epochs being judged
	slab   []float64  // backing of the epochs' split vectors
	// newestMetric is the start of the newest metric period delivered
	// (any metric's, a failed read aside: History's newestMetric).
	newestMetric int64
}

var ctxPool = sync.Pool{New: func() any { return new(evalCtx) }}

func resize(s [][]pt, n int) [][]pt {
	if cap(s) < n {
		s = make([][]pt, n)
	}
	s = s[:n]
	for i := range s {
		s[i] = s[i][:0]
	}
	return s
}

func metricOutcome(o sample.Outcome) outcome {
	switch o {
	case sample.OutcomeOK, sample.OutcomeFail:
		return outOK // a metric datapoint is a datapoint
	case sample.OutcomeNoData:
		return outNoData
	}
	return outSrcErr
}

func probeOutcome(o sample.Outcome) outcome {
	switch o {
	case sample.OutcomeOK:
		return outOK
	case sample.OutcomeFail:
		return outFail
	case sample.OutcomeNoData:
		return outNoData
	}
	return outSrcErr
}

// fill sorts samples into c: metric samples of complete periods (end at
// or before now) that overlap the watch (they end after it began: the
// period containing the deploy is evidence too), split by version, and
// probe results from the watch's start to now. metrics is the per-watch
// metric table.
func (p *Policy) fill(c *evalCtx, samples []sample.Sample, w *watchInfo, metrics []string, now int64) {
	c.alias = resize(c.alias, len(metrics))
	c.newV = resize(c.newV, len(metrics))
	c.kg = resize(c.kg, len(metrics))
	c.probes = resize(c.probes, p.probeIDs)
	c.newestMetric = math.MinInt64
	for i := range samples {
		s := &samples[i]
		t := s.Time.UnixNano()
		switch s.Kind {
		case sample.KindMetric:
			end := t + int64(p.periodOf(s))
			if end <= now && s.Outcome != sample.OutcomeSourceError {
				c.newestMetric = max(c.newestMetric, t) // as History counts deliveries
			}
			if end <= w.start || end > now {
				continue
			}
			id := metricIndex(metrics, s.Metric)
			if id < 0 {
				continue
			}
			x := pt{t: t, end: end, out: metricOutcome(s.Outcome), v: s.Value}
			switch {
			case s.Version == "":
				c.alias[id] = append(c.alias[id], x)
			case s.Version == w.newVer:
				c.newV[id] = append(c.newV[id], x)
			case s.Version == w.knownGood:
				c.kg[id] = append(c.kg[id], x)
			}
		case sample.KindProbe:
			if t < w.start || t > now {
				continue
			}
			x := pt{t: t, end: t, out: probeOutcome(s.Outcome)}
			for id, name := range p.probeNames {
				if name == "" || name == s.Source {
					c.probes[id] = append(c.probes[id], x)
				}
			}
		}
	}
	for i := range c.alias {
		c.alias[i] = sortDedup(c.alias[i])
		c.newV[i] = sortDedup(c.newV[i])
		c.kg[i] = sortDedup(c.kg[i])
	}
	for i := range c.probes {
		sortStable(c.probes[i]) // several probes may share a time: no dedup
	}
}

// baselineSeries sorts alias-level baseline metric samples into dst, one
// series per metric id of b's table.
func (p *Policy) baselineSeries(dst [][]pt, baseline []sample.Sample, b *PreparedBaseline) [][]pt {
	for i := range baseline {
		s := &baseline[i]
		if s.Kind != sample.KindMetric || s.Version != "" {
			continue
		}
		id := metricIndex(b.metrics, s.Metric)
		if id < 0 {
			continue
		}
		t := s.Time.UnixNano()
		dst[id] = append(dst[id], pt{t: t, end: t + int64(p.periodOf(s)), out: metricOutcome(s.Outcome), v: s.Value})
	}
	for i := range dst {
		dst[i] = sortDedup(dst[i])
	}
	return dst
}

// metricIndex is the id of a metric name in a table, or -1. A linear scan
// over the handful of names beats hashing the string.
func metricIndex(metrics []string, name string) int {
	for i, m := range metrics {
		if m == name {
			return i
		}
	}
	return -1
}

func (p *Policy) periodOf(s *sample.Sample) time.Duration {
	if s.Period > 0 {
		return s.Period
	}
	return p.period
}

// sortStable is an insertion sort by t: the input is nearly always in
// order already, and stability keeps the later of two equal keys last.
func sortStable(s []pt) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].t < s[j-1].t; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// sortDedup sorts a metric series and keeps the last of equal periods
// (a re-read replaces the earlier value, as History does by Key).
func sortDedup(s []pt) []pt {
	sortStable(s)
	out := s[:0]
	for i := range s {
		if len(out) > 0 && out[len(out)-1].t == s[i].t {
			out[len(out)-1] = s[i]
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// lowerBound is the index of the first point with t >= x.
func lowerBound(s []pt, x int64) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s[m].t < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// span returns the points whose t lies in [from, to).
func span(s []pt, from, to int64) []pt {
	return s[lowerBound(s, from):lowerBound(s, to)]
}

// pointAt returns the point at period start t.
func pointAt(s []pt, t int64) (pt, bool) {
	i := lowerBound(s, t)
	if i < len(s) && s[i].t == t {
		return s[i], true
	}
	return pt{}, false
}

// lastEnd is the end of the newest point of any of the series, or 0.
func lastEnd(ss ...[]pt) int64 {
	var e int64
	for _, s := range ss {
		if len(s) > 0 && s[len(s)-1].end > e {
			e = s[len(s)-1].end
		}
	}
	return e
}
