package policy

import (
	"errors"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/config"
)

// Defaults assumed when a field arrives as its zero value. config.Load
// applies the same defaults (config/defaults.go); Compile repeats them so a
// Target built in code is judged safely too.
const (
	defaultBake           = 10 * time.Minute
	defaultPeriod         = time.Minute
	defaultWindow         = 5 * time.Minute
	defaultMinInvocations = 50   // error_rate, compare_errors
	defaultMinSamples     = 3    // periods or probe results
	defaultConsecutive    = 3    // probe: when failure_ratio is not set either
	defaultConfidence     = 0.99 // compare_*
	defaultStat           = "p99"
	// minCompareErrors is the fewest errors the new side must have before
	// compare_errors may breach, whatever the p-value says: a guard against
	// the overdispersion real error counts show beyond the binomial model.
	minCompareErrors = 5
	// ratioNoBaseline stands in for x/0 when the known-good value is 0 and
	// the new one is not: finite, so findings stay JSON-encodable.
	ratioNoBaseline = 1e9
)

// Policy is a target's compiled rules. It is immutable and safe for
// concurrent use; Evaluate is a pure function of its arguments.
type Policy struct {
	target     string
	bake       time.Duration
	bakeStr    string
	period     time.Duration
	rules      []rule
	metrics    []string       // metric names the rules read; index = metric id
	metricID   map[string]int // inverse of metrics
	probeIDs   int            // number of probe series (one per probe rule)
	probeNames []string       // per probe series: the probe it reads ("" = all)
	lookback   time.Duration
}

type opKind uint8

const (
	opGT opKind = iota
	opGE
	opLT
	opLE
)

func (o opKind) cmp(v, thr float64) bool {
	switch o {
	case opGE:
		return v >= thr
	case opLT:
		return v < thr
	case opLE:
		return v <= thr
	}
	return v > thr
}

type relMode uint8

const (
	relAbsolute relMode = iota
	relRatio
	relDelta
)

type missingMode uint8

const (
	missIgnore missingMode = iota
	missBreaching
	missGood
)

// rule is a config.Rule with defaults applied and names resolved to ids.
type rule struct {
	idx        int // position in Policy.rules
	name, kind string
	op         opKind
	opStr      string
	threshold  float64
	rel        relMode
	minInv     float64
	minSamples int
	forDur     time.Duration
	window     time.Duration
	m, n       int
	missing    missingMode
	probe      string
	consec     int
	failRatio  float64
	alpha      float64 // 1 - confidence
	minEffect  float64
	mA, mB     int    // metric ids: errors+invocations, or the value metric (mB = -1)
	probeID    int    // probe series id, probe rules only
	stat       string // latency rules: the Duration statistic ("p99")
	noGoNote   string // compare rules: the note when the test does not reject
}

func (r *rule) isProbe() bool { return r.kind == config.RuleProbe }

// Compile builds a target's policy from its rules and bake time. It rejects
// what cannot be judged (unknown kind, op, baseline mode, missing-data
// treatment, impossible M of N, a probe rule naming an unknown probe) with an
// error naming the rule.
func Compile(t config.Target) (*Policy, error) {
	p := &Policy{
		target:   t.Name,
		bake:     orDur(t.BakeTime.Duration, defaultBake),
		period:   orDur(t.MetricPeriod.Duration, defaultPeriod),
		metricID: map[string]int{},
	}
	p.bakeStr = p.bake.String()
	if p.bake < 0 || p.period < 0 {
		return nil, errors.New("policy: bake_time and metric_period must not be negative")
	}
	if len(t.Rules) == 0 {
		return nil, fmt.Errorf("policy: target %q has no rules", t.Name)
	}
	probes := map[string]bool{}
	for _, pr := range t.Probes {
		probes[pr.Name] = true
	}
	seen := map[string]bool{}
	var errs []error
	for i, cr := range t.Rules {
		r, err := p.compileRule(cr, probes)
		if err == nil && seen[cr.Name] {
			err = errors.New("duplicate rule name")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %d (%q): %w", i, cr.Name, err))
			continue
		}
		seen[cr.Name] = true
		r.idx = len(p.rules)
		p.rules = append(p.rules, r)
		// Metric windows end at the newest delivered period, which trails
		// the newest probe by the metric lag.
		lag := time.Duration(max(t.MetricLag, 3)+2) * p.period
		if lb := r.forDur + time.Duration(r.n)*r.window + lag; lb > p.lookback {
			p.lookback = lb
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("policy: target %q: %w", t.Name, err)
	}
	return p, nil
}

func (p *Policy) compileRule(cr config.Rule, probes map[string]bool) (rule, error) {
	r := rule{
		name:       cr.Name,
		kind:       cr.Kind,
		threshold:  cr.Threshold,
		window:     orDur(cr.Window.Duration, defaultWindow),
		forDur:     cr.For.Duration,
		minSamples: orInt(cr.MinSamples, defaultMinSamples),
		m:          cr.Breaches,
		n:          cr.OfWindows,
		probe:      cr.Probe,
		failRatio:  cr.FailureRatio,
		minEffect:  cr.MinEffect,
		mA:         -1,
		mB:         -1,
		probeID:    -1,
	}
	if cr.Name == "" {
		return r, errors.New("rule needs a name")
	}
	var err error
	if r.op, r.opStr, err = parseOp(cr.Op); err != nil {
		return r, err
	}
	if r.rel, err = parseRel(cr.Baseline); err != nil {
		return r, err
	}
	if r.missing, err = parseMissing(cr.MissingData); err != nil {
		return r, err
	}
	if err := r.windows(); err != nil {
		return r, err
	}
	if r.window < 0 || r.forDur < 0 || cr.MinInvocations < 0 || r.minSamples < 0 || r.minEffect < 0 {
		return r, errors.New("window, for, min_invocations, min_samples and min_effect must not be negative")
	}
	conf := cr.Confidence
	if conf == 0 {
		conf = defaultConfidence
	}
	if conf <= 0 || conf >= 1 {
		return r, fmt.Errorf("confidence %v must be between 0 and 1", conf)
	}
	r.alpha = 1 - conf
	r.noGoNote = fmt.Sprintf("not worse than known-good at confidence %.3g, min_effect %.3g", conf, r.minEffect)
	stat := cr.Stat
	if stat == "" {
		stat = defaultStat
	}
	switch cr.Kind {
	case config.RuleErrorRate, config.RuleCompareErrors:
		r.minInv = float64(orInt(cr.MinInvocations, defaultMinInvocations))
		r.mA, r.mB = p.metric("Errors"), p.metric("Invocations")
	case config.RuleLatency, config.RuleCompareLatency:
		r.stat = stat
		r.mA = p.metric("Duration." + stat)
	case config.RuleThrottles:
		r.mA = p.metric("Throttles")
	case config.RuleMetric:
		r.mA = p.metric("rule:" + cr.Name)
	case config.RuleProbe:
		if cr.Probe != "" && !probes[cr.Probe] {
			return r, fmt.Errorf("probe %q is not defined for this target", cr.Probe)
		}
		if len(probes) == 0 {
			return r, errors.New("the target defines no probe for this rule to judge")
		}
		if r.failRatio < 0 || r.failRatio > 1 || cr.ConsecutiveFailures < 0 {
			return r, errors.New("failure_ratio must be within [0,1] and consecutive_failures not negative")
		}
		r.consec = cr.ConsecutiveFailures
		if r.consec == 0 && r.failRatio == 0 {
			r.consec = defaultConsecutive
		}
		r.probeID = p.probeIDs
		p.probeIDs++
		p.probeNames = append(p.probeNames, cr.Probe)
	default:
		return r, fmt.Errorf("unknown kind %q", cr.Kind)
	}
	if !r.isProbe() && r.window < p.period {
		return r, fmt.Errorf("window %s is shorter than metric_period %s: it could hold no period", r.window, p.period)
	}
	if r.rel != relAbsolute {
		switch cr.Kind {
		case config.RuleProbe, config.RuleCompareErrors, config.RuleCompareLatency:
			return r, fmt.Errorf("baseline %q does not apply to kind %q", cr.Baseline, cr.Kind)
		}
	}
	return r, nil
}

// windows validates and defaults Breaches/OfWindows (M of N).
func (r *rule) windows() error {
	if r.m == 0 && r.n == 0 {
		r.m, r.n = 1, 1
	}
	if r.n == 0 {
		r.n = r.m
	}
	if r.m == 0 {
		r.m = r.n
	}
	if r.m < 0 || r.n < 0 || r.m > r.n {
		return fmt.Errorf("breaches %d of_windows %d: need 1 <= breaches <= of_windows", r.m, r.n)
	}
	return nil
}

func (p *Policy) metric(name string) int {
	if id, ok := p.metricID[name]; ok {
		return id
	}
	p.metricID[name] = len(p.metrics)
	p.metrics = append(p.metrics, name)
	return len(p.metrics) - 1
}

// Metrics lists the metric names (Sample.Metric) the rules read, e.g.
// "Invocations", "Errors", "Duration.p99", "rule:<name>".
func (p *Policy) Metrics() []string { return append([]string(nil), p.metrics...) }

// Lookback is how far back from the newest sample the rules ever look:
// the longest For + OfWindows*Window, plus the metric lag (at least 3) and
// two periods of slack. History
// prunes samples older than this.
func (p *Policy) Lookback() time.Duration { return p.lookback }

// BakeTime is the bake time in effect (with the default applied).
func (p *Policy) BakeTime() time.Duration { return p.bake }

// Period is the metric period in effect (with the default applied).
func (p *Policy) Period() time.Duration { return p.period }

func parseOp(s string) (opKind, string, error) {
	switch s {
	case "", ">":
		return opGT, ">", nil
	case ">=":
		return opGE, s, nil
	case "<":
		return opLT, s, nil
	case "<=":
		return opLE, s, nil
	}
	return 0, "", fmt.Errorf("unknown op %q (want >, >=, < or <=)", s)
}

func parseRel(s string) (relMode, error) {
	switch s {
	case "":
		return relAbsolute, nil
	case "ratio":
		return relRatio, nil
	case "delta":
		return relDelta, nil
	}
	return 0, fmt.Errorf("unknown baseline %q (want ratio or delta)", s)
}

func parseMissing(s string) (missingMode, error) {
	switch s {
	case "", config.MissingIgnore:
		return missIgnore, nil
	case config.MissingBreaching:
		return missBreaching, nil
	case config.MissingGood:
		return missGood, nil
	}
	return 0, fmt.Errorf("unknown missing_data %q (want ignore, breaching or good)", s)
}

func orDur(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}

func orInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}
