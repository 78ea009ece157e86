package config

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// This file is the one check of a rule's ranges: Load reports its errors
// with the rule's path, and policy.Compile runs it too, so the two can
// never disagree about what is valid.

// CloudWatch's statistics: the five basic ones, IQM, the percentile pNN
// and the extended statistics in their short (tm99, wm95, tc90, ts99) and
// range forms (TM(10%:90%), WM(…), TC(…), TS(…) with absolute or percent
// bounds; PR(a:b), the percentile rank, with absolute ones only).
var (
	statBasic = regexp.MustCompile(`^(Sum|Average|SampleCount|Minimum|Maximum|IQM)$`)
	statShort = regexp.MustCompile(`^(p|tm|wm|tc|ts)(100|\d{1,2}(\.\d{1,10})?)$`)
	statRange = regexp.MustCompile(`^(TM|WM|TC|TS)\((\d+(\.\d+)?%?)?:(\d+(\.\d+)?%?)?\)$`)
	statRank  = regexp.MustCompile(`^PR\((\d+(\.\d+)?)?:(\d+(\.\d+)?)?\)$`)
)

// ValidStatistic reports whether CloudWatch accepts s as a statistic.
func ValidStatistic(s string) bool {
	switch {
	case statBasic.MatchString(s), statShort.MatchString(s):
		return true
	case statRange.MatchString(s), statRank.MatchString(s):
		lo, hi, _ := strings.Cut(s[strings.IndexByte(s, '(')+1:len(s)-1], ":")
		return lo != "" || hi != "" // at least one bound
	}
	return false
}

// FieldError is a problem with one key of a rule.
type FieldError struct {
	Field string // the key, e.g. "threshold" ("" for the rule as a whole)
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// CheckRule validates a rule whose defaults are applied (Load, or
// ApplyTargetDefaults): probes are the target's probe names, period its
// metric period. It returns every problem, each a *FieldError.
func CheckRule(r Rule, probes map[string]bool, period time.Duration) []error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, fieldErr(field, format, args...)) }
	if r.Name == "" {
		add("name", "required")
	}
	errs = append(errs, checkKind(r, probes)...)
	if r.Stat != "" && !ValidStatistic(r.Stat) {
		add("stat", "must be a CloudWatch statistic: Sum, Average, SampleCount, Minimum, Maximum, IQM, pNN, tmNN, wmNN, tcNN, tsNN, TM/WM/TC/TS(a:b) or PR(a:b) (got %q)", r.Stat)
	}
	switch r.Op {
	case ">", ">=":
	case "<", "<=":
		if r.Kind != RuleMetric {
			add("op", "a %s rule trips when the target gets worse: op must be > or >= (got %q)", r.Kind, r.Op)
		}
	default:
		add("op", "must be >, >=, < or <= (got %q)", r.Op)
	}
	switch r.Baseline {
	case "":
	case "ratio", "delta":
		if r.Kind == RuleProbe || r.Kind == RuleCompareErrors || r.Kind == RuleCompareLatency {
			add("baseline", "baseline %q does not apply to kind %q (compare_* and probe rules compare with known-good by themselves)", r.Baseline, r.Kind)
		}
	default:
		add("baseline", "must be \"ratio\" or \"delta\" (got %q)", r.Baseline)
	}
	switch r.MissingData {
	case MissingIgnore, MissingBreaching, MissingGood:
	default:
		add("missing_data", "must be ignore, breaching or good (got %q)", r.MissingData)
	}
	if r.Threshold < 0 {
		add("threshold", "must not be negative (got %g)", r.Threshold)
	}
	errs = append(errs, checkEvidence(r, period)...)
	if Statistical(r.Kind) && (r.Confidence < 0.5 || r.Confidence >= 1) {
		add("confidence", "must be in [0.5, 1): 1 - the false-rollback probability over a watch (got %g)", r.Confidence)
	}
	if r.MinEffect < 0 {
		add("min_effect", "must not be negative (got %g)", r.MinEffect)
	}
	if r.BurstCV < 0 || math.IsNaN(r.BurstCV) || math.IsInf(r.BurstCV, 0) {
		add("burst_cv", "must be a coefficient of variation above 0, or 0 for none (got %g)", r.BurstCV)
	}
	return errs
}

// checkKind checks what depends on the rule's kind.
func checkKind(r Rule, probes map[string]bool) []error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, fieldErr(field, format, args...)) }
	switch r.Kind {
	case RuleErrorRate:
		switch {
		case r.Baseline == "" && (r.Threshold <= 0 || r.Threshold > 1):
			add("threshold", "error rate threshold must be in (0, 1] (got %g)", r.Threshold)
		case r.Baseline == "ratio" && r.Threshold < 1:
			add("threshold", "a ratio to the known-good error rate must be at least 1 (got %g)", r.Threshold)
		case r.Baseline == "delta" && r.Threshold >= 1:
			add("threshold", "an error rate delta must be below 1 (got %g)", r.Threshold)
		}
	case RuleLatency, RuleThrottles:
		if r.Threshold <= 0 {
			add("threshold", "must be > 0 (got %g)", r.Threshold)
		}
		if r.Kind == RuleThrottles && r.Baseline == "ratio" && r.Threshold < 1 {
			add("threshold", "a ratio to the known-good throttle share must be at least 1 (got %g)", r.Threshold)
		}
	case RuleCompareErrors, RuleCompareLatency:
	case RuleMetric:
		if r.Expression == "" && (r.Namespace == "" || r.MetricName == "") {
			add("", "metric rule needs namespace and metric_name, or expression")
		}
	case RuleProbe:
		if !probes[r.Probe] {
			add("probe", "unknown probe %q", r.Probe)
		}
		if r.FailureRatio < 0 || r.FailureRatio >= 1 {
			add("failure_ratio", "must be in [0, 1): the failure rate tolerated (got %g)", r.FailureRatio)
		}
		if r.ConsecutiveFailures < 0 {
			add("consecutive_failures", "must not be negative")
		}
	default:
		add("kind", "must be one of error_rate, latency, throttles, metric, probe, compare_errors, compare_latency (got %q)", r.Kind)
	}
	return errs
}

// checkEvidence checks the evidence and window keys.
func checkEvidence(r Rule, period time.Duration) []error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, fieldErr(field, format, args...)) }
	if Statistical(r.Kind) && r.Kind != RuleProbe && (r.MinInvocations < 1 || r.MinInvocations > 1_000_000_000) {
		add("min_invocations", "must be between 1 and 1000000000 (got %d)", r.MinInvocations)
	}
	if r.MinSamples < 1 || r.MinSamples > 10_000 {
		add("min_samples", "must be between 1 and 10000 (got %d)", r.MinSamples)
	}
	if r.OfWindows < 1 || r.OfWindows > 100 {
		add("of_windows", "must be between 1 and 100 (got %d)", r.OfWindows)
	}
	if r.Breaches < 1 || r.Breaches > r.OfWindows {
		add("breaches", "must be between 1 and of_windows (%d) (got %d)", r.OfWindows, r.Breaches)
	}
	if r.Window.Duration < time.Second {
		add("window", "must be at least 1s (got %s)", r.Window.Duration)
	} else if r.Kind == RuleMetric && period > 0 && r.Window.Duration < period {
		add("window", "window %s is shorter than metric_period %s: it could hold no period", r.Window.Duration, period)
	}
	if r.For.Duration < 0 {
		add("for", "must not be negative")
	}
	if r.Warmup.Duration < 0 {
		add("warmup", "must not be negative")
	}
	return errs
}
