package quality

import (
	"fmt"
	"math"
	"time"
)

// This file draws the shape history: the known-good version's alias-level
// counts (Invocations, Errors, Throttles; its slow counts are drawn given
// these, history_latency.go) before the simulated hour, for a
// target whose shape_window is longer than its baseline_window
// (Options.ShapePeriods). The daemon reads them only for the shape of the
// counts' bursts (each hour's rate free), never for rates.
//
// The history is the known-good's model of the hour before the deploy,
// continued backwards with a daily cycle, drawn per period (counts, never
// invocations) from its own random stream ("history"): every other draw of
// the scenario is the same with or without it, and a longer history only
// adds older periods (the periods are drawn newest first).
//
//   - Traffic: the scenario's rate per minute with a daily cycle instead of
//     the hour's linear slope, which extrapolated over a day would reach
//     zero or several times the rate: a factor exp(A·sin(θ)) with a
//     peak/trough ratio exp(2A) of 2-4 (log-uniform), equal at the join
//     (the start of the simulated hour) to the hour's own rate there, and
//     with the hour's slope there when a daily cycle that size can have it
//     (else its steepest point, in the slope's direction). Of the two
//     phases with that slope (the join below or above the day's mean) one
//     is drawn. A ramp (Traffic.Ramp) starts after the join, so the cycle
//     continues the level before it. The per-minute lognormal noise is
//     the scenario's; the traffic-spikes kind has as many spikes per hour
//     as its simulated hour (3-10x for 1-4 minutes).
//   - Errors: the known-good's error process: a per-minute Beta rate with
//     the scenario's mean and dispersion (ErrRate, ErrKappa: the clumps of
//     good/clumpy-errors and the bursts of good/bursty-errors at the same
//     rate and shape), each request failing with that minute's rate. An
//     incident that began before a period is the incident (none of the
//     kinds has one older than the simulated hour: before it began the
//     service was normal). A drift (ErrDrift, good/diurnal-drift), linear
//     in the hour before the deploy, is not extrapolated (a day back it
//     would be a negative rate, clamped to none): it is the rising flank
//     of a daily cycle of the error rate, equal to the drift's rate and
//     slope at the join, with a peak/trough ratio of 1.5-3 (log-uniform),
//     larger when the drift's slope needs it (at most about 3.9 at 15 % an
//     hour).
//   - Throttles: the known-good's (ThrRate, ThrKappa), as before the deploy,
//     and the requests beyond a concurrency limit (good/concurrency-limit),
//     whose spikes the history has as the simulated hour has them.
//   - Missing periods: BaselineMissing of them, left out as the baseline's.
//
// Given the minute's rates, requests are Poisson and each is throttled or
// fails independently, so throttles, errors and successes are independent
// Poisson counts: the same distribution as the simulator's invocation by
// invocation, at the cost of three Poisson draws a period. The Beta rates
// are drawn as ratios of gamma variates (betaRate's distribution, without
// its inverse incomplete beta function, which costs microseconds).

// omegaPerHour is a daily cycle's angular frequency, radians per hour.
const omegaPerHour = 2 * math.Pi / 24

// histModel is the known-good's behaviour before the simulated hour.
type histModel struct {
	sc     *Scenario
	t0     time.Duration // the join: the first simulated period's start, relative to the deploy
	level0 float64       // the traffic model's mean requests per minute at t0
	amp    float64       // the traffic cycle's log-amplitude A (peak/trough exp(2A))
	phase  float64       // its phase at t0
	// The error rate's daily cycle (ErrDrift only): its value at t0 as a
	// multiple of ErrRate, log-amplitude and phase at t0.
	errLevel0, errAmp, errPhase float64
	// spikeP is the probability that a traffic spike starts in a minute
	// without one (traffic-spikes only; met at its last minute, since the
	// periods are drawn newest first).
	spikeP float64
}

// newHistModel draws the history's own parameters from r; first is the
// start of the first simulated period.
func newHistModel(sc *Scenario, first time.Time, r *rng) *histModel {
	h := &histModel{sc: sc, t0: first.Sub(sc.Deploy)}
	t0h := h.t0.Hours()
	tr := sc.Traffic
	lin := 1 + tr.Slope*t0h
	h.level0 = tr.level(h.t0)
	slope := tr.Ramp.slope(h.t0) // d/dt log(rate) at t0, per hour
	if lin > 0.05 {
		slope += tr.Slope / lin
	}
	h.amp = math.Log(r.logUniform(2, 4)) / 2
	h.phase = joinPhase(r, h.amp, slope)
	if sc.ErrDrift != 0 {
		h.errLevel0, h.errAmp, h.errPhase = driftCycle(r, sc.ErrDrift, t0h)
	}
	if n := len(tr.Spikes); n > 0 {
		h.spikeP = float64(n) / 60
	}
	return h
}

// driftCycle continues a linear drift (per hour, relative to the value at
// the deploy) backwards from the join t0h hours from the deploy as a daily
// cycle: its value at the join (as a multiple, at least 0.05), and a
// log-amplitude (peak/trough 1.5-3, log-uniform, or what the drift's slope
// there needs) and phase with the drift's slope at the join.
func driftCycle(r *rng, drift, t0h float64) (level0, amp, phase float64) {
	lin := 1 + drift*t0h
	level0 = max(lin, 0.05)
	slope := 0.0
	if lin > 0.05 {
		slope = drift / lin
	}
	amp = max(math.Log(r.logUniform(1.5, 3))/2, math.Abs(slope)/omegaPerHour)
	return level0, amp, joinPhase(r, amp, slope)
}

// joinPhase is a phase of a daily cycle exp(amp·sin(phase)) whose
// logarithmic slope is slope (per hour), or as close as the cycle allows;
// which of the two is drawn.
func joinPhase(r *rng, amp, slope float64) float64 {
	c := max(-1, min(1, slope/(amp*omegaPerHour)))
	ph := math.Acos(c)
	if r.bernoulli(0.5) {
		ph = -ph
	}
	return ph
}

// cycle is a daily cycle's factor dt (negative) from the join, 1 at the join.
func cycle(amp, phase float64, dt time.Duration) float64 {
	return math.Exp(amp * (math.Sin(phase+omegaPerHour*dt.Hours()) - math.Sin(phase)))
}

// level is the mean requests per minute at t (relative to the deploy),
// before spikes and noise.
func (h *histModel) level(t time.Duration) float64 {
	return h.level0 * cycle(h.amp, h.phase, t-h.t0)
}

// errRate is the known-good's mean error probability at t (relative to
// the deploy) when traffic is lam requests a minute before its noise:
// Version.errRate with the drift's daily cycle, and with the traffic's
// (ErrLoad).
func (h *histModel) errRate(t time.Duration, lam float64) float64 {
	sc, v := h.sc, &h.sc.Old
	if p, ok := sc.prevErrRate(t); ok {
		return p
	}
	if sc.Incident != nil && v.IncErrRate > 0 && t >= sc.Incident.Start {
		return v.IncErrRate
	}
	p := v.ErrRate
	if sc.ErrDrift != 0 {
		p *= h.errLevel0 * cycle(h.errAmp, h.errPhase, t-h.t0)
	}
	if sc.ErrLoad != 0 {
		p *= math.Pow(lam/sc.Traffic.PerMinute, sc.ErrLoad)
	}
	return min(p, 1)
}

// describe is the trace header's words about the model.
func (h *histModel) describe() string {
	s := fmt.Sprintf("a daily traffic cycle of %.2gx peak/trough", math.Exp(2*h.amp))
	if h.errAmp > 0 {
		s += fmt.Sprintf(" and of the error rate %.2gx", math.Exp(2*h.errAmp))
	}
	return s
}

// histPeriod is one period of the shape history.
type histPeriod struct {
	Start         time.Time
	Inv, Err, Thr int
	Missing       bool    // never read (Delivery.BaselineMissing)
	Level         float64 // the traffic's mean requests a minute, spikes included, before its noise
	Served        float64 // the requests expected to be served (not throttled)
}

// history draws the n periods before first (the simulated hour's first
// period), oldest first, and the model they were drawn from.
func history(sc *Scenario, first time.Time, n int) ([]histPeriod, *histModel) {
	r := newRNG(sc.Kind, sc.Seed, "history")
	h := newHistModel(sc, first, r)
	out := make([]histPeriod, n)
	old, noise := &sc.Old, sc.Traffic.Noise
	spikeLeft, spikeF := 0, 1.0
	for k := 1; k <= n; k++ {
		p := &out[n-k]
		p.Start = first.Add(-time.Duration(k) * period)
		mid := p.Start.Sub(sc.Deploy) + period/2
		level, noiseF := h.level(mid), math.Exp(noise*r.NormFloat64()-noise*noise/2)
		if h.spikeP > 0 {
			if spikeLeft == 0 && r.bernoulli(h.spikeP) {
				spikeLeft, spikeF = 1+r.IntN(4), r.logUniform(3, 10)
			}
			if spikeLeft > 0 {
				level *= spikeF
				spikeLeft--
			}
		}
		lam := level * noiseF
		errP := r.betaDraw(h.errRate(mid, level), old.ErrKappa)
		thrP := max(r.betaDraw(old.ThrRate, old.ThrKappa), capShare(sc.Traffic.ConcurrencyCap, lam))
		p.Thr = r.poisson(lam * thrP)
		inv := lam * (1 - thrP)
		p.Err = r.poisson(inv * errP)
		p.Inv = p.Err + r.poisson(inv*(1-errP))
		p.Level, p.Served = level, inv
		p.Missing = r.bernoulli(sc.Delivery.BaselineMissing)
	}
	return out, h
}

// betaDraw draws an overdispersed rate with betaRate's distribution (mean
// p, gamma-equivalent shape kappa) as X/(X+Y) of gamma variates.
func (r *rng) betaDraw(p, kappa float64) float64 {
	a, b, ok := betaParams(p, kappa)
	if !ok {
		return p
	}
	lx, ly := r.logGamma(a), r.logGamma(b)
	return 1 / (1 + math.Exp(ly-lx))
}

// logGamma draws the logarithm of a Gamma(shape, 1) variate: Marsaglia
// and Tsang's method (2000), for shape < 1 boosted by U^(1/shape), in
// logarithms so that tiny shapes do not underflow.
func (r *rng) logGamma(shape float64) float64 {
	boost := 0.0
	if shape < 1 {
		boost = math.Log(1-r.Float64()) / shape
		shape++
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return math.Log(d*v) + boost
		}
	}
}
