package quality

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Agg is one period's aggregate for one version, or for the alias.
type Agg struct {
	Inv, Err, Thr int       // invocations, errors, throttled requests
	Dur           []float64 // every invocation's duration, ms, in arrival order
	// ScaleCold is the probability that an invocation of the period was
	// the cold first one of an environment started to scale out (the
	// scenario's ScaleOut; the ideal judge allows for it).
	ScaleCold float64
}

// Period is one CloudWatch period with both versions' aggregates.
type Period struct {
	Start       time.Time
	Old, New    Agg
	Scale, Tail float64 // the minute's latency noise (shared by the versions)
}

// Alias is the alias-level aggregate: both versions together.
func (p *Period) Alias() Agg {
	a := Agg{Inv: p.Old.Inv + p.New.Inv, Err: p.Old.Err + p.New.Err, Thr: p.Old.Thr + p.New.Thr}
	a.Dur = append(append(make([]float64, 0, len(p.Old.Dur)+len(p.New.Dur)), p.Old.Dur...), p.New.Dur...)
	return a
}

// ProbeResult is one health probe.
type ProbeResult struct {
	At      time.Time
	Version string // the version that answered
	OK      bool
	Latency time.Duration
}

// Sim is a simulated scenario: 30 baseline periods before the deploy's
// minute, the minute the deploy falls in, and the periods after it up to
// the horizon; probes from 30 minutes before the deploy to the horizon.
type Sim struct {
	Sc      *Scenario
	First   time.Time // start of the first baseline period
	Periods []Period
	Probes  []ProbeResult
}

// DeployIndex is the index of the period the deploy falls in.
func (s *Sim) DeployIndex() int { return baselineN }

// Simulate draws every invocation and probe of a scenario.
func Simulate(sc *Scenario) *Sim {
	s := &Sim{Sc: sc, First: sc.Deploy.Truncate(period).Add(-baselineN * period)}
	n := baselineN + 1 + int(sc.Horizon/period)
	s.Periods = make([]Period, n)
	r := newRNG(sc.Kind, sc.Seed, "traffic")
	scales, tails := sc.Old.Latency.scaleNodes(), sc.Old.Latency.tailNodes()
	var envs scaling
	if sc.ScaleOut != nil {
		envs.oldMean, envs.newMean = sc.Old.Latency.mean(), sc.New.Latency.mean()
		envs.r = newRNG(sc.Kind, sc.Seed, "scale-out")
	}
	for i := range s.Periods {
		p := &s.Periods[i]
		p.Start = s.First.Add(time.Duration(i) * period)
		m := minute{sc: sc, r: r, start: p.Start.Sub(sc.Deploy)}
		m.scale, m.tail = scales[r.IntN(len(scales))], tails[r.IntN(len(tails))]
		p.Scale, p.Tail = m.scale, m.tail
		uErr, uThr := r.Float64(), r.Float64()
		// A version's minute is drawn only when it can serve traffic.
		if m.start < 0 || sc.Split {
			m.old = m.versionMinute(&sc.Old, uErr, uThr)
		}
		if m.start > -period {
			m.new = m.versionMinute(&sc.New, uErr, uThr)
		}
		m.envs = &envs
		m.run(p)
	}
	s.Probes = simulateProbes(sc)
	return s
}

// minute draws one period's requests.
type minute struct {
	sc          *Scenario
	r           *rng
	start       time.Duration // period start relative to the deploy
	scale, tail float64       // this minute's latency noise
	old, new    versionMinute
	envs        *scaling // nil: no scale-out history (the ideal's expected evidence)
}

// scaling is each version's minutes so far, and its mean duration (ms;
// Scenario.ScaleOut). Whether an invocation is the cold first one of such
// an environment is drawn from a stream of its own (r), so a scenario
// whose environments never change draws what it drew before every
// scenario scaled out.
type scaling struct {
	old, new         []envMinute
	oldMean, newMean float64
	r                *rng
}

// envMinute is a version's minute: the requests it served (expected) and
// the environments they needed at their peak.
type envMinute struct{ lam, need float64 }

// scaleCold is the share of a minute's lam requests (expected) on a
// version that are the cold first invocations of environments it starts:
// its peak need beyond the most it needed in the last keep minutes, and,
// at a trickle, every request that finds its environments reclaimed
// because none came in those minutes (probability e^-Λ, Λ their requests).
func scaleCold(hist *[]envMinute, lam, meanMs float64, keep int) float64 {
	need := envsNeeded(lam, meanMs)
	h := *hist
	*hist = append(h, envMinute{lam, need})
	if len(h) == 0 || lam <= 0 {
		return 0
	}
	have, recent := 0.0, 0.0
	for _, x := range h[max(0, len(h)-keep):] {
		have, recent = max(have, x.need), recent+x.lam
	}
	rise, idle := min(1, max(0, need-have)/lam), math.Exp(-recent)
	if idle < minColdShare {
		idle = 0
	}
	return 1 - (1-rise)*(1-idle)
}

// versionMinute is one version's behaviour during one minute.
type versionMinute struct {
	v                 *Version
	errP, thrP        float64
	slowQ, mu, slowMu float64
	scaleCold         float64 // Agg.ScaleCold
}

func (m *minute) versionMinute(v *Version, uErr, uThr float64) versionMinute {
	mid := m.start + period/2
	vm := versionMinute{v: v, errP: 1, thrP: betaRate(v.ThrRate, v.ThrKappa, uThr)}
	if !v.Hard {
		vm.errP = betaRate(v.errRate(m.sc, mid), v.ErrKappa, uErr)
	}
	l := &v.Latency
	vm.slowQ = min(l.SlowShare*m.tail, 1)
	vm.mu = math.Log(l.Median * m.scale * m.sc.latScale(mid))
	vm.slowMu = vm.mu + math.Log(l.SlowFactor)
	return vm
}

// capShare is the share of a minute's requests throttled for want of
// concurrency when lam requests a minute arrive at a function that can
// serve limit a minute (0: no limit).
func capShare(limit, lam float64) float64 {
	if limit <= 0 || lam <= limit {
		return 0
	}
	return 1 - limit/lam
}

// rate is the mean number of requests in the minute.
func (m *minute) rate() float64 {
	t := m.sc.Traffic
	mid := m.start + period/2
	x := t.level(mid)
	for _, sp := range t.Spikes {
		if m.start >= sp.Start && m.start < sp.Start+sp.Len {
			x *= sp.Factor
		}
	}
	return x * math.Exp(t.Noise*m.r.NormFloat64()-t.Noise*t.Noise/2)
}

func (m *minute) run(p *Period) {
	sc, r := m.sc, m.r
	lam := m.rate()
	n := r.poisson(lam)
	capThr := max(capShare(sc.Traffic.ConcurrencyCap, lam), sc.Traffic.poolOut(m.start))
	if so := sc.ScaleOut; so != nil && m.envs != nil {
		keep := max(1, int(so.KeepAlive/period))
		served := lam * (1 - capThr)
		oldShare := 1.0
		if m.start >= 0 {
			oldShare = 0
			if sc.Split {
				oldShare = 1 - sc.Weight
			}
			if len(m.envs.new) == 0 {
				m.envs.new = append(m.envs.new, m.envs.old...)
			}
		}
		if oldShare > 0 {
			p.Old.ScaleCold = scaleCold(&m.envs.old, served*oldShare, m.envs.oldMean, keep)
		}
		if oldShare < 1 {
			p.New.ScaleCold = scaleCold(&m.envs.new, served*(1-oldShare), m.envs.newMean, keep)
		}
		m.old.scaleCold, m.new.scaleCold = p.Old.ScaleCold, p.New.ScaleCold
	}
	for range n {
		at := m.start + time.Duration(r.Float64()*float64(period))
		vm, agg := &m.old, &p.Old
		if at >= 0 && (!sc.Split || r.Float64() < sc.Weight) {
			vm, agg = &m.new, &p.New
		}
		if thr := max(vm.thrP, capThr); thr > 0 && r.Float64() < thr {
			agg.Thr++
			continue
		}
		agg.Inv++
		failed := r.Float64() < vm.errP
		if failed {
			agg.Err++
		}
		agg.Dur = append(agg.Dur, m.duration(vm, at, failed))
	}
}

// duration draws one invocation's duration in ms.
func (m *minute) duration(vm *versionMinute, at time.Duration, failed bool) float64 {
	r, v := m.r, vm.v
	if failed && v.Hard {
		return math.Exp(failFastMu + failFastSd*r.NormFloat64())
	}
	mu, sigma := vm.mu, v.Latency.Sigma
	if vm.slowQ > 0 && r.Float64() < vm.slowQ {
		mu, sigma = vm.slowMu, v.Latency.SlowSigma
	}
	d := math.Exp(mu + sigma*r.NormFloat64())
	// Cold after the deploy (share c), or else the first invocation of an
	// environment started to scale out: 1 − (1−c)(1−scaleCold) in all.
	if c := v.Cold.share(at); c > 0 && r.Float64() < c {
		d *= math.Exp(math.Log(v.Cold.Factor) + v.Cold.Sigma*r.NormFloat64())
	} else if vm.scaleCold > 0 && m.envs.r.Float64() < vm.scaleCold {
		d *= math.Exp(math.Log(v.Cold.Factor) + v.Cold.Sigma*m.envs.r.NormFloat64())
	}
	return min(d, timeoutMs)
}

func simulateProbes(sc *Scenario) []ProbeResult {
	r := newRNG(sc.Kind, sc.Seed, "probes")
	iv := sc.Probe.Interval
	var out []ProbeResult
	for t := -baselineN*period + durU(r, 0, iv); t <= sc.Horizon; t += iv {
		out = append(out, drawProbe(r, sc, t))
	}
	return withProbeAtDeploy(sc, out)
}

// drawProbe draws the probe at t after the deploy: the version that
// answers it, whether it passes, how long it takes.
func drawProbe(r *rng, sc *Scenario, t time.Duration) ProbeResult {
	v := &sc.Old
	if t >= 0 && (!sc.Split || r.Float64() < sc.Weight) {
		v = &sc.New
	}
	pr := ProbeResult{At: sc.Deploy.Add(t).Truncate(time.Millisecond), Version: v.Name}
	pr.OK = r.Float64() >= v.healthFail(sc, t)
	pr.Latency = probeLatency(r, pr.OK)
	return pr
}

// probeAtDeploy is when the daemon probes a new version after its deploy
// is seen (watcher.Prober.Expedite): at the tick that first lists its
// watch, a tick after the one that saw it.
const probeAtDeploy = time.Second

// withProbeAtDeploy adds the probe the daemon runs at once when it sees the
// deploy, unless a regular one falls before it; drawn from a stream of its
// own, so the regular probes stay what they were.
func withProbeAtDeploy(sc *Scenario, out []ProbeResult) []ProbeResult {
	i := sort.Search(len(out), func(i int) bool { return !out[i].At.Before(sc.Deploy) })
	if i < len(out) && !out[i].At.After(sc.Deploy.Add(probeAtDeploy)) {
		return out
	}
	return slices.Insert(out, i, drawProbe(newRNG(sc.Kind, sc.Seed, "probe at deploy"), sc, probeAtDeploy))
}

// probeLatency draws a probe's latency: a failure (a 5xx) comes back fast.
func probeLatency(r *rng, ok bool) time.Duration {
	ms := 5.0
	if ok {
		ms = 25
	}
	return time.Duration(r.lognormal(math.Log(ms), 0.3) * float64(time.Millisecond)).Truncate(10 * time.Microsecond)
}
