package quality

import (
	"fmt"

	"github.com/canaryd/canaryd/config"
)

// StatsFromRules are the Duration statistics a target's latency rules read
// (their stat fields, p99 by default), the way the watcher chooses them.
// The trimmed counts the daemon adds for a baseline come from
// (*policy.Policy).DurationStatsSince (Options.DurationStats).
func StatsFromRules(t config.Target) []string {
	var out []string
	for _, r := range t.Rules {
		if r.Kind != config.RuleLatency && r.Kind != config.RuleCompareLatency {
			continue
		}
		st := r.Stat
		if st == "" {
			st = "p99"
		}
		out = union(out, []string{st})
	}
	return out
}

// TargetOptions are the materialiser options for judging a target: its
// probe rule's probe, its rules' statistics, its custom metrics, the
// probe results before the deploy (the known-good version's health), its
// baseline_window and, when longer, its shape_window.
func TargetOptions(t config.Target) (Options, error) {
	o := Options{Stats: StatsFromRules(t), ProbeBaseline: true}
	if w, per := t.BaselineWindow.Duration, t.MetricPeriod.Duration; w > 0 && per > 0 {
		o.BaselinePeriods = int(w / per)
		if sw := t.ShapeWindow.Duration; sw > w {
			o.ShapePeriods = int(sw / per)
		}
	}
	o.DeployPeriods = t.MetricLag // the periods watch.ReadsNewVersion reads
	for _, r := range t.Rules {
		switch r.Kind {
		case config.RuleProbe:
			if o.ProbeName == "" {
				o.ProbeName = r.Probe
			}
		case config.RuleMetric:
			o.CustomMetrics = append(o.CustomMetrics, "rule:"+r.Name)
		case config.RuleThrottles:
			// The watcher reads the concurrency's use for a share of
			// requests judged against a threshold (policy's capacity).
			o.Concurrency = o.Concurrency || (r.Threshold < 1 && r.Baseline != "ratio")
		}
	}
	if o.ProbeName == "" && len(t.Probes) > 0 {
		o.ProbeName = t.Probes[0].Name
	}
	for _, st := range o.Stats {
		if _, err := parseStat(st); err != nil {
			return o, fmt.Errorf("target %s: %w", t.Name, err)
		}
	}
	return o, nil
}
