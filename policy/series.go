package policy

import (
	"sync"
	"time"

	"github.com/canaryd/canaryd/watcher"
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
	newS   [][]pt // per metric id: judged side (new version, or alias after the deploy)
	oldS   [][]pt // per metric id: known-good side (same time when split, else the baseline)
	probes [][]pt // per probe rule
	xs, ys []float64
	ranked []rankItem
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

func metricOutcome(o watcher.Outcome) outcome {
	switch o {
	case watcher.OutcomeOK, watcher.OutcomeFail:
		return outOK // a metric datapoint is a datapoint
	case watcher.OutcomeNoData:
		return outNoData
	}
	return outSrcErr
}

func probeOutcome(o watcher.Outcome) outcome {
	switch o {
	case watcher.OutcomeOK:
		return outOK
	case watcher.OutcomeFail:
		return outFail
	case watcher.OutcomeNoData:
		return outNoData
	}
	return outSrcErr
}

// fill sorts the input's samples into c. Samples from the future (period
// not complete at now) are ignored, as are alias-level samples from before
// the watch began.
func (p *Policy) fill(c *evalCtx, in *Input, now time.Time) {
	c.newS = resize(c.newS, len(p.metrics))
	c.oldS = resize(c.oldS, len(p.metrics))
	c.probes = resize(c.probes, p.probeIDs)
	nowN, startN := now.UnixNano(), in.WatchStart.UnixNano()
	for i := range in.Samples {
		s := &in.Samples[i]
		t := s.Time.UnixNano()
		if t < startN {
			continue
		}
		switch s.Kind {
		case watcher.KindMetric:
			id, ok := p.metricID[s.Metric]
			if !ok {
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
		case watcher.KindProbe:
			if t > nowN {
				continue
			}
			x := pt{t: t, end: t, out: probeOutcome(s.Outcome)}
			for ri := range p.rules {
				r := &p.rules[ri]
				if r.probeID >= 0 && (r.probe == "" || r.probe == s.Source) {
					c.probes[r.probeID] = append(c.probes[r.probeID], x)
				}
			}
		}
	}
	if !in.Split {
		for i := range in.Baseline {
			s := &in.Baseline[i]
			id, ok := p.metricID[s.Metric]
			if !ok || s.Kind != watcher.KindMetric || s.Version != "" {
				continue
			}
			t := s.Time.UnixNano()
			c.oldS[id] = append(c.oldS[id], pt{t: t, end: t + int64(p.periodOf(s)), out: metricOutcome(s.Outcome), v: s.Value})
		}
	}
	for i := range c.newS {
		c.newS[i] = sortDedup(c.newS[i])
		c.oldS[i] = sortDedup(c.oldS[i])
	}
	for i := range c.probes {
		sortStable(c.probes[i]) // several probes may share a time: no dedup
	}
}

func (p *Policy) periodOf(s *watcher.Sample) time.Duration {
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
