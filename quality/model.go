package quality

import (
	"math"
	"time"

	"gonum.org/v1/gonum/mathext"
)

// This file holds the scenario model: the true parameters from which the
// simulator draws invocations and against which the ideal judge tests.
// Times are relative to the deploy instant unless they are time.Time.

// Scenario is one labelled post-deploy situation: a kind, a seed and the
// parameters drawn from them.
type Scenario struct {
	Kind     Kind
	Seed     uint64
	Deploy   time.Time     // the instant the alias moved
	Horizon  time.Duration // how long after the deploy the watch is judged
	Split    bool          // the alias splits traffic between old and new
	Weight   float64       // share of traffic on the new version when Split
	Traffic  Traffic
	Old, New Version
	// Incident, when set, is an outage that began before the deploy and
	// affects every version whose Incident fields are set.
	Incident *Incident
	// Prev, when set, is the version the known-good replaced shortly
	// before the deploy: the alias's minutes before Prev.Until were its.
	Prev     *Predecessor
	Probe    ProbeModel
	Delivery DeliveryModel
	// ErrDrift is the relative change per hour of every version's error
	// rate (the time of day: traffic mix, a dependency's load), e.g. 0.08.
	ErrDrift float64
	// LatDrift is the relative change per hour of every version's latency
	// (load through the day), e.g. 0.08: a linear drift of the scale.
	LatDrift float64
	// ErrLoad is the exponent k of errors that rise with traffic, whichever
	// version serves (a dependency saturating): every version's error
	// probability times the traffic's level to the power k (load), e.g.
	// 0.5 (good/load-errors); 0: none.
	ErrLoad float64
	// LatLoad is the exponent k of latency that rises with traffic,
	// whichever version serves (queueing at a saturating dependency):
	// every version's durations times the traffic's level to the power k
	// (load), e.g. 0.2 (good/load-latency); 0: none.
	LatLoad float64
	// ScaleOut, when set, makes every execution environment a version
	// starts to meet a rise in demand serve a cold first invocation
	// (every kind's, NewScenario; good/scale-out's function is slow
	// enough to need many).
	ScaleOut *ScaleOut
}

// ScaleOut is Lambda's scaling: a version keeps the execution environments
// its peak concurrency of the last KeepAlive needed (idle ones are then
// reclaimed), and a minute whose peak concurrency needs more starts new
// ones, each serving one cold invocation (the version's own ColdStart
// Factor and Sigma: the same lazy initialisation as after a deploy). A
// minute of λ requests of mean duration W seconds has L = λ·W/60 requests
// in flight on average, and needs L + 3√L + 1 environments at its peak.
// A version no request came to in the last KeepAlive has none left, so a
// trickle's requests are mostly cold. The new version starts from the
// known-good's environments' count: its first environments are the
// deploy's cold starts (ColdStart).
type ScaleOut struct {
	KeepAlive time.Duration
}

// envsNeeded is the peak concurrency of a minute of lam requests of mean
// duration meanMs.
func envsNeeded(lam, meanMs float64) float64 {
	l := lam * meanMs / 1000 / 60
	return l + 3*math.Sqrt(l) + 1
}

// mean is the mean duration (ms) of the steady distribution.
func (l Latency) mean() float64 {
	s := 0.0
	for _, c := range l.steady() {
		s += c.w * math.Exp(c.mu+c.sigma*c.sigma/2)
	}
	return s
}

// load is the traffic's level at t (relative to the deploy; t the middle
// of a period) over its base rate, spikes included and per-minute noise
// not: what errors that rise with traffic (ErrLoad) follow.
func (sc *Scenario) load(t time.Duration) float64 {
	tr := sc.Traffic
	x := tr.level(t) / tr.PerMinute
	start := t - period/2
	for _, sp := range tr.Spikes {
		if start >= sp.Start && start < sp.Start+sp.Len {
			x *= sp.Factor
		}
	}
	return x
}

// latScale is the factor on every version's durations at t (relative to
// the deploy; the middle of a period): the latency drift's and the
// load's (LatLoad).
func (sc *Scenario) latScale(t time.Duration) float64 {
	x := 1.0
	if sc.LatDrift != 0 {
		x = max(0.05, 1+sc.LatDrift*t.Hours())
	}
	if sc.LatLoad != 0 {
		x *= math.Pow(sc.load(t), sc.LatLoad)
	}
	return x
}

// Predecessor is the version the known-good (Old) replaced at Until (< 0,
// relative to the deploy), which failed ErrRate of its invocations (Old's
// ErrKappa) and served alone since long before; the rest of its behaviour
// is Old's. The detector first saw Old serving alone at Seen (≥ Until):
// the deploy record's baseline_since.
type Predecessor struct {
	Until, Seen time.Duration
	ErrRate     float64
}

// prevErrRate is the predecessor's error rate when the alias's minute at t
// was still its (Scenario.Prev).
func (sc *Scenario) prevErrRate(t time.Duration) (float64, bool) {
	if sc.Prev == nil || t >= sc.Prev.Until {
		return 0, false
	}
	return min(sc.Prev.ErrRate, 1), true
}

// baselineSince is the deploy record's baseline_since: when the detector
// first saw the known-good serving alone (zero without a Prev).
func (sc *Scenario) baselineSince() time.Time {
	if sc.Prev == nil {
		return time.Time{}
	}
	return sc.Deploy.Add(sc.Prev.Seen)
}

// Incident is an ongoing outage (a broken dependency) that started at
// Start (negative: before the deploy) and lasts past the horizon.
type Incident struct{ Start time.Duration }

// Traffic is the request rate: per minute, with a linear slope, spikes and
// per-minute noise; arrivals are Poisson within a minute.
type Traffic struct {
	PerMinute float64 // mean requests per minute at the deploy
	Slope     float64 // relative change per hour (diurnal slope), e.g. 0.3
	Noise     float64 // sigma of the per-minute lognormal rate multiplier
	Spikes    []Spike // bursts of traffic
	// ConcurrencyCap, when set, is the requests a minute the function's
	// concurrency can serve (its reserved concurrency or the account's
	// limit, which every version shares): a minute's requests beyond it
	// are throttled, whichever version runs (good/concurrency-limit).
	ConcurrencyCap float64
	// PoolOut, when set, are stretches in which other functions exhaust
	// the account's unreserved concurrency the function draws on: the
	// share of its requests is throttled, whichever version runs
	// (good/pool-exhausted). The function has no reservation unless
	// ConcurrencyCap is set.
	PoolOut []PoolOut
	// Ramp, when set, is a steep rise or fall of the traffic on top of
	// the slope (good/traffic-ramp, good/ramp-load, bad/during-ramp).
	Ramp *Ramp
}

// Ramp is a steep, sustained change of traffic, far steeper than a daily
// cycle's (at most about 18 % an hour at a peak/trough of 4): a morning's
// rise, a launch, a campaign's e-mail, an evening's fall. Between Start
// and End (relative to the deploy) the rate changes by the factor
// e^PerHour an hour; before and after the ramp it is flat (the slope
// aside). PerMinute stays the rate at the deploy.
type Ramp struct {
	PerHour    float64 // d/dt log(rate) per hour during the ramp: ln 3 ≈ 1.1 triples it in an hour, negative falls
	Start, End time.Duration
}

// factor is the ramp's multiplier of the rate at t, 1 at the deploy.
func (r *Ramp) factor(t time.Duration) float64 {
	if r == nil {
		return 1
	}
	clamp := func(x time.Duration) time.Duration { return min(max(x, r.Start), r.End) }
	return math.Exp(r.PerHour * (clamp(t) - clamp(0)).Hours())
}

// slope is the ramp's d/dt log(rate) at t, per hour.
func (r *Ramp) slope(t time.Duration) float64 {
	if r == nil || t < r.Start || t >= r.End {
		return 0
	}
	return r.PerHour
}

// level is the mean requests per minute at t (relative to the deploy),
// before spikes and per-minute noise: the slope's and the ramp's.
func (tr *Traffic) level(t time.Duration) float64 {
	return tr.PerMinute * max(1+tr.Slope*t.Hours(), 0.05) * tr.Ramp.factor(t)
}

// Spike multiplies the rate by Factor during [Start, Start+Len).
type PoolOut struct {
	Start, Len time.Duration
	Share      float64
}

// poolOut is the share of the function's requests throttled at t for the
// account's exhausted pool (0: none).
func (t *Traffic) poolOut(at time.Duration) float64 {
	for _, o := range t.PoolOut {
		if at >= o.Start && at < o.Start+o.Len {
			return o.Share
		}
	}
	return 0
}

type Spike struct {
	Start, Len time.Duration
	Factor     float64
}

// Version is the true behaviour of one Lambda version.
type Version struct {
	Name string
	// Errors: per-minute error probability, Beta-distributed around the
	// mean ErrRate (times the ramp) with dispersion ErrKappa (see betaRate).
	ErrRate  float64
	ErrKappa float64
	Hard     bool          // every invocation fails, fast (a crash on start-up)
	RampTo   float64       // > 0: the error rate grows linearly to ErrRate*RampTo ...
	RampOver time.Duration // ... over this long after the deploy
	// Throttled share of requests, Beta-distributed per minute.
	ThrRate, ThrKappa float64
	Latency           Latency
	Cold              ColdStart
	HealthFail        float64 // probability that a health probe answered by this version fails
	// During the scenario's incident (when IncErrRate > 0): the error rate
	// and health failure probability instead of the above.
	IncErrRate, IncHealthFail float64
}

// Latency is the duration distribution of successful invocations, in ms: a
// lognormal body and a slow lognormal component (heavy tail), with
// per-minute noise shared by all versions: a scale multiplier (ScaleNoise:
// lognormal sigma) and a multiplier of the slow share (TailKappa: gamma
// shape, mean 1). Both per-minute effects take one of noiseNodes equally
// likely values (quantile midpoints), so that the ideal judge can integrate
// over them exactly.
type Latency struct {
	Median, Sigma         float64
	SlowShare, SlowFactor float64
	SlowSigma             float64
	ScaleNoise            float64
	TailKappa             float64 // 0: the slow share does not vary
}

// ColdStart makes a share of the new version's first invocations slower
// (lazy initialisation, empty caches, JIT; Lambda's Duration excludes the
// Init phase itself): an invocation at t after the deploy is cold with
// probability Share*exp(-t/Tau) and then lasts Factor (lognormal, Sigma)
// times longer.
type ColdStart struct {
	Share  float64
	Tau    time.Duration
	Factor float64
	Sigma  float64
}

// ProbeModel is the health probe: every Interval from a random phase,
// failing spuriously with probability Flake (both versions).
type ProbeModel struct {
	Interval time.Duration
	Flake    float64
}

// DeliveryModel is how CloudWatch hands out periods: after the period
// closes plus DelayMin..DelayMax; LateShare of periods are first delivered
// partially (LateKeep of the invocations) and revised 1-3 minutes later;
// GapShare fail to read once (source_error, refilled next cycle);
// MissingShare are never delivered; an Outage fails every read for a while.
type DeliveryModel struct {
	DelayMin, DelayMax time.Duration
	LateShare          float64
	LateKeepMin        float64
	GapShare           float64
	MissingShare       float64
	BaselineMissing    float64 // share of baseline periods never read
	Outage             *Outage
}

// Outage is a CloudWatch read outage from Start for Len (relative to the
// deploy). After it the watcher re-reads only the last metricLag periods.
type Outage struct{ Start, Len time.Duration }

const (
	noiseNodes = 8                // per-minute latency effects take this many values
	metricLag  = 3                // periods the watcher re-reads (config.toml metric_lag)
	failFastMu = 1.3862943611     // ln(4 ms): a crash fails fast
	failFastSd = 0.5              //
	timeoutMs  = 30000.0          // durations are capped at the function timeout
	period     = time.Minute      // CloudWatch period
	baselineN  = 60               // periods simulated before the deploy (an hour; a trace holds the target's baseline_window of them)
	horizon    = 30 * time.Minute // default judged time after the deploy
)

// errRate is the version's mean error probability in the minute starting
// at t (relative to the deploy).
func (v *Version) errRate(sc *Scenario, t time.Duration) float64 {
	if p, ok := sc.prevErrRate(t); ok && v.Name == sc.Old.Name {
		return p
	}
	if sc.Incident != nil && v.IncErrRate > 0 && t >= sc.Incident.Start {
		return v.IncErrRate
	}
	p := v.ErrRate
	if sc.ErrDrift != 0 {
		p *= max(0, 1+sc.ErrDrift*t.Hours())
	}
	if v.RampTo > 0 && t > 0 {
		f := min(1, float64(t)/float64(v.RampOver))
		p *= 1 + (v.RampTo-1)*f
	}
	if sc.ErrLoad != 0 {
		p *= math.Pow(sc.load(t), sc.ErrLoad)
	}
	return min(p, 1)
}

// healthFail is the probability that a probe at t answered by v fails,
// flakes included.
func (v *Version) healthFail(sc *Scenario, t time.Duration) float64 {
	f := v.HealthFail
	if sc.Incident != nil && v.IncErrRate > 0 && t >= sc.Incident.Start {
		f = v.IncHealthFail
	}
	return 1 - (1-f)*(1-sc.Probe.Flake)
}

// share is the probability that an invocation of the new version at t
// after the deploy is cold; below minColdShare it is 0.
func (c ColdStart) share(t time.Duration) float64 {
	if t < 0 || c.Share <= 0 {
		return 0
	}
	if s := c.Share * math.Exp(-float64(t)/float64(c.Tau)); s >= minColdShare {
		return s
	}
	return 0
}

// minColdShare ends the cold starts: a negligible share is none, so that
// the steady state is exactly steady.
const minColdShare = 1e-6

// meanShare is the average cold share over [from, to) after the deploy
// (the cut-off at minColdShare neglected).
func (c ColdStart) meanShare(from, to time.Duration) float64 {
	from = max(from, 0)
	if to <= from || c.share(from) == 0 {
		return 0
	}
	tau := float64(c.Tau)
	return c.Share * tau * (math.Exp(-float64(from)/tau) - math.Exp(-float64(to)/tau)) / float64(to-from)
}

// scaleNodes are the equally likely values of the per-minute latency scale.
func (l Latency) scaleNodes() []float64 {
	if l.ScaleNoise <= 0 {
		return []float64{1}
	}
	out := make([]float64, noiseNodes)
	for i := range out {
		out[i] = math.Exp(l.ScaleNoise * normQuantile((float64(i)+0.5)/noiseNodes))
	}
	return out
}

// tailNodes are the equally likely values of the per-minute slow-share
// multiplier (gamma, mean 1; the midpoints are renormalised to mean 1).
func (l Latency) tailNodes() []float64 {
	if l.TailKappa <= 0 {
		return []float64{1}
	}
	out := make([]float64, noiseNodes)
	sum := 0.0
	for i := range out {
		out[i] = mathext.GammaIncRegInv(l.TailKappa, (float64(i)+0.5)/noiseNodes) / l.TailKappa
		sum += out[i]
	}
	for i := range out {
		out[i] *= noiseNodes / sum
	}
	return out
}

func normQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// lnComp is one lognormal component of a duration mixture (ms).
type lnComp struct{ w, mu, sigma float64 }

// mixture is a duration distribution: lognormal components with weights
// summing to 1.
type mixture []lnComp

// mix is the duration distribution of a successful invocation in a minute
// with latency scale s and slow-share multiplier h, cold with probability
// c.
func (l Latency) mix(s, h, c float64, cold ColdStart) mixture {
	q := min(l.SlowShare*h, 1)
	mu := math.Log(l.Median * s)
	slowMu := mu + math.Log(l.SlowFactor)
	m := mixture{{(1 - c) * (1 - q), mu, l.Sigma}, {(1 - c) * q, slowMu, l.SlowSigma}}
	if c > 0 {
		cf := math.Log(cold.Factor)
		m = append(m,
			lnComp{c * (1 - q), mu + cf, math.Hypot(l.Sigma, cold.Sigma)},
			lnComp{c * q, slowMu + cf, math.Hypot(l.SlowSigma, cold.Sigma)})
	}
	return m
}

// sf is P(D > x).
func (m mixture) sf(x float64) float64 {
	if x <= 0 {
		return 1
	}
	lx, s := math.Log(x), 0.0
	for _, c := range m {
		if c.w > 0 {
			s += c.w * 0.5 * math.Erfc((lx-c.mu)/(c.sigma*math.Sqrt2))
		}
	}
	return s
}

// quantile is the q-quantile, by bisection on the logarithm.
func (m mixture) quantile(q float64) float64 {
	lo, hi := -10.0, 20.0 // e^-10 .. e^20 ms
	for range 100 {
		mid := (lo + hi) / 2
		if 1-m.sf(math.Exp(mid)) < q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2)
}

// steady is the version's duration distribution without per-minute noise
// or cold starts: what its p99 "is".
func (l Latency) steady() mixture { return l.mix(1, 1, 0, ColdStart{}) }
