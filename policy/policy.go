package policy

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// Policy is a target's compiled rules. It is immutable and safe for
// concurrent use; Evaluate is a pure function of its arguments.
//
// Compile trusts a validated config: config.Load applies every default and
// checks every range (config.CheckRule, the same check Compile runs, so the
// two can never disagree). A Target built in code must pass through
// config.ApplyTargetDefaults first.
type Policy struct {
	target   string
	bake     time.Duration
	horizon  time.Duration    // baseline_horizon: trips against the baseline later than this alert only (0: never)
	epochOff [maxEpochs]int64 // epochs' starts after the deploy
	bakeStr  string
	period   time.Duration
	lag      int // periods CloudWatch re-reads: older periods are final
	rules    []rule
	metrics  []string       // static metric names the rules read; index = metric id
	metricID map[string]int // inverse of metrics
	probeIDs int            // number of probe series (one per probe rule)
	// probeNames per probe series: the probe it reads ("" = all).
	probeNames []string
	lookback   time.Duration // raw samples a folding History keeps
	// baseline_window and shape_window: a baseline's metric samples older
	// than the first are history, read for the shape of bursts alone.
	baselineWindow, shapeWindow time.Duration
	empty                       *PreparedBaseline // the baseline of a watch without one
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

// testKind says how a rule is judged.
type testKind uint8

const (
	// testRate: events out of trials against a rate (error_rate, latency
	// as slow invocations, throttles as a share of requests).
	testRate testKind = iota
	// testPerPeriod: a count per period against a mean (throttles with a
	// threshold of 1 or more).
	testPerPeriod
	// testTwoSample: the new version's rate against the known-good's
	// (compare_errors, compare_latency, error_rate with baseline = "ratio").
	testTwoSample
	// testProbe: failed probes out of probe results, against a tolerated
	// rate and against the known-good's pre-deploy rate.
	testProbe
	// testWindow: a custom metric against a threshold, windowed, not
	// statistical.
	testWindow
)

// rule is a config.Rule resolved to ids and test parameters.
type rule struct {
	idx        int // position in Policy.rules
	name, kind string
	test       testKind
	op         opKind
	opStr      string
	threshold  float64
	rel        relMode
	alpha      float64 // 1 - confidence: false-rollback probability over the watch
	minEffect  float64
	burstCV    float64 // absolute count rules: the bursts at the threshold asserted (0: none)
	minInv     float64 // min_invocations: evidence needed to vouch (count rules)
	minSamples int     // periods (metric rules) or probe results (probe rules) needed
	stat       string  // latency rules: the Duration statistic ("p99")
	warmup     time.Duration
	// Static metric ids (-1: none). Latency events are per watch (the
	// TC(X:) names depend on the baseline): see PreparedBaseline.
	events, trials, extraTrials int
	value                       int // Duration.<stat> (latency) or the custom metric
	conc, pool                  int // throttles as a share: ConcurrencyUse, PoolUse (capacity.go)
	// Windowed (metric) rules.
	window  time.Duration
	forDur  time.Duration
	m, n    int
	missing missingMode
	// Probe rules.
	probeID   int
	tolerance float64 // failure rate tolerated without a baseline
}

func (r *rule) isProbe() bool { return r.test == testProbe }

// DefaultProbeTolerance is the failure rate a probe rule tolerates when it
// sets no failure_ratio: a flaky health check failing up to 10% of the time
// never trips the absolute test; the test against the known-good's own
// pre-deploy failure rate catches smaller regressions when probes ran
// before the deploy.
const DefaultProbeTolerance = 0.1

// Compile builds a target's policy from its rules. It rejects what cannot
// be judged with an error naming the rule; config.Load has rejected the
// same things already (config.CheckRule).
func Compile(t config.Target) (*Policy, error) {
	p := &Policy{
		target:   t.Name,
		bake:     t.BakeTime.Duration,
		horizon:  t.BaselineHorizon.Duration,
		period:   t.MetricPeriod.Duration,
		lag:      t.MetricLag,
		metricID: map[string]int{},

		baselineWindow: t.BaselineWindow.Duration,
		shapeWindow:    t.ShapeWindow.Duration,
	}
	p.bakeStr = p.bake.String()
	p.epochOff = epochOffsets(p.bake)
	if p.bake <= 0 || p.period < time.Minute || p.lag < 0 {
		return nil, fmt.Errorf("policy: target %q: bake_time, metric_period and metric_lag missing or out of range (apply config defaults first)", t.Name)
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
		err := errors.Join(config.CheckRule(cr, probes, p.period)...)
		if err == nil && seen[cr.Name] {
			err = errors.New("duplicate rule name")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %d (%q): %w", i, cr.Name, err))
			continue
		}
		seen[cr.Name] = true
		r := p.compileRule(cr)
		r.idx = len(p.rules)
		p.rules = append(p.rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("policy: target %q: %w", t.Name, err)
	}
	p.lookback = p.computeLookback()
	p.empty = p.PrepareBaseline(nil)
	return p, nil
}

func (p *Policy) compileRule(cr config.Rule) rule {
	r := rule{
		name: cr.Name, kind: cr.Kind, threshold: cr.Threshold,
		alpha: 1 - cr.Confidence, minEffect: cr.MinEffect, burstCV: cr.BurstCV,
		minInv: float64(cr.MinInvocations), minSamples: cr.MinSamples,
		window: cr.Window.Duration, forDur: cr.For.Duration, m: cr.Breaches, n: cr.OfWindows,
		warmup: cr.Warmup.Duration, tolerance: cr.FailureRatio,
		events: -1, trials: -1, extraTrials: -1, value: -1, conc: -1, pool: -1, probeID: -1,
	}
	r.op, r.opStr = parseOp(cr.Op)
	r.rel = parseRel(cr.Baseline)
	r.missing = parseMissing(cr.MissingData)
	switch cr.Kind {
	case config.RuleErrorRate:
		r.test = testRate
		if r.rel == relRatio {
			r.test = testTwoSample
		}
		r.events, r.trials = p.metric("Errors"), p.metric("Invocations")
	case config.RuleCompareErrors:
		r.test = testTwoSample
		r.events, r.trials = p.metric("Errors"), p.metric("Invocations")
	case config.RuleLatency, config.RuleCompareLatency:
		r.test = testRate
		if cr.Kind == config.RuleCompareLatency {
			r.test = testTwoSample
		}
		r.stat = cr.Stat
		r.trials, r.value = p.metric("Invocations"), p.metric("Duration."+cr.Stat)
	case config.RuleThrottles:
		r.test = testPerPeriod
		r.events = p.metric("Throttles")
		if r.threshold < 1 || r.rel == relRatio {
			r.test = testRate // a share of requests: throttled / (invoked + throttled)
			if r.rel == relRatio {
				r.test = testTwoSample
			}
			r.trials, r.extraTrials = p.metric("Invocations"), r.events
			if r.test == testRate {
				r.conc, r.pool = p.metric(sample.MetricConcurrencyUse), p.metric(sample.MetricPoolUse)
			}
		}
	case config.RuleMetric:
		r.test = testWindow
		r.value = p.metric("rule:" + cr.Name)
	case config.RuleProbe:
		r.test = testProbe
		if r.tolerance <= 0 {
			r.tolerance = DefaultProbeTolerance
		}
		r.probeID = p.probeIDs
		p.probeIDs++
		p.probeNames = append(p.probeNames, cr.Probe)
	}
	return r
}

// computeLookback is how far back from the newest sample the rules look
// at raw samples: the statistical rules only at periods not yet folded
// into a History's evidence (metric_lag periods and two of slack), the
// metric rules at their windows (for + of_windows × window) behind the
// metric lag.
func (p *Policy) computeLookback() time.Duration {
	lag := time.Duration(p.lag+2) * p.period
	lb := lag + p.period
	for i := range p.rules {
		r := &p.rules[i]
		if r.test == testWindow {
			lb = max(lb, r.forDur+time.Duration(r.n)*r.window+lag)
		}
	}
	return lb
}

func (p *Policy) metric(name string) int {
	if id, ok := p.metricID[name]; ok {
		return id
	}
	p.metricID[name] = len(p.metrics)
	p.metrics = append(p.metrics, name)
	return len(p.metrics) - 1
}

// Metrics lists the metric names (Sample.Metric) the rules read whatever
// the baseline, e.g. "Invocations", "Errors", "Duration.p99",
// "rule:<name>"; DurationStats adds the per-watch trimmed counts.
func (p *Policy) Metrics() []string { return append([]string(nil), p.metrics...) }

// Lookback is how long a History that does not fold must keep samples:
// 0, everything, because the statistical rules judge the evidence of a
// watch's whole life (NewHistory(p.Lookback()) is correct, but its memory
// grows with the watch's age). A History made by Policy.NewHistory folds
// what can no longer change and prunes on its own: it keeps only the
// periods not yet folded and the metric rules' windows.
func (p *Policy) Lookback() time.Duration { return 0 }

// BakeTime is the bake time in effect.
func (p *Policy) BakeTime() time.Duration { return p.bake }

// Period is the metric period in effect.
func (p *Policy) Period() time.Duration { return p.period }

// Alpha is the watch-level false-rollback bound the rules declare: the sum
// of their α (1 - confidence) over the statistical rules.
func (p *Policy) Alpha() float64 {
	a := 0.0
	for i := range p.rules {
		if p.rules[i].test != testWindow {
			a += p.rules[i].alpha
		}
	}
	return a
}

// parseOp, parseRel and parseMissing read values config.CheckRule has
// validated.
func parseOp(s string) (opKind, string) {
	switch s {
	case ">=":
		return opGE, s
	case "<":
		return opLT, s
	case "<=":
		return opLE, s
	}
	return opGT, ">"
}

func parseRel(s string) relMode {
	switch s {
	case "ratio":
		return relRatio
	case "delta":
		return relDelta
	}
	return relAbsolute
}

func parseMissing(s string) missingMode {
	switch s {
	case config.MissingBreaching:
		return missBreaching
	case config.MissingGood:
		return missGood
	}
	return missIgnore
}

// logLevel is log(1/α): an e-value at or above it trips the rule.
func (r *rule) logLevel() float64 { return math.Log(1 / r.alpha) }
