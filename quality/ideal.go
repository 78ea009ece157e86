package quality

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Ideal is the limit: an oracle that knows the scenario's true parameters
// and runs a sequential probability ratio test (Wald) of "the new version
// behaves like the known-good one" (H0) against the truth (H1), on what
// canaryd could see: the new version's per-period counts as CloudWatch
// delivers them (final values, at their delivery time; ExecutedVersion
// gives them even in the deploy's minute), its durations binned at the
// known-good's p50/p90/p99/p99.9 (TC statistics), and every health probe.
// It rolls back when the log-likelihood ratio reaches log(1/Alpha); under
// H0 the likelihood ratio is a nonnegative martingale, so by Ville's
// inequality the false-rollback probability over the whole watch is at
// most Alpha. On good deploys H1 is unknown to any real test, so the
// oracle runs four alternatives (errors 2x, everything 1.5x slower,
// 5% more throttles, the health check failing half the time), each at
// Alpha/4. H0 includes the new version's cold starts and, during an
// incident, the known-good version's failures.
type Ideal struct {
	Alpha float64 // false-rollback probability per deploy, e.g. 1e-3
	// ColdUnknown makes the oracle blind to one thing: the new version's
	// cold starts. H0 is then every cold-start curve a good deploy of the
	// benchmark may show (coldNulls), and the oracle rolls back only once
	// its test against each of them would have: no valid test that does
	// not know the cold starts can do better than its test against the
	// hardest one of them, since a test valid against all is valid
	// against each (named "ideal-cold").
	ColdUnknown bool
}

// Name implements Judge.
func (id *Ideal) Name() string {
	if id.ColdUnknown {
		return "ideal-cold"
	}
	return "ideal"
}

// observation is one thing the oracle sees: a period's final values or a
// probe result.
type observation struct {
	at     time.Time
	period int // index into Sim.Periods, or -1
	probe  *ProbeResult
}

// Judge implements Judge.
func (id *Ideal) Judge(ctx context.Context, c *Case) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	d, _ := id.test(c, c.Scenario.Horizon)
	return d, nil
}

// test runs the sequential test on the observations delivered by until
// after the deploy; it returns the decision and the largest
// log-likelihood ratio reached.
func (id *Ideal) test(c *Case, until time.Duration) (Decision, float64) {
	sc := c.Scenario
	m := newModel(sc)
	h0, alts := hypotheses(sc)
	limit := math.Log(float64(len(alts)) / id.Alpha)
	llr := make([]float64, len(alts))
	// ColdUnknown: the same test against each other null (nulls), alt j
	// rejected once every one has reached the limit (left[j] counts
	// those that have not).
	var nulls []hypothesis
	var llrK [][]float64
	var hitK [][]bool
	left := make([]int, len(alts))
	hit0 := make([]bool, len(alts))
	if id.ColdUnknown {
		nulls = coldNulls(h0)
		for range alts {
			llrK, hitK = append(llrK, make([]float64, len(nulls))), append(hitK, make([]bool, len(nulls)))
		}
		for j := range left {
			left[j] = 1 + len(nulls)
		}
	}
	for _, e := range events(c) {
		if e.at.Sub(sc.Deploy) > until {
			break
		}
		if e.probe != nil {
			t := e.probe.At.Sub(sc.Deploy)
			f0 := m.probeFail(h0, t)
			for j := range alts {
				if f1 := m.probeFail(alts[j], t); f1 != f0 {
					x := probeLL(!e.probe.OK, f1) - probeLL(!e.probe.OK, f0)
					llr[j] += x
					for k := range nulls { // the probes know nothing of cold starts
						llrK[j][k] += x
					}
				}
			}
		} else {
			o := m.observe(&c.Sim.Periods[e.period])
			for j := range alts {
				llr[j] += m.periodLLR(h0, alts[j], &o)
				lat := latencyDiffers(h0.v, alts[j].v)
				for k := range nulls {
					llrK[j][k] += m.periodLLRLat(nulls[k], alts[j], &o, lat)
				}
			}
		}
		if id.ColdUnknown {
			for j := range alts {
				if llr[j] >= limit && !hit0[j] {
					hit0[j] = true // the scenario's own cold starts
					left[j]--
				}
				for k, x := range llrK[j] {
					if x >= limit && !hitK[j][k] {
						hitK[j][k] = true
						left[j]--
					}
				}
				if left[j] == 0 {
					return Decision{Failing: true, At: e.at.Sub(sc.Deploy),
						Note: fmt.Sprintf("log-likelihood ratio >= log(%d/alpha) = %.1f against %s, under each of %d cold-start curves", len(alts), limit, altName(sc, j), 1+len(nulls))}, llr[j]
				}
			}
			continue
		}
		for j, x := range llr {
			if x >= limit {
				return Decision{Failing: true, At: e.at.Sub(sc.Deploy),
					Note: fmt.Sprintf("log-likelihood ratio %.1f >= log(%d/alpha) = %.1f against %s", x, len(alts), limit, altName(sc, j))}, x
			}
		}
	}
	top := slices.Max(llr)
	return Decision{Note: fmt.Sprintf("log-likelihood ratio at most %.2f of %.1f", top, limit)}, top
}

// periodLLR is the log-likelihood ratio of one period, H1 against H0,
// over the streams whose models differ.
func (m *model) periodLLR(h0, h1 hypothesis, o *obs) float64 {
	return m.periodLLRLat(h0, h1, o, latencyDiffers(h0.v, h1.v))
}

// latencyDiffers reports whether the duration stream tells a from b.
func latencyDiffers(a, b *Version) bool {
	return !a.Hard && !b.Hard && (a.Latency != b.Latency || a.Cold != b.Cold)
}

// periodLLRLat is periodLLR with the duration stream included or not
// (withLat): ideal-cold's nulls differ from the truth's in their cold
// starts alone, which must not make a regression of errors a latency one.
func (m *model) periodLLRLat(h0, h1 hypothesis, o *obs, withLat bool) float64 {
	a, b := h0.v, h1.v
	l0, l1 := m.periodLL(h0, o, withLat), m.periodLL(h1, o, withLat)
	x := l1.lat - l0.lat
	if a.ErrRate != b.ErrRate || a.ErrKappa != b.ErrKappa || a.Hard != b.Hard || a.RampTo != b.RampTo ||
		a.RampOver != b.RampOver || a.IncErrRate != b.IncErrRate {
		x += l1.errs - l0.errs
	}
	if a.ThrRate != b.ThrRate || a.ThrKappa != b.ThrKappa {
		x += l1.thr - l0.thr
	}
	return x
}

// hypotheses are H0 (the new version behaving like the known-good one,
// cold starts included) and the alternatives: the truth for a bad kind,
// four generic ones for a good kind.
func hypotheses(sc *Scenario) (hypothesis, []hypothesis) {
	h0 := sc.Old
	h0.Name, h0.Cold = sc.New.Name, sc.New.Cold
	spec, _ := Spec(sc.Kind)
	if spec.Bad {
		nv := sc.New
		return hypothesis{&h0}, []hypothesis{{&nv}}
	}
	e, l, t, p := h0, h0, h0, h0
	e.ErrRate, e.IncErrRate = min(1, 2*h0.ErrRate), min(1, 2*h0.IncErrRate)
	l.Latency = regress(h0.Latency, 1.5, 0)
	t.ThrRate = h0.ThrRate + 0.05
	p.HealthFail, p.IncHealthFail = 1-(1-h0.HealthFail)/2, 1-(1-h0.IncHealthFail)/2
	return hypothesis{&h0}, []hypothesis{{&e}, {&l}, {&t}, {&p}}
}

// Cold-start curves of ideal-cold's nulls: the two families the
// benchmark's good deploys draw theirs from (quality/kinds.go), each
// spanned by a grid: every deploy's 2-10 % of the first invocations 2-4x
// slower with a 20-60 s time constant, and good/cold-start's 30-80 %,
// 5-15x, 15-40 s.
var coldNullFamilies = []struct {
	shares, factors []float64
	taus            []time.Duration
	sigma           float64
}{
	{[]float64{0.02, 0.05, 0.1}, []float64{2, 3, 4}, []time.Duration{20 * time.Second, 40 * time.Second, 60 * time.Second}, 0.4},
	{[]float64{0.3, 0.55, 0.8}, []float64{5, 8, 15}, []time.Duration{15 * time.Second, 25 * time.Second, 40 * time.Second}, 0.5},
}

// coldNulls are h0 with every cold-start curve of coldNullFamilies.
func coldNulls(h0 hypothesis) []hypothesis {
	var out []hypothesis
	for _, f := range coldNullFamilies {
		for _, s := range f.shares {
			for _, tau := range f.taus {
				for _, x := range f.factors {
					v := *h0.v
					v.Cold = ColdStart{Share: s, Tau: tau, Factor: x, Sigma: f.sigma}
					out = append(out, hypothesis{&v})
				}
			}
		}
	}
	return out
}

func altName(sc *Scenario, j int) string {
	if spec, _ := Spec(sc.Kind); spec.Bad {
		return "the true new version"
	}
	return [...]string{"errors 2x", "1.5x slower", "+5% throttles", "health failing half the time"}[j]
}

// events are the observations the oracle sees, in delivery order: each
// period of the new version when its final values arrive, each probe.
func events(c *Case) []observation {
	sc, s := c.Scenario, c.Sim
	end := sc.Deploy.Add(sc.Horizon)
	var out []observation
	for i := s.DeployIndex(); i < len(s.Periods); i++ {
		if f := c.Delivery[i].Final; !f.IsZero() && !f.After(end) {
			out = append(out, observation{at: f, period: i})
		}
	}
	for i := range s.Probes {
		if pr := &s.Probes[i]; !pr.At.Before(sc.Deploy) && !pr.At.After(end) {
			out = append(out, observation{at: pr.At, period: -1, probe: pr})
		}
	}
	slices.SortStableFunc(out, func(a, b observation) int { return a.at.Compare(b.at) })
	return out
}
