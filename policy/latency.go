package policy

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// This file says which CloudWatch statistics of Lambda's Duration metric a
// watch needs. A percentile rule "pNN > X" is exactly "more than (100-NN)%
// of the invocations are slower than X", and CloudWatch's trimmed count
// TC(X:) is the number of invocations slower than X (lower bound
// exclusive). So each latency rule asks for the count of invocations above
// a threshold, and that threshold can depend on the pre-deploy baseline
// (baseline = "ratio" | "delta", compare_latency).

// DurationStats lists the statistics of the Duration metric the watcher
// must query for a watch whose pre-deploy baseline is baseline (alias-level
// samples; nil when there is none yet): each latency rule's own statistic
// (e.g. "p99") and, for percentile statistics, the trimmed counts
// "TC(X:)" its test needs, X rounded to a whole millisecond so that the
// name is stable. A sample of statistic s has Metric "Duration." + s, e.g.
// "Duration.TC(412:)". The result is deterministic (rule order, no
// duplicates) and is the same for the same baseline, so the watcher can
// key its query plan on it. Baseline-relative thresholds are left out when
// the baseline has no value for the rule's statistic.
func (p *Policy) DurationStats(baseline []sample.Sample) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for i := range p.rules {
		r := &p.rules[i]
		if !r.isLatency() {
			continue
		}
		add(r.stat)
		for _, x := range r.slowThresholds(baseline) {
			add(tcStat(x))
		}
	}
	return out
}

// isLatency reports whether r judges the Duration metric.
func (r *rule) isLatency() bool {
	return r.kind == config.RuleLatency || r.kind == config.RuleCompareLatency
}

// percentileOf returns NN for a statistic "pNN" (e.g. 99.9 for "p99.9").
func percentileOf(stat string) (float64, bool) {
	if !strings.HasPrefix(stat, "p") {
		return 0, false
	}
	v, err := strconv.ParseFloat(stat[1:], 64)
	if err != nil || v <= 0 || v >= 100 {
		return 0, false
	}
	return v, true
}

// slowThresholds are the thresholds X (ms, whole) whose trimmed counts
// TC(X:) rule r's test reads, for a percentile rule with an upper
// threshold: the absolute threshold; ratio × or delta + the baseline's
// percentile; for compare_latency the baseline's percentile (counted on the
// known-good side) and (1 + min_effect) × it (counted on the new side).
func (r *rule) slowThresholds(baseline []sample.Sample) []float64 {
	if _, ok := percentileOf(r.stat); !ok || (r.op != opGT && r.op != opGE) {
		return nil
	}
	if r.kind == config.RuleLatency && r.rel == relAbsolute {
		return wholeMs(r.threshold)
	}
	base, ok := baselinePercentile(baseline, r.stat)
	if !ok {
		return nil
	}
	switch {
	case r.kind == config.RuleCompareLatency:
		return append(wholeMs(base), wholeMs(base*(1+r.minEffect))...)
	case r.rel == relRatio:
		return wholeMs(base * r.threshold)
	default: // relDelta
		return wholeMs(base + r.threshold)
	}
}

// wholeMs rounds a threshold to a whole millisecond; thresholds below 1 ms
// are not queried.
func wholeMs(x float64) []float64 {
	x = math.Round(x)
	if x < 1 || math.IsInf(x, 0) || math.IsNaN(x) {
		return nil
	}
	return []float64{x}
}

// tcStat names the trimmed count of invocations slower than x ms.
func tcStat(x float64) string {
	return "TC(" + strconv.FormatInt(int64(x), 10) + ":)"
}

// baselinePercentile is the known-good value of a Duration statistic: the
// invocation-weighted median of the baseline's per-period values (alias
// level, delivered datapoints), so that a busy period counts for more than
// a quiet one whose percentile rests on a handful of invocations.
func baselinePercentile(baseline []sample.Sample, stat string) (float64, bool) {
	metric := "Duration." + stat
	inv := map[int64]float64{}
	for i := range baseline {
		s := &baseline[i]
		if s.Kind == sample.KindMetric && s.Version == "" && s.Metric == "Invocations" && s.Outcome == sample.OutcomeOK {
			inv[s.Time.UnixNano()] = s.Value
		}
	}
	type vw struct{ v, w float64 }
	var xs []vw
	var total float64
	for i := range baseline {
		s := &baseline[i]
		if s.Kind != sample.KindMetric || s.Version != "" || s.Metric != metric || s.Outcome != sample.OutcomeOK {
			continue
		}
		w, ok := inv[s.Time.UnixNano()]
		if !ok {
			w = 1
		}
		if w <= 0 || math.IsNaN(s.Value) {
			continue
		}
		xs = append(xs, vw{s.Value, w})
		total += w
	}
	if len(xs) == 0 {
		return 0, false
	}
	slices.SortFunc(xs, func(a, b vw) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	cum := 0.0
	for _, x := range xs {
		cum += x.w
		if cum >= total/2 {
			return x.v, true
		}
	}
	return xs[len(xs)-1].v, true
}
