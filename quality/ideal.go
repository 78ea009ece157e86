package quality

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
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
	// Blind makes the oracle blind to one thing it otherwise knows. H0 is
	// then every value of it a good deploy of the benchmark may show
	// (Blindness.nulls) and the scenario's own, and the oracle rolls back
	// only once its test against each of them would have: no valid test
	// that does not know the thing can do better than its test against
	// the hardest of them, since a test valid against all is valid
	// against each.
	Blind Blindness
}

// Blindness is what an ideal test does not know: a set of things, each
// of which it must allow every value the benchmark's good deploys draw.
type Blindness uint8

// SeesAll is the ideal test, blind to nothing.
const SeesAll Blindness = 0

const (
	BlindCold   Blindness = 1 << iota // the new version's cold starts ("cold")
	BlindBursts                       // the burst shape of the errors ("bursts")
	BlindRate                         // the known-good's error rate ("rate")
	BlindEffect                       // what a bad deploy's regression is, its kind and size ("effect")
	BlindWarmup                       // warm-ups no good deploy of the benchmark draws ("warmup"; see warmupNullFamily)
)

// blindNames name what each Blindness hides, in the order a judge's name
// ("ideal-" and them, joined by "+") lists them.
var blindNames = []blindName{{BlindCold, "cold"}, {BlindBursts, "bursts"}, {BlindRate, "rate"}, {BlindEffect, "effect"}, {BlindWarmup, "warmup"}}

type blindName struct {
	b    Blindness
	name string
}

// ParseBlindness reads a Blindness by its names joined by "+" ("cold",
// "bursts", "rate", "effect", "rate+bursts+effect").
func ParseBlindness(name string) (Blindness, error) {
	var b Blindness
	for part := range strings.SplitSeq(name, "+") {
		i := slices.IndexFunc(blindNames, func(n blindName) bool { return n.name == part })
		if i < 0 {
			return SeesAll, fmt.Errorf("ideal test blind to %q: want cold, bursts, rate, effect or warmup, or several joined by +", part)
		}
		b |= blindNames[i].b
	}
	return b, nil
}

// Name implements Judge.
func (id *Ideal) Name() string {
	var parts []string
	for _, n := range blindNames {
		if id.Blind&n.b != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "ideal"
	}
	return "ideal-" + strings.Join(parts, "+")
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
	per := len(alts) // the alternatives' kinds Alpha is split between
	limit := math.Log(float64(per) / id.Alpha)
	// Blind to what regressed, the oracle does not know the regression's
	// kind either: like on a good deploy, each of the four kinds (errors,
	// latency, throttles, the health check) gets Alpha/4, a lower bound
	// on the mixture of the four with equal weights. Within its kind its
	// H1 is the mixture of effectAlternatives with equal weights: one
	// test whose likelihood ratio is their mean.
	mixed := false
	if spec, _ := Spec(sc.Kind); spec.Bad && id.Blind&BlindEffect != 0 {
		per = regressionKinds
		limit = math.Log(float64(per) / id.Alpha)
		if v := effectAlternatives(h0, alts[0]); len(v) > 0 {
			alts, mixed = v, true
		}
	}
	// The test of each alternative against each null: H0 first, then
	// those a blind oracle must reject too. Alternative j is rejected
	// once its test against every null has reached the limit.
	nulls := append([]hypothesis{h0}, id.Blind.nulls(h0, &sc.Old)...)
	llr, hit := make([][]float64, len(alts)), make([][]bool, len(alts))
	for j := range alts {
		llr[j], hit[j] = make([]float64, len(nulls)), make([]bool, len(nulls))
	}
	// Blind to the known-good's error rate or to the errors' burst shape,
	// the oracle learns them where canaryd learns the rate: from the
	// known-good's own minutes of the baseline hour, which each null
	// explains with its own.
	if id.Blind&(BlindRate|BlindBursts) != 0 {
		for i := range c.Sim.DeployIndex() {
			m.addKnownGood(llr, h0, alts, nulls, &c.Sim.Periods[i])
		}
	}
	for _, e := range events(c) {
		if e.at.Sub(sc.Deploy) > until {
			break
		}
		changed := e.probe == nil
		if e.probe != nil {
			t := e.probe.At.Sub(sc.Deploy)
			f0 := m.probeFail(h0, t)
			for j := range alts {
				if f1 := m.probeFail(alts[j], t); f1 != f0 {
					x := probeLL(!e.probe.OK, f1) - probeLL(!e.probe.OK, f0)
					changed = true
					for k := range nulls { // the probes know nothing of cold starts or bursts
						llr[j][k] += x
					}
				}
			}
		} else {
			o := m.observe(&c.Sim.Periods[e.period])
			// The nulls' likelihoods depend on the streams compared
			// alone, which an effect-blind oracle's alternatives share.
			nullLL := map[streamSet][]float64{}
			for j := range alts {
				st := differs(h0.v, alts[j].v)
				l0, ok := nullLL[st]
				if !ok {
					l0 = make([]float64, len(nulls))
					for k := range nulls {
						l0[k] = m.periodLL(nulls[k], &o, st.lat).in(st)
					}
					nullLL[st] = l0
				}
				l1 := m.periodLL(alts[j], &o, st.lat).in(st)
				for k := range nulls {
					llr[j][k] += l1 - l0[k]
				}
			}
		}
		if mixed {
			if !changed {
				continue
			}
			if top, ok := mixtureHit(llr, hit[0], limit); ok {
				note := fmt.Sprintf("log of the mean likelihood ratio of %d sizes of the regression %.1f >= log(%d/alpha) = %.1f%s", len(alts), top, per, limit, othersNote(nulls))
				return Decision{Failing: true, At: e.at.Sub(sc.Deploy), Note: note}, top
			}
			continue
		}
		for j := range alts {
			for k, x := range llr[j] {
				hit[j][k] = hit[j][k] || x >= limit
			}
			if slices.Contains(hit[j], false) {
				continue
			}
			note := fmt.Sprintf("log-likelihood ratio %.1f >= log(%d/alpha) = %.1f against %s%s", llr[j][0], per, limit, altName(sc, j), othersNote(nulls))
			return Decision{Failing: true, At: e.at.Sub(sc.Deploy), Note: note}, llr[j][0]
		}
	}
	top := math.Inf(-1)
	for j := range alts {
		top = max(top, llr[j][0])
	}
	if mixed {
		top = mixtureLLR(llr, 0)
	}
	return Decision{Note: fmt.Sprintf("log-likelihood ratio at most %.2f of %.1f", top, limit)}, top
}

// periodLLR is the log-likelihood ratio of one period, H1 against H0,
// over the streams whose models differ.
func (m *model) periodLLR(h0, h1 hypothesis, o *obs) float64 {
	st := differs(h0.v, h1.v)
	return m.periodLL(h1, o, st.lat).in(st) - m.periodLL(h0, o, st.lat).in(st)
}

// streamSet says which streams a log-likelihood ratio sums. A blind
// oracle's nulls differ from the scenario's H0 in what it is blind to
// alone, which must not make a regression of errors a latency one, or
// one of latency an error one: its streams are those where H0 and H1
// differ.
type streamSet struct{ lat, errs, thr bool }

// differs is the streams whose models tell a from b.
func differs(a, b *Version) streamSet {
	return streamSet{
		lat: !a.Hard && !b.Hard && (a.Latency != b.Latency || a.Cold != b.Cold),
		errs: a.ErrRate != b.ErrRate || a.ErrKappa != b.ErrKappa || a.Hard != b.Hard || a.RampTo != b.RampTo ||
			a.RampOver != b.RampOver || a.IncErrRate != b.IncErrRate,
		thr: a.ThrRate != b.ThrRate || a.ThrKappa != b.ThrKappa,
	}
}

// regressionKinds is how many kinds of regression an oracle that does not
// know which one a deploy has must guard against: hypotheses' four
// alternatives on a good deploy.
const regressionKinds = 4

// hypotheses are H0 (the new version behaving like the known-good one,
// cold starts included) and the alternatives: the truth for a bad kind,
// four generic ones for a good kind.
func hypotheses(sc *Scenario) (hypothesis, []hypothesis) {
	h0 := sc.Old
	h0.Name, h0.Cold = sc.New.Name, sc.New.Cold
	spec, _ := Spec(sc.Kind)
	if spec.Bad {
		nv := sc.New
		return hypothesis{v: &h0}, []hypothesis{{v: &nv}}
	}
	e, l, t, p := h0, h0, h0, h0
	e.ErrRate, e.IncErrRate = min(1, 2*h0.ErrRate), min(1, 2*h0.IncErrRate)
	l.Latency = regress(h0.Latency, 1.5, 0)
	t.ThrRate = h0.ThrRate + 0.05
	p.HealthFail, p.IncHealthFail = 1-(1-h0.HealthFail)/2, 1-(1-h0.IncHealthFail)/2
	return hypothesis{v: &h0}, []hypothesis{{v: &e}, {v: &l}, {v: &t}, {v: &p}}
}

// Cold-start curves of ideal-cold's nulls: the two families the
// benchmark's good deploys draw theirs from (quality/kinds.go), each
// spanned by a grid: every deploy's 2-10 % of the first invocations 2-4x
// slower with a 20-60 s time constant, and good/cold-start's 30-80 %,
// 5-15x, 15-40 s.
var coldNullFamilies = []coldFamily{
	{[]float64{0.02, 0.05, 0.1}, []float64{2, 3, 4}, []time.Duration{20 * time.Second, 40 * time.Second, 60 * time.Second}, 0.4},
	{[]float64{0.3, 0.55, 0.8}, []float64{5, 8, 15}, []time.Duration{15 * time.Second, 25 * time.Second, 40 * time.Second}, 0.5},
}

// coldFamily is a grid of cold-start curves (ColdStart): every share,
// time constant and factor combined.
type coldFamily struct {
	shares, factors []float64
	taus            []time.Duration
	sigma           float64
}

// warmupNullFamily is a warm-up the benchmark's good deploys never draw
// but real ones show, inside the shipped rules' cold-start model (a share
// of at most e^(-t/40s) of the invocations slower, by any factor): an
// empty cache or connection pool, or code not yet compiled, making most
// or all of the first invocations 1.5-4x slower, fading with a 20-40 s
// time constant. An oracle blind to it as well ("cold+warmup") no longer
// knows that a cold invocation of a good deploy is either rare or very
// slow; it is diagnostic (quality -ideal-blind), not part of the fair
// limit.
var warmupNullFamily = coldFamily{[]float64{0.3, 0.6, 1}, []float64{1.5, 2.5, 4}, []time.Duration{20 * time.Second, 30 * time.Second, 40 * time.Second}, 0.3}

// errKappaNulls are ideal-bursts' burst shapes of the errors: from the
// clumps of good/clumpy-errors (0.02-0.1) through good/bursty-errors'
// (0.3-2) to every deploy's mild ones (10-100). (The throttles' shape is
// 0.5 in every kind, so blind to it the oracle would be the ideal.)
var errKappaNulls = []float64{0.02, 0.05, 0.1, 0.3, 0.7, 2, 10, 30, 100}

// nulls are the hypotheses besides h0 that an oracle blind to b must
// reject (none for SeesAll): every combination of the values of what it
// is blind to, the scenario's own among them, but h0 itself. kg is the
// scenario's known-good; each null has one of its own, with the null's
// error rate and burst shape.
func (b Blindness) nulls(h0 hypothesis, kg *Version) []hypothesis {
	if b == SeesAll {
		return nil
	}
	k0 := *kg
	list := []hypothesis{{v: h0.v, kg: &k0}}
	if b&(BlindCold|BlindWarmup) != 0 {
		list = expand(list, coldVariants(b))
	}
	if b&BlindBursts != 0 {
		var vs []func(v, kg *Version)
		for _, k := range errKappaNulls {
			vs = append(vs, func(v, kg *Version) { v.ErrKappa, kg.ErrKappa = k, k })
		}
		list = expand(list, vs)
	}
	if b&BlindRate != 0 {
		list = expand(list, rateVariants())
	}
	return list[1:] // list[0] is h0: every value the scenario's own
}

// expand is every hypothesis of list as it is and with each variant
// applied, each hypothesis followed by its variants (list[0] stays first).
func expand(list []hypothesis, variants []func(v, kg *Version)) []hypothesis {
	out := make([]hypothesis, 0, len(list)*(len(variants)+1))
	for _, h := range list {
		out = append(out, h)
		for _, f := range variants {
			v, k := *h.v, *h.kg
			f(&v, &k)
			out = append(out, hypothesis{v: &v, kg: &k})
		}
	}
	return out
}

// rateNullSpan and rateNullSteps are ideal-rate's grid of error rates:
// the known-good's times e^(i·span/steps), i from -steps to steps, so
// 1/8 to 8 times it in steps of 4.4 %.
const (
	rateNullSpan  = 3 * math.Ln2 // ln 8
	rateNullSteps = 48
)

// rateVariants set the known-good's error rate, and the new version's
// like it, to every multiple on rateNullSpan's grid but 1 (the scenario's
// own).
func rateVariants() []func(v, kg *Version) {
	var out []func(v, kg *Version)
	for i := -rateNullSteps; i <= rateNullSteps; i++ {
		if i == 0 {
			continue
		}
		f := math.Exp(rateNullSpan * float64(i) / rateNullSteps)
		out = append(out, func(v, kg *Version) {
			v.ErrRate, v.IncErrRate = v.ErrRate*f, min(1, v.IncErrRate*f)
			kg.ErrRate, kg.IncErrRate = kg.ErrRate*f, min(1, kg.IncErrRate*f)
		})
	}
	return out
}

// addKnownGood adds to each test the evidence of a period's known-good
// invocations about the nulls' error rates and burst shapes: their
// log-likelihood under the scenario's known-good less that under each
// null's (h0, without a known-good of its own, adds nothing). Only where
// the test's alternative is an error one: a latency regression's test is
// not about errors. The known-good's errors in the minutes before the deploy
// are independent of the new version's after it; the deploy's own minute,
// and a split's, share their bursts with the new version's, so the
// oracle reads only the minutes before it.
func (m *model) addKnownGood(llr [][]float64, h0 hypothesis, alts, nulls []hypothesis, p *Period) {
	if p.Old.Inv <= 0 {
		return
	}
	t := p.Start.Sub(m.sc.Deploy) + period/2
	ll := func(v *Version) float64 {
		if v.Hard {
			return 0
		}
		return logBetaBinom(p.Old.Err, p.Old.Inv, v.errRate(m.sc, t), v.ErrKappa)
	}
	truth := ll(&m.sc.Old)
	lln := make([]float64, len(nulls))
	for k, n := range nulls {
		if n.kg != nil {
			lln[k] = ll(n.kg)
		}
	}
	for j := range alts {
		if !differs(h0.v, alts[j].v).errs {
			continue
		}
		for k, n := range nulls {
			if n.kg != nil {
				llr[j][k] += truth - lln[k]
			}
		}
	}
}

// coldVariants set the new version's cold starts to every curve of
// coldNullFamilies (blind to cold starts) and of warmupNullFamily (blind
// to warm-ups).
func coldVariants(b Blindness) []func(v, kg *Version) {
	var fams []coldFamily
	if b&BlindCold != 0 {
		fams = append(fams, coldNullFamilies...)
	}
	if b&BlindWarmup != 0 {
		fams = append(fams, warmupNullFamily)
	}
	var out []func(v, kg *Version)
	for _, f := range fams {
		for _, s := range f.shares {
			for _, tau := range f.taus {
				for _, x := range f.factors {
					c := ColdStart{Share: s, Tau: tau, Factor: x, Sigma: f.sigma}
					out = append(out, func(v, _ *Version) { v.Cold = c })
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

// othersNote is a rollback note's tail for a blind oracle's nulls
// besides H0 ("" when there are none).
func othersNote(nulls []hypothesis) string {
	if len(nulls) <= 1 {
		return ""
	}
	return fmt.Sprintf(", and against each of %d other nulls", len(nulls)-1)
}

// mixtureLLR is the log of the mean likelihood ratio over the
// alternatives (rows of llr) against null k.
func mixtureLLR(llr [][]float64, k int) float64 {
	top := math.Inf(-1)
	for j := range llr {
		top = max(top, llr[j][k])
	}
	sum := 0.0
	for j := range llr {
		sum += math.Exp(llr[j][k] - top)
	}
	return top + math.Log(sum/float64(len(llr)))
}

// mixtureHit marks in hit each null whose mixture test has reached
// limit, now or before, and reports whether every null's has; top is
// the mixture's log-likelihood ratio against H0.
func mixtureHit(llr [][]float64, hit []bool, limit float64) (top float64, all bool) {
	all = true
	for k := range hit {
		if !hit[k] {
			hit[k] = mixtureLLR(llr, k) >= limit
		}
		all = all && hit[k]
	}
	return mixtureLLR(llr, 0), all
}

// effectRatios, effectP99s and effectRamps are the sizes an effect-blind
// oracle's H1 mixes, equally weighted: the range the benchmark's bad
// kinds draw theirs from (kinds.go), on a grid that does not single out
// any kind's own value. A real test does not know that range; the
// oracle's mixture is therefore an upper bound on what a test that hedges
// over the size could reach here, not a design. Error rates 2x to 10x the
// known-good's (errors-2x's 2, after-fix's 3, a canary's 3-10, errors-10x's
// 10) in 9 steps 22 % apart; p99s 1.4x to 2.2x (1.5 and 2) in 5 steps,
// each in every way regress makes a p99 slower; ramps to 5-20x over 15-30
// minutes.
var (
	effectRatios    = logGrid(2, 10, 9)
	effectP99s      = logGrid(1.4, 2.2, 5)
	effectRamps     = logGrid(5, 20, 4)
	effectRampOvers = []time.Duration{15 * time.Minute, 22 * time.Minute, 30 * time.Minute}
)

func logGrid(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lo * math.Pow(hi/lo, float64(i)/float64(n-1))
	}
	return out
}

// effectAlternatives are the H1s of an effect-blind oracle within the
// kind of regression a bad deploy has (errors, latency or a ramp; the
// kind itself it pays for with alpha/4): the truth with its size on a
// grid, relative to h0. Each keeps the
// scenario's known-good, also when the oracle is blind to its rate: its
// nulls then span the rate, but its H1 knows it, for a mixture over the
// rate too costs the log of the prior's width over the baseline's
// posterior (4-5 nats with an hour of errors on a grid from 1/8 to 8
// times), which a conditional test (the new version's share of both
// sides' errors, canaryd's) does not pay. None (the truth stays H1) for a
// hard failure, throttling or a failing health check, whose size is not
// the question, and for a regression of both errors and latency.
func effectAlternatives(h0, truth hypothesis) []hypothesis {
	o, t := h0.v, truth.v
	errs := t.ErrRate != o.ErrRate || t.IncErrRate != o.IncErrRate
	lat := t.Latency != o.Latency
	ramp := t.RampTo != o.RampTo || t.RampOver != o.RampOver
	if t.Hard || t.ThrRate != o.ThrRate || t.HealthFail != o.HealthFail || t.IncHealthFail != o.IncHealthFail ||
		(errs || ramp) == lat {
		return nil
	}
	var out []hypothesis
	add := func(f func(v *Version)) {
		v := *t
		f(&v)
		out = append(out, hypothesis{v: &v})
	}
	switch {
	case lat:
		for _, r := range effectP99s {
			for mode := range 3 {
				add(func(v *Version) { v.Latency = regress(o.Latency, r, mode) })
			}
		}
	case ramp:
		for _, to := range effectRamps {
			for _, over := range effectRampOvers {
				add(func(v *Version) { v.RampTo, v.RampOver = to, over })
			}
		}
	default:
		for _, r := range effectRatios {
			add(func(v *Version) {
				if t.ErrRate != o.ErrRate {
					v.ErrRate = min(1, o.ErrRate*r)
				}
				if t.IncErrRate != o.IncErrRate {
					v.IncErrRate = min(1, o.IncErrRate*r)
				}
			})
		}
	}
	return out
}
