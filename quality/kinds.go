package quality

import (
	"fmt"
	"math"
	"time"
)

// Kind names a scenario kind, "good/..." or "bad/...".
type Kind string

// Scenario kinds. Good deploys must not be rolled back; bad ones must be
// rolled back within their deadline (see KindSpec.Deadline and README.md).
const (
	GoodSteady        Kind = "good/steady"
	GoodBursty        Kind = "good/bursty-errors"
	GoodLow           Kind = "good/low-traffic"
	GoodTrickle       Kind = "good/trickle"
	GoodSpikes        Kind = "good/traffic-spikes"
	GoodScaleOut      Kind = "good/scale-out"
	GoodColdStart     Kind = "good/cold-start"
	GoodGaps          Kind = "good/metric-gaps"
	GoodFlaky         Kind = "good/flaky-probe"
	GoodCanary        Kind = "good/canary-10pct"
	GoodIncident      Kind = "good/during-incident"
	GoodFixes         Kind = "good/fixes-incident"
	GoodHeavyTail     Kind = "good/heavy-tail"
	GoodDrift         Kind = "good/diurnal-drift"
	GoodClumpy        Kind = "good/clumpy-errors"
	GoodLatDrift      Kind = "good/latency-drift"
	GoodLowIncident   Kind = "good/low-traffic-incident"
	GoodProbeIncident Kind = "good/probe-incident"
	GoodConcurrency   Kind = "good/concurrency-limit"
	GoodLoadErrors    Kind = "good/load-errors"
	GoodLoadLatency   Kind = "good/load-latency"
	GoodRamp          Kind = "good/traffic-ramp"
	GoodRampLoad      Kind = "good/ramp-load"
	GoodAfterFix      Kind = "good/after-fix"
	GoodPoolOut       Kind = "good/pool-exhausted"

	BadErrors2x      Kind = "bad/errors-2x"
	BadErrors10x     Kind = "bad/errors-10x"
	BadHardFailure   Kind = "bad/hard-failure"
	BadHealthOnly    Kind = "bad/health-only"
	BadP99x15        Kind = "bad/p99-1.5x"
	BadP99x2         Kind = "bad/p99-2x"
	BadCanary        Kind = "bad/canary-regression"
	BadErrorRamp     Kind = "bad/error-ramp"
	BadLowHard       Kind = "bad/low-traffic-hard"
	BadThrottling    Kind = "bad/throttling"
	BadIncidentWorse Kind = "bad/incident-worse"
	BadDuringRamp    Kind = "bad/during-ramp"
	BadAfterFix      Kind = "bad/after-fix"
	BadAfterDeploy   Kind = "bad/after-deploy"
)

// KindSpec describes a kind: whether it is bad, the deadline by which
// catching it counts, and how its parameters are drawn.
type KindSpec struct {
	Kind     Kind
	Bad      bool
	Deadline time.Duration // bad kinds only
	About    string
	draw     func(r *rng, sc *Scenario)
}

var kindSpecs = []KindSpec{
	{GoodSteady, false, 0, "steady traffic (100-3000/min), mildly overdispersed errors", func(*rng, *Scenario) {}},
	{GoodBursty, false, 0, "bursty errors: per-minute error rate Beta with gamma-equivalent shape 0.3-2", drawBursty},
	{GoodLow, false, 0, "low traffic: 2-10 invocations a minute", func(r *rng, sc *Scenario) { sc.Traffic.PerMinute = r.logUniform(2, 10) }},
	{GoodTrickle, false, 0, "trickle: 2-12 invocations an hour", func(r *rng, sc *Scenario) { sc.Traffic.PerMinute = r.logUniform(2, 12) / 60 }},
	{GoodSpikes, false, 0, "traffic spikes: 2-4 bursts of 3-10x for 1-4 minutes", drawSpikes},
	{GoodScaleOut, false, 0, "traffic spikes at a slower function (median 100-1000 ms): 2-4 bursts of 3-10x for 1-4 minutes; every environment started for a spike serves one cold invocation, whichever version runs (idle ones kept 5-15 min)", drawScaleOut},
	{GoodColdStart, false, 0, "strong cold starts: 30-80% of the first invocations 5-15x slower, decaying with a 15-40 s time constant", drawColdStart},
	{GoodGaps, false, 0, "metric gaps: a 3-8 min CloudWatch outage, 20% late periods, 5% read errors, 3% missing", drawGaps},
	{GoodFlaky, false, 0, "flaky health probe: 2-8% of probes fail at random", func(r *rng, sc *Scenario) { sc.Probe.Flake = r.uniform(0.02, 0.08) }},
	{GoodCanary, false, 0, "good 10% canary split (300-5000/min)", func(r *rng, sc *Scenario) {
		sc.Split, sc.Weight, sc.Traffic.PerMinute = true, 0.1, r.logUniform(300, 5000)
	}},
	{GoodIncident, false, 0, "deploy during an incident: known-good already failing (3-20% errors, probes failing), new equally bad", drawIncident},
	{GoodFixes, false, 0, "deploy that fixes an ongoing incident", func(r *rng, sc *Scenario) { drawIncident(r, sc); sc.New.IncErrRate, sc.New.IncHealthFail = 0, 0 }},
	{GoodHeavyTail, false, 0, "heavy-tailed latency noise: 1-3% slow requests 8-25x slower, bursty per minute", drawHeavyTail},
	{GoodDrift, false, 0, "the time of day: every version's error rate (0.5-3%) rises 5-15% an hour (1000-5000/min), judged for an hour (baseline_horizon)", func(r *rng, sc *Scenario) {
		sc.Traffic.PerMinute, sc.ErrDrift, sc.Horizon = r.logUniform(1000, 5000), r.uniform(0.05, 0.15), time.Hour
		sc.Old.ErrRate = r.logUniform(0.005, 0.03)
		sc.New.ErrRate = sc.Old.ErrRate
	}},
	{GoodClumpy, false, 0, "rare errors in clumps: 0.01-0.05% of 300-3000/min, per-minute rate gamma-equivalent shape 0.02-0.1 (a downstream blip now and then)", func(r *rng, sc *Scenario) {
		sc.Traffic.PerMinute = r.logUniform(300, 3000)
		sc.Old.ErrRate, sc.Old.ErrKappa = r.logUniform(1e-4, 5e-4), r.logUniform(0.02, 0.1)
		sc.New.ErrRate, sc.New.ErrKappa = sc.Old.ErrRate, sc.Old.ErrKappa
	}},
	{GoodLatDrift, false, 0, "load through the day: every version's latency rises 5-15% an hour (100-5000/min), and the new version is up to 5% slower or 3% faster; judged for an hour (baseline_horizon)", func(r *rng, sc *Scenario) {
		sc.Traffic.PerMinute, sc.LatDrift, sc.Horizon = r.logUniform(100, 5000), r.uniform(0.05, 0.15), time.Hour
		sc.New.Latency.Median *= r.uniform(0.97, 1.05)
	}},
	{GoodLowIncident, false, 0, "deploy during an incident at low traffic (3-20/min): known-good already failing (3-20% errors, probes failing), new equally bad", func(r *rng, sc *Scenario) {
		drawIncident(r, sc)
		sc.Traffic.PerMinute = r.logUniform(3, 20)
	}},
	{GoodProbeIncident, false, 0, "an incident only the health endpoint shows (its own dependency down): 30-100% of probes failing for both versions since 5-20 min before the deploy, errors unchanged", func(r *rng, sc *Scenario) {
		drawIncident(r, sc)
		sc.Old.IncErrRate, sc.New.IncErrRate = sc.Old.ErrRate, sc.Old.ErrRate
	}},
	{GoodConcurrency, false, 0, "traffic spikes beyond the function's concurrency: 2-4 bursts of 3-10x for 1-4 minutes, requests beyond 2-5x the mean rate throttled, whichever version runs", func(r *rng, sc *Scenario) {
		drawSpikes(r, sc)
		sc.Traffic.ConcurrencyCap = sc.Traffic.PerMinute * r.uniform(2, 5)
	}},
	{GoodLoadErrors, false, 0, "errors that rise with traffic, whichever version runs (a dependency saturating): traffic spikes of 3-10x for 1-4 minutes, errors 0.1-1% times the traffic's level to the power 0.3-1, at most 3% at the largest spike", drawLoadErrors},
	{GoodLoadLatency, false, 0, "latency that rises with traffic, whichever version runs (queueing at a saturating dependency): traffic spikes of 3-10x for 1-4 minutes, every duration times the traffic's level to the power 0.1-0.3", drawLoadLatency},
	{GoodRamp, false, 0, "a steep traffic ramp: traffic rising or falling 2-4x an hour for 30-90 min, from 50 min before to 10 min after the deploy (a morning's rise, a launch, an evening's fall)", func(r *rng, sc *Scenario) {
		drawRamp(r, sc, r.bernoulli(0.5))
	}},
	{GoodRampLoad, false, 0, "a rising ramp at a service that slows and fails more under load, whichever version runs: good/traffic-ramp's rise, every duration times the traffic's level to the power 0.1-0.3, errors (0.1-1%) to the power 0.3-0.7", func(r *rng, sc *Scenario) {
		drawRamp(r, sc, true)
		sc.LatLoad, sc.ErrLoad = r.uniform(0.1, 0.3), r.uniform(0.3, 0.7)
		sc.Old.ErrRate = r.logUniform(0.001, 0.01)
		sc.New.ErrRate = sc.Old.ErrRate
	}},
	{GoodAfterFix, false, 0, "the known-good replaced a version failing 3-20% of invocations 3-30 min before the deploy (the rest of the baseline window that version's); new like the known-good (0.1-2%)", drawAfterFix},

	{GoodPoolOut, false, 0, "another function exhausts the account's unreserved concurrency: 1-2 stretches of 2-5 minutes within 12 minutes of the deploy, 10-40% of requests throttled, whichever version runs", func(r *rng, sc *Scenario) {
		for range 1 + r.IntN(2) {
			sc.Traffic.PoolOut = append(sc.Traffic.PoolOut, PoolOut{Start: durU(r, -2*time.Minute, 10*time.Minute).Truncate(time.Minute),
				Len: time.Duration(2+r.IntN(4)) * time.Minute, Share: r.uniform(0.1, 0.4)})
		}
	}},
	{BadErrors2x, true, 10 * time.Minute, "error rate 2x (0.3-3% before, 300-3000/min)", func(r *rng, sc *Scenario) { drawErrorsX(r, sc, 2) }},
	{BadErrors10x, true, 3 * time.Minute, "error rate 10x (0.1-2% before)", func(r *rng, sc *Scenario) {
		sc.Old.ErrRate = r.logUniform(0.001, 0.02)
		sc.New.ErrRate = min(1, 10*sc.Old.ErrRate)
	}},
	{BadHardFailure, true, 2 * time.Minute, "hard failure: every invocation fails fast, health endpoint down (50-3000/min)", func(r *rng, sc *Scenario) {
		sc.Traffic.PerMinute = r.logUniform(50, 3000)
		sc.New.Hard, sc.New.HealthFail = true, 1
	}},
	{BadHealthOnly, true, 3 * time.Minute, "health endpoint fails (50-100% of probes), metrics unchanged", func(r *rng, sc *Scenario) { sc.New.HealthFail = r.uniform(0.5, 1) }},
	{BadP99x15, true, 10 * time.Minute, "p99 1.5x (all slower, wider, or more slow requests)", func(r *rng, sc *Scenario) { drawP99(r, sc, 1.5) }},
	{BadP99x2, true, 5 * time.Minute, "p99 2x (all slower, wider, or more slow requests)", func(r *rng, sc *Scenario) { drawP99(r, sc, 2) }},
	{BadCanary, true, 10 * time.Minute, "10% canary, new version 3-10x the errors (500-5000/min)", func(r *rng, sc *Scenario) {
		sc.Split, sc.Weight, sc.Traffic.PerMinute = true, 0.1, r.logUniform(500, 5000)
		sc.New.ErrRate = min(1, sc.Old.ErrRate*r.uniform(3, 10))
	}},
	{BadErrorRamp, true, 15 * time.Minute, "slow ramp: errors grow linearly to 5-20x over 15-30 min", func(r *rng, sc *Scenario) {
		sc.New.RampTo, sc.New.RampOver = r.uniform(5, 20), durU(r, 15*time.Minute, 30*time.Minute)
	}},
	{BadLowHard, true, 5 * time.Minute, "hard failure at low traffic (3-20/min), shallow health endpoint still passing", func(r *rng, sc *Scenario) {
		sc.Traffic.PerMinute = r.logUniform(3, 20)
		sc.New.Hard = true
	}},
	{BadThrottling, true, 5 * time.Minute, "throttling: 5-30% of requests throttled (200-3000/min)", func(r *rng, sc *Scenario) {
		sc.Traffic.PerMinute = r.logUniform(200, 3000)
		sc.New.ThrRate, sc.New.ThrKappa = r.uniform(0.05, 0.3), 20
	}},
	{BadIncidentWorse, true, 5 * time.Minute, "incident made worse: known-good at 3-12% errors, new 3-6x that", func(r *rng, sc *Scenario) {
		drawIncident(r, sc)
		sc.Old.IncErrRate = r.uniform(0.03, 0.12)
		sc.New.IncErrRate = min(1, sc.Old.IncErrRate*r.uniform(3, 6))
	}},
	{BadDuringRamp, true, 10 * time.Minute, "a regression deployed during good/traffic-ramp's rise (300-3000/min at the deploy): errors 3x (0.3-3% before), p99 2x or 5-30% of requests throttled, one of the three", func(r *rng, sc *Scenario) {
		drawRamp(r, sc, true)
		sc.Traffic.PerMinute = r.logUniform(300, 3000)
		switch r.IntN(3) {
		case 0:
			sc.Old.ErrRate = r.logUniform(0.003, 0.03)
			sc.New.ErrRate = 3 * sc.Old.ErrRate
		case 1:
			drawP99(r, sc, 2)
		default:
			sc.New.ThrRate, sc.New.ThrKappa = r.uniform(0.05, 0.3), 20
		}
	}},
	{BadAfterFix, true, 10 * time.Minute, "good/after-fix's known-good (the version before it failing 3-20% until 3-30 min before the deploy), new 3x the known-good's errors (0.1-2% before)", func(r *rng, sc *Scenario) {
		drawAfterFix(r, sc)
		sc.New.ErrRate = min(1, 3*sc.Old.ErrRate)
	}},
	{BadAfterDeploy, true, 10 * time.Minute, "bad/after-fix after a good deploy: the version before the known-good, replaced 3-30 min before the deploy, was like it; new 3x the known-good's errors (0.1-2% before)", func(r *rng, sc *Scenario) {
		drawAfterFix(r, sc)
		sc.Prev.ErrRate = sc.Old.ErrRate
		sc.New.ErrRate = min(1, 3*sc.Old.ErrRate)
	}},
}

// Kinds lists every scenario kind, good ones first.
func Kinds() []KindSpec { return append([]KindSpec(nil), kindSpecs...) }

// Spec returns the description of a kind.
func Spec(k Kind) (KindSpec, bool) {
	for _, s := range kindSpecs {
		if s.Kind == k {
			return s, true
		}
	}
	return KindSpec{}, false
}

// epoch is the minute every scenario's deploy falls in.
var epoch = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// NewScenario draws the parameters of scenario (kind, seed).
func NewScenario(k Kind, seed uint64) (*Scenario, error) {
	spec, ok := Spec(k)
	if !ok {
		return nil, fmt.Errorf("unknown scenario kind %q", k)
	}
	r := newRNG(k, seed, "params")
	sc := drawBase(r)
	sc.Kind, sc.Seed = k, seed
	spec.draw(r, sc)
	scaleOut(newRNG(k, seed, "scale-out params"), sc)
	return sc, nil
}

// drawBase draws what every kind shares: a healthy service whose new
// version behaves like the old one.
func drawBase(r *rng) *Scenario {
	sc := &Scenario{
		Deploy:  epoch.Add(durU(r, 0, time.Minute).Truncate(time.Millisecond)),
		Horizon: horizon,
		Traffic: Traffic{PerMinute: r.logUniform(100, 3000), Slope: r.uniform(-0.4, 0.4), Noise: r.uniform(0.03, 0.12)},
		Probe:   ProbeModel{Interval: 10 * time.Second, Flake: r.logUniform(1e-4, 2e-3)},
		Delivery: DeliveryModel{DelayMin: 2 * time.Second, DelayMax: 20 * time.Second,
			LateShare: 0.05, LateKeepMin: 0.6, GapShare: 0.01, MissingShare: 0.005},
	}
	lat := Latency{Median: r.logUniform(15, 300), Sigma: r.uniform(0.3, 0.6), SlowShare: r.uniform(0.001, 0.005),
		SlowFactor: r.uniform(3, 6), SlowSigma: 0.5, ScaleNoise: r.uniform(0.02, 0.06), TailKappa: r.uniform(10, 40)}
	sc.Old = Version{Name: "41", ErrRate: r.logUniform(0.001, 0.02), ErrKappa: r.logUniform(10, 100),
		ThrRate: r.logUniform(1e-5, 3e-4), ThrKappa: 0.5, Latency: lat}
	sc.New = sc.Old
	sc.New.Name = "42"
	sc.New.Cold = ColdStart{Share: r.uniform(0.02, 0.1), Tau: durU(r, 20*time.Second, time.Minute), Factor: r.uniform(2, 4), Sigma: 0.4}
	return sc
}

func durU(r *rng, a, b time.Duration) time.Duration {
	return time.Duration(r.uniform(float64(a), float64(b)))
}

func drawBursty(r *rng, sc *Scenario) {
	sc.Traffic.PerMinute = r.logUniform(300, 3000)
	sc.Old.ErrRate, sc.Old.ErrKappa = r.logUniform(0.005, 0.03), r.logUniform(0.3, 2)
	sc.New.ErrRate, sc.New.ErrKappa = sc.Old.ErrRate, sc.Old.ErrKappa
}

func drawSpikes(r *rng, sc *Scenario) {
	n := 2 + r.IntN(3)
	for i := range n {
		start := time.Duration(r.IntN(58)-30) * time.Minute
		if i == 0 {
			start = time.Duration(r.IntN(20)) * time.Minute // one after the deploy
		}
		sc.Traffic.Spikes = append(sc.Traffic.Spikes, Spike{Start: start,
			Len: time.Duration(1+r.IntN(4)) * time.Minute, Factor: r.logUniform(3, 10)})
	}
}

// drawRamp gives the traffic a ramp of 2-4x an hour (rising, or falling
// when not up) for 30-90 minutes, starting from 50 minutes before the
// deploy to 10 minutes after it, in place of the hour's slope.
func drawRamp(r *rng, sc *Scenario, up bool) {
	k := math.Log(r.logUniform(2, 4))
	if !up {
		k = -k
	}
	start := durU(r, -50*time.Minute, 10*time.Minute).Truncate(time.Second)
	sc.Traffic.Slope = 0
	sc.Traffic.Ramp = &Ramp{PerHour: k, Start: start, End: start + durU(r, 30*time.Minute, 90*time.Minute).Truncate(time.Second)}
}

func drawLoadErrors(r *rng, sc *Scenario) {
	drawSpikes(r, sc)
	sc.Old.ErrRate = r.logUniform(0.001, 0.01)
	sc.New.ErrRate = sc.Old.ErrRate
	top := 1.0 // the highest load, overlapping spikes and the slope included
	for t := -baselineN * period; t <= sc.Horizon; t += period {
		top = max(top, sc.load(t+period/2))
	}
	hi := min(1, math.Log(0.03/sc.Old.ErrRate)/math.Log(top)) // 3 % at the highest load
	sc.ErrLoad = r.uniform(min(0.3, hi), hi)
}

func drawLoadLatency(r *rng, sc *Scenario) {
	drawSpikes(r, sc)
	sc.LatLoad = r.uniform(0.1, 0.3)
}

func drawScaleOut(r *rng, sc *Scenario) {
	drawSpikes(r, sc)
	f := r.logUniform(100, 1000) / sc.Old.Latency.Median
	sc.Old.Latency.Median *= f
	sc.New.Latency.Median = sc.Old.Latency.Median
	sc.ScaleOut = &ScaleOut{KeepAlive: durU(r, 5*time.Minute, 15*time.Minute)}
}

// scaleOut makes every scenario's versions scale out as Lambda does
// (ScaleOut), with its parameters drawn from a stream of their own so that
// the kinds' draws stay what they were: good/scale-out draws a function
// slow enough to need many environments, the others scale out at their
// spikes, their traffic's rise through the day and a trickle's idle gaps.
func scaleOut(r *rng, sc *Scenario) {
	if sc.ScaleOut == nil {
		sc.ScaleOut = &ScaleOut{KeepAlive: durU(r, 5*time.Minute, 15*time.Minute)}
	}
	// The known-good's environments start as lazily as the new one's.
	if sc.Old.Cold == (ColdStart{}) {
		sc.Old.Cold = ColdStart{Tau: sc.New.Cold.Tau, Factor: sc.New.Cold.Factor, Sigma: sc.New.Cold.Sigma}
	}
}

// drawAfterFix gives the known-good a predecessor that failed 3-20% of
// its invocations until 3-30 minutes before the deploy; the detector saw
// the known-good serving alone 1-15 s after it took over (its poll).
func drawAfterFix(r *rng, sc *Scenario) {
	until := -durU(r, 3*time.Minute, 30*time.Minute).Truncate(time.Second)
	sc.Prev = &Predecessor{Until: until, Seen: until + durU(r, time.Second, 15*time.Second).Truncate(time.Millisecond),
		ErrRate: r.uniform(0.03, 0.2)}
}

func drawColdStart(r *rng, sc *Scenario) {
	sc.New.Cold = ColdStart{Share: r.uniform(0.3, 0.8), Tau: durU(r, 15*time.Second, 40*time.Second),
		Factor: r.uniform(5, 15), Sigma: 0.5}
}

func drawGaps(r *rng, sc *Scenario) {
	d := &sc.Delivery
	d.LateShare, d.GapShare, d.MissingShare, d.BaselineMissing = 0.2, 0.05, 0.03, 0.05
	d.Outage = &Outage{Start: durU(r, 0, 10*time.Minute), Len: durU(r, 3*time.Minute, 8*time.Minute)}
}

func drawIncident(r *rng, sc *Scenario) {
	sc.Incident = &Incident{Start: -durU(r, 5*time.Minute, 20*time.Minute)}
	sc.Old.IncErrRate, sc.Old.IncHealthFail = r.uniform(0.03, 0.2), r.uniform(0.3, 1)
	sc.New.IncErrRate, sc.New.IncHealthFail = sc.Old.IncErrRate, sc.Old.IncHealthFail
}

func drawHeavyTail(r *rng, sc *Scenario) {
	l := &sc.Old.Latency
	l.SlowShare, l.SlowFactor, l.SlowSigma = r.uniform(0.01, 0.03), r.uniform(8, 25), 0.7
	l.TailKappa, l.ScaleNoise = r.uniform(0.5, 2), r.uniform(0.05, 0.12)
	sc.New.Latency = *l
}

func drawErrorsX(r *rng, sc *Scenario, x float64) {
	sc.Traffic.PerMinute = r.logUniform(300, 3000)
	sc.Old.ErrRate = r.logUniform(0.003, 0.03)
	sc.New.ErrRate = min(1, x*sc.Old.ErrRate)
}

// drawP99 makes the new version's steady p99 ratio times the old one's,
// in one of three ways: everything slower, a wider body and tail, or more
// requests on the slow path.
func drawP99(r *rng, sc *Scenario, ratio float64) {
	sc.New.Latency = regress(sc.Old.Latency, ratio, r.IntN(3))
}

func regress(l Latency, ratio float64, mode int) Latency {
	target := ratio * l.steady().quantile(0.99)
	apply := func(k float64) Latency {
		m := l
		switch mode {
		case 1:
			m.Sigma, m.SlowSigma = l.Sigma*k, l.SlowSigma*k
		case 2:
			m.SlowShare = min(l.SlowShare*k, 0.5)
		}
		return m
	}
	if mode == 0 || apply(100).steady().quantile(0.99) < target {
		l.Median *= ratio
		return l
	}
	lo, hi := 1.0, 100.0
	for range 60 {
		mid := math.Sqrt(lo * hi)
		if apply(mid).steady().quantile(0.99) < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return apply(hi)
}
