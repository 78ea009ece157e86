package quality

import (
	"math"
	"time"
)

// This file is the exact likelihood of what CloudWatch and the prober show
// of the new version, under a hypothesis about its parameters: the ideal
// judge's model. Given a period's invocations n, its errors are
// beta-binomial, its throttles (out of all requests) beta-binomial, and its
// durations, binned at a few fixed thresholds (what TC(X:) statistics
// give), multinomial given the minute's latency noise, which takes
// noiseNodes x noiseNodes equally likely values: the likelihood sums over
// them. Streams are independent given the period; periods are independent.

// hypothesis is a model of the new version and, where the oracle is
// blind to the known-good's error rate, of the known-good too.
type hypothesis struct {
	v  *Version
	kg *Version // the known-good under the hypothesis (nil: the scenario's own)
}

// model is what is fixed for one scenario: the thresholds and noise nodes.
type model struct {
	sc           *Scenario
	thresholds   []float64 // ms: bin edges for the duration counts
	scales, tail []float64
	steady       map[Latency][][]float64 // binLogs without cold starts or drift, by the version's latency
}

// binQuantiles are the known-good quantiles the duration bins are cut at.
var binQuantiles = []float64{0.5, 0.9, 0.99, 0.999}

func newModel(sc *Scenario) *model {
	m := &model{sc: sc, scales: sc.Old.Latency.scaleNodes(), tail: sc.Old.Latency.tailNodes(), steady: map[Latency][][]float64{}}
	steady := sc.Old.Latency.steady()
	for _, q := range binQuantiles {
		m.thresholds = append(m.thresholds, steady.quantile(q))
	}
	return m
}

// obs is the new version's data for one period.
type obs struct {
	start      time.Duration // period start after the deploy
	inv, errs  int
	thr        int
	demand     int   // every version's requests in the period (a concurrency limit is the function's)
	bins       []int // durations per bin
	activeFrom time.Duration
	scaleCold  float64 // Agg.ScaleCold
	// lat memoises the durations' log-likelihood by the hypothesis's
	// latency and cold starts (a blind oracle's nulls share them).
	lat map[latKey]float64
}

type latKey struct {
	l Latency
	c ColdStart
}

func (m *model) observe(p *Period) obs {
	o := obs{start: p.Start.Sub(m.sc.Deploy), inv: p.New.Inv, errs: p.New.Err, thr: p.New.Thr,
		demand: p.New.Inv + p.New.Thr + p.Old.Inv + p.Old.Thr, scaleCold: p.New.ScaleCold}
	o.activeFrom = max(o.start, 0)
	o.lat = map[latKey]float64{}
	o.bins = make([]int, len(m.thresholds)+1)
	for _, d := range p.New.Dur {
		j := 0
		for j < len(m.thresholds) && d > m.thresholds[j] {
			j++
		}
		o.bins[j]++
	}
	return o
}

// streams is one period's log-likelihood per stream.
type streams struct{ errs, thr, lat float64 }

func (s streams) sum() float64 { return s.errs + s.thr + s.lat }

// in is the log-likelihood of the streams st (latency's is 0 when the
// period was computed without it).
func (s streams) in(st streamSet) float64 {
	x := s.lat
	if st.errs {
		x += s.errs
	}
	if st.thr {
		x += s.thr
	}
	return x
}

// periodLL is the log-likelihood of one period's observation under h
// (up to terms common to every hypothesis). withLat includes the duration
// stream; it is left out when either hypothesis fails hard (crashes fail
// fast, which the model of durations does not cover).
func (m *model) periodLL(h hypothesis, o *obs, withLat bool) streams {
	v := h.v
	var s streams
	if o.inv > 0 {
		if v.Hard {
			if o.errs != o.inv {
				s.errs = -1e4
			}
		} else {
			s.errs = logBetaBinom(o.errs, o.inv, v.errRate(m.sc, o.start+period/2), v.ErrKappa)
		}
	}
	if o.inv+o.thr > 0 && !nearLimit(m.sc.Traffic.ConcurrencyCap, float64(o.demand)) && m.sc.Traffic.poolOut(o.start) == 0 {
		s.thr = logBetaBinom(o.thr, o.inv+o.thr, v.ThrRate, v.ThrKappa)
	}
	if withLat && o.inv > 0 {
		key := latKey{v.Latency, v.Cold}
		x, ok := o.lat[key]
		if !ok {
			cbar := 1 - (1-v.Cold.meanShare(o.activeFrom, o.start+period))*(1-o.scaleCold)
			x = m.durationLL(v, cbar, m.sc.latScale(o.start+period/2), o.bins)
			if o.lat != nil {
				o.lat[key] = x
			}
		}
		s.lat = x
	}
	return s
}

// nearLimit reports whether d requests in a minute may have met the
// function's concurrency limit (requests a minute; 0: none), within four
// standard deviations of the Poisson count: the throttles of such a minute
// are the limit's, whichever version runs, and say nothing about the new
// version (the ideal test leaves them out).
func nearLimit(limit, d float64) bool {
	return limit > 0 && d >= limit-4*math.Sqrt(limit)
}

// durationLL is the log-likelihood of the binned durations, summed over
// the minute's noise nodes.
func (m *model) durationLL(v *Version, cbar, drift float64, bins []int) float64 {
	logs := m.binLogs(v, cbar, drift)
	lls := make([]float64, len(logs))
	for i, lp := range logs {
		for j, c := range bins {
			if c > 0 {
				lls[i] += float64(c) * lp[j]
			}
		}
	}
	return logSumExp(lls) - math.Log(float64(len(lls)))
}

// binLogs are the log-probabilities of the duration bins for every noise
// node, the latency scaled by drift; without cold starts or drift they are
// computed once per latency model (a blind oracle's nulls share theirs).
func (m *model) binLogs(v *Version, cbar, drift float64) [][]float64 {
	steady := cbar == 0 && drift == 1
	if steady {
		if l, ok := m.steady[v.Latency]; ok {
			return l
		}
	}
	out := make([][]float64, 0, len(m.scales)*len(m.tail))
	for _, s := range m.scales {
		for _, h := range m.tail {
			mix := v.Latency.mix(s*drift, h, cbar, v.Cold)
			lp, prev := make([]float64, len(m.thresholds)+1), 0.0
			for j, x := range m.thresholds {
				cdf := 1 - mix.sf(x)
				lp[j] = math.Log(max(cdf-prev, 1e-300))
				prev = cdf
			}
			lp[len(m.thresholds)] = math.Log(max(1-prev, 1e-300))
			out = append(out, lp)
		}
	}
	if steady {
		m.steady[v.Latency] = out
	}
	return out
}

// logBetaBinom is log P(k of n) for a rate with mean p and dispersion
// kappa (see betaRate), without the binomial coefficient.
func logBetaBinom(k, n int, p, kappa float64) float64 {
	p = min(max(p, 1e-12), 1-1e-12)
	a, b, ok := betaParams(p, kappa)
	if !ok {
		return float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p)
	}
	return lbeta(float64(k)+a, float64(n-k)+b) - lbeta(a, b)
}

func lbeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

func logSumExp(xs []float64) float64 {
	mx := math.Inf(-1)
	for _, x := range xs {
		mx = max(mx, x)
	}
	if math.IsInf(mx, -1) {
		return mx
	}
	s := 0.0
	for _, x := range xs {
		s += math.Exp(x - mx)
	}
	return mx + math.Log(s)
}

// probeFail is the probability that a probe at t fails under h: answered
// by the new version (always, or with the split's weight) or the old one.
func (m *model) probeFail(h hypothesis, t time.Duration) float64 {
	f := h.v.healthFail(m.sc, t)
	if m.sc.Split {
		f = m.sc.Weight*f + (1-m.sc.Weight)*m.sc.Old.healthFail(m.sc, t)
	}
	return min(max(f, 1e-12), 1-1e-12)
}

func probeLL(fail bool, f float64) float64 {
	if fail {
		return math.Log(f)
	}
	return math.Log1p(-f)
}
