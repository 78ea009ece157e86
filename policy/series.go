package policy

import (
	"sync"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// This file sorts an Input's samples into per-metric, per-side series once
// per evaluation, so that every rule reads windows by binary search. The
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

type evalCtx struct {
	minT     int64  // oldest time a judged sample may have (watch start, lookback)
	newS     [][]pt // per metric id: judged side (new version, or alias after the deploy)
	oldS     [][]pt // per metric id: known-good side (same time when split, else the baseline)
	oldOwned [][]pt // the buffers behind oldS when they are not a PreparedBaseline's
	probes   [][]pt // per probe rule
	xs, ys   []float64
	base     []baseAgg // per rule: whole-baseline aggregates, computed once
	results  []ruleResult
	note     []byte
}

// baseAgg caches a rule's aggregate over the whole pre-deploy baseline
// (not split), which every window of every step compares with.
type baseAgg struct {
	done bool
	rate rateAgg
	val  valAgg
	ys   []float64 // compare_latency: the baseline values, sorted
	med  float64
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

// fill sorts the input's samples into c. Samples from the future (period
// not complete at now) are ignored, as are samples from before the watch
// began or older than the policy's lookback (the baseline excepted).
func (p *Policy) fill(c *evalCtx, in *Input, now time.Time) {
	c.newS = resize(c.newS, len(p.metrics))
	// c.oldS may hold views of a PreparedBaseline from the last use: never
	// append into those, start from the context's own buffers.
	c.oldOwned = resize(c.oldOwned, len(p.metrics))
	c.oldS = append(c.oldS[:0], c.oldOwned...)
	c.probes = resize(c.probes, p.probeIDs)
	if cap(c.base) < len(p.rules) {
		c.base = make([]baseAgg, len(p.rules))
	}
	c.base = c.base[:len(p.rules)]
	for i := range c.base {
		c.base[i].done = false
	}
	nowN := now.UnixNano()
	// Nothing before the watch began, nor older than any window can reach.
	c.minT = max(in.WatchStart.UnixNano(), nowN-int64(p.lookback))
	for i := range in.Samples {
		s := &in.Samples[i]
		t := s.Time.UnixNano()
		if t < c.minT {
			continue
		}
		switch s.Kind {
		case sample.KindMetric:
			id := p.metricIndex(s.Metric)
			if id < 0 {
				continue
			}
			end := t + int64(p.periodOf(s))
			if end > nowN {
				continue
			}
			x := pt{t: t, end: end, out: metricOutcome(s.Outcome), v: s.Value}
			switch {
			case in.Split && s.Version == in.NewVersion:
				c.newS[id] = append(c.newS[id], x)
			case in.Split && in.KnownGood != "" && s.Version == in.KnownGood:
				c.oldS[id] = append(c.oldS[id], x)
			case !in.Split && s.Version == "":
				c.newS[id] = append(c.newS[id], x)
			}
		case sample.KindProbe:
			if t > nowN {
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
	for i := range c.newS {
		c.newS[i] = sortDedup(c.newS[i])
		c.oldS[i] = sortDedup(c.oldS[i])
	}
	if !in.Split && (in.Prepared == nil || in.Prepared.p != p) {
		c.oldS = p.baselineSeries(c.oldS, in.Baseline)
	}
	copy(c.oldOwned, c.oldS) // keep grown buffers for the next evaluation
	if !in.Split && in.Prepared != nil && in.Prepared.p == p {
		copy(c.oldS, in.Prepared.series) // read-only views
	}
	for i := range c.probes {
		sortStable(c.probes[i]) // several probes may share a time: no dedup
	}
}

// baselineSeries sorts alias-level baseline metric samples into dst, one
// series per metric id.
func (p *Policy) baselineSeries(dst [][]pt, baseline []sample.Sample) [][]pt {
	for i := range baseline {
		s := &baseline[i]
		id := p.metricIndex(s.Metric)
		if id < 0 || s.Kind != sample.KindMetric || s.Version != "" {
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

// PreparedBaseline is a watch's baseline sorted once, for the many
// evaluations of that watch (Input.Prepared). It is immutable.
type PreparedBaseline struct {
	p      *Policy
	series [][]pt
}

// PrepareBaseline sorts the baseline samples for Input.Prepared; the
// verdicts are the same as with Input.Baseline, only cheaper.
func (p *Policy) PrepareBaseline(baseline []sample.Sample) *PreparedBaseline {
	return &PreparedBaseline{p: p, series: p.baselineSeries(make([][]pt, len(p.metrics)), baseline)}
}

// metricIndex is the id of a metric name, or -1. A linear scan over the
// handful of names beats hashing the string.
func (p *Policy) metricIndex(name string) int {
	for i, m := range p.metrics {
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
