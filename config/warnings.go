package config

import "fmt"

// warnRule notes the keys of a rule that load but no longer mean anything:
// the statistical rules count their evidence over the whole watch in
// invocations, so windows, persistence and period counts play no part.
// Only keys written in the file are reported (defaults are not).
func (l *loader) warnRule(p string, r *Rule) {
	if !Statistical(r.Kind) {
		if l.pos.written(p + ".confidence") {
			l.warn(p+".confidence", "a metric rule is not statistical: confidence has no effect")
		}
		return
	}
	why := fmt.Sprintf("has no effect on kind %s: it is a sequential test over the whole watch, counted in invocations", r.Kind)
	if r.Kind == RuleProbe {
		why = "has no effect on kind probe: it is a sequential test of the failure rate over the whole watch, counted in probe results"
	}
	for _, k := range []string{"window", "for", "breaches", "of_windows"} {
		if l.pos.written(p + "." + k) {
			l.warn(p+"."+k, "%s", why)
		}
	}
	if r.Kind != RuleProbe && l.pos.written(p+".min_samples") {
		l.warn(p+".min_samples", "%s (min_invocations is its evidence bound)", why)
	}
	if r.Kind == RuleProbe && l.pos.written(p+".consecutive_failures") {
		l.warn(p+".consecutive_failures", "%s; failure_ratio sets the failure rate tolerated", why)
	}
	if r.Kind == RuleProbe && l.pos.written(p+".min_invocations") {
		l.warn(p+".min_invocations", "has no effect on kind probe (min_samples is its evidence bound)")
	}
	if l.pos.written(p+".missing_data") && r.MissingData != MissingIgnore {
		l.warn(p+".missing_data", "has no effect on kind %s: a period without data is no evidence either way", r.Kind)
	}
	if r.MinEffect != 0 && r.Kind != RuleCompareErrors && r.Kind != RuleCompareLatency && r.Kind != RuleProbe {
		l.warn(p+".min_effect", "has no effect on kind %s (threshold sets how much worse trips)", r.Kind)
	}
	if r.BurstCV != 0 && (r.Baseline == "ratio" || (r.Kind != RuleErrorRate && r.Kind != RuleThrottles && r.Kind != RuleLatency)) {
		l.warn(p+".burst_cv", "has no effect on kind %s with baseline %q (only absolute rules test against a threshold's bursts)", r.Kind, r.Baseline)
	}
	if r.Warmup.Duration != 0 && l.pos.written(p+".warmup") && r.Kind != RuleLatency && r.Kind != RuleCompareLatency {
		l.warn(p+".warmup", "only latency rules have a warm-up")
	}
	l.hintRelative(p, r)
}

// hintRelative points a rule written as a ratio or delta of the
// known-good (the way static alarms are written) to the compare rule that
// asks its question with more power: measured on the quality benchmark,
// such rules catch none of the 2x error rates and none of the p99
// regressions in time (README, "Rules written as ratios").
func (l *loader) hintRelative(p string, r *Rule) {
	switch {
	case r.Kind == RuleLatency && r.Baseline != "":
		l.warn(p+".baseline", "a latency threshold relative to the known-good's %s must allow any bursts of slow invocations at the threshold that the baseline does not rule out, so it catches few regressions in time; kind compare_latency counts the new version's invocations slower than the known-good's %s instead (README, \"Rules written as ratios\")", r.Stat, r.Stat)
	case r.Kind == RuleErrorRate && r.Baseline == "ratio":
		l.warn(p+".baseline", "trips only when the error rate is significantly above %g times the known-good's, so a regression of %gx is not caught; kind compare_errors tests for any rise beyond min_effect (README, \"Rules written as ratios\")", r.Threshold, r.Threshold)
	}
}

func (l *loader) warn(path, format string, args ...any) {
	l.warnings = append(l.warnings, Problem{Path: path, Line: l.pos.lineOf(path), Msg: fmt.Sprintf(format, args...)})
}
