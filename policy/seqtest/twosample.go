package seqtest

import "math"

// TwoSample tests H0: rate_new ≤ r0 · rate_ref, the new version's event
// rate against the known-good version's, with two kinds of evidence that
// multiply:
//
//   - against a reference block observed once before the deploy (the
//     pre-deploy baseline): Poisson counts, the reference rate λ a nuisance
//     integrated out under a proper Gamma(a, b) prior in the numerator and
//     profiled out (maximised) in the denominator (see LogE);
//   - against the known-good version's concurrent counts while the alias
//     splits traffic: per period, the share of the period's events that fall
//     on the new version, whose law does not depend on the nuisance at all
//     (see AddSplitPeriod).
//
// The alternatives are rate ratios r_g = r0·e^{s_g}.
type TwoSample struct {
	grid *Grid
	r0   float64
	// Prior on the reference rate (events per trial): Gamma(shape a,
	// rate b). Proper, so the mixture is a probability distribution of the
	// whole data sequence. a = 0.5, b = 10 spreads over the rates that
	// errors, slow invocations and failed probes have: its density of
	// log λ is e^-1.6 .. e^-2.9 from 0.1% to 30%, e^-4 at 0.01%, and that
	// density is what not knowing λ costs (with ½·log of the counts).
	// With an informed component (WithInformedPrior) the prior is a
	// mixture of Gamma laws.
	priors []gammaPrior
	logR   []float64 // log r_g
	r      []float64 // r_g
}

// gammaPrior is one component of the prior on the reference rate:
// Gamma(a, b) with weight w, c = log w + a·log b - lgamma(a).
type gammaPrior struct{ a, b, c float64 }

func newGammaPrior(a, b, w float64) gammaPrior {
	lg, _ := math.Lgamma(a)
	return gammaPrior{a: a, b: b, c: math.Log(w) + a*math.Log(b) - lg}
}

// Prior parameters of the reference rate.
const (
	priorShape = 0.5
	priorRate  = 10.0
)

// NewTwoSample prepares the test of H0: rate_new ≤ r0·rate_ref (r0 ≥ 1 is
// 1 + min_effect).
func NewTwoSample(r0 float64, g *Grid) *TwoSample {
	return NewTwoSamplePrior(r0, g, priorShape, priorRate)
}

// NewTwoSamplePrior is NewTwoSample with a Gamma(shape a, rate b) prior
// on the reference rate, for a rule that knows where the rate lies before
// seeing any data (compare_latency: the known-good's share of invocations
// slower than its own pNN is about 1 - NN/100 by construction). Any proper
// prior fixed before the data keeps the test valid; one that puts more
// weight near the true rate costs less evidence.
func NewTwoSamplePrior(r0 float64, g *Grid, a, b float64) *TwoSample {
	t := &TwoSample{grid: g, r0: r0, priors: []gammaPrior{newGammaPrior(a, b, 1)},
		logR: make([]float64, g.Len()), r: make([]float64, g.Len())}
	for i := range t.r {
		t.logR[i] = math.Log(r0) + g.Effect(i)
		t.r[i] = math.Exp(t.logR[i])
	}
	return t
}

// WithInformedPrior is the same test with the prior on the reference
// rate learnt from earlier data (x events in n trials before the
// reference block): the mixture (1-w)·π + w·π_v(·|x, n) of the test's
// prior π and the vague prior's posterior given them. Data from before
// the reference block fix the prior before the data the e-value is a
// likelihood ratio of, so the test stays valid whatever they were; when
// they agree with the reference block, not knowing the rate costs about
// ½·log(1 + N_ref/n) + log(1/w) instead of the vague prior's 3-4 nats,
// and when they do not (the known-good's rate moved: a drift, an
// incident), π still holds, at log(1/(1-w)). The posterior is the vague
// prior's, not π's: a centred π (NewTwoSamplePrior) that missed where
// the rate is would pull the informed component away from the data too
// (compare_latency's p99.9 at 125 invocations a minute: the known-good's
// share above its per-minute p99.9 is 0.8%, not 0.1%, and the e-value
// started 15 nats down).
func (t *TwoSample) WithInformedPrior(x, n, w float64) *TwoSample {
	if n <= 0 || w <= 0 || w >= 1 || len(t.priors) != 1 {
		return t
	}
	c := *t
	p := t.priors[0]
	c.priors = []gammaPrior{newGammaPrior(p.a, p.b, 1-w), newGammaPrior(priorShape+x, priorRate+n, w)}
	return &c
}

// LogMix mixes one log likelihood ratio per alternative (a split vector)
// with the test's grid weights.
func (t *TwoSample) LogMix(terms []float64) float64 { return t.grid.LogMix(terms[:len(t.r)]) }

// R0 is the null boundary ratio.
func (t *TwoSample) R0() float64 { return t.r0 }

// Len is the number of alternatives (the length of a split vector).
func (t *TwoSample) Len() int { return len(t.r) }

// AddSplitPeriod adds one split period's evidence to split (one log
// likelihood ratio per alternative): xn events in n trials of the new
// version and xo in o of the known-good one, over the same period.
//
// Treating the two arms' counts as Poisson with means r·λ·n and λ·o, the
// factor (r/r0)^xn · ((r0·n + o)/(r·n + o))^(xn+xo) is the likelihood ratio
// of the new arm's share of the period's events: its expectation is
// exactly 1 at r = r0 for any λ (exp(λ((r/r0)c·r0·n + c·o - r0·n - o)) with
// c = (r0·n+o)/(r·n+o) is e^0), and for binomial arms it is at most 1
// (1 + p(t-1) ≤ e^{p(t-1)}), whatever λ is in each period. So the product
// over split periods is a supermartingale under H0 with no nuisance left:
// no prior, no cost, and a known-good rate that drifts during the day
// does not matter.
//
// Overdispersion (invK = 1/k > 0, each arm's rate with its own gamma
// burst of shape k; lambda the known-good's rate per trial, the null
// boundary's scale): alternative g's log ratio is a_g·xn - b_g·xo with
// b_g = log((r·n+o)/(r0·n+o)) and a_g = log(r/r0) - b_g, so its variance
// is a_g²·μn·(1+μn/k) + b_g²·μo·(1+μo/k) against a_g²·μn + b_g²·μo for
// Poisson arms (μn = r0·λ·n, μo = λ·o). Each alternative is tempered by
// its own ratio φ_g (the quasi-likelihood, as for one count): a small
// effect leans on the canary's few events (φ near 1 + 2·μn/k for a 10%
// canary), a large one also on the known-good's many, whose bursts then
// matter. One φ for all, from the larger arm, would over-temper the small
// effects several-fold; from the smaller arm it would under-temper the
// large ones (simulated: 7.7% false alarms at α = 5% with per-arm bursts
// of shape 1 at 5,000 invocations a minute). A burst that hits both arms
// alike moves the share not at all, so this is conservative for it.
func (t *TwoSample) AddSplitPeriod(split []float64, xn, n, xo, o, lambda, invK float64) {
	if xn+xo <= 0 || n <= 0 || o <= 0 {
		return // no events, or one arm without traffic: no information
	}
	s := newSplitArms(t.r0, xn, n, xo, o, lambda, invK)
	for i, r := range t.r {
		split[i] += s.logLR(r, t.logR[i]-math.Log(t.r0))
	}
}

// SplitLogLR is AddSplitPeriod's log likelihood ratio for one ratio r
// against r0 (0 when there is no information): the new arm's xn events
// in n trials against the other's xo in o, tempered by the arms' bursts
// (invK at rate lambda) as AddSplitPeriod says.
func SplitLogLR(r, r0, xn, n, xo, o, lambda, invK float64) float64 {
	if xn+xo <= 0 || n <= 0 || o <= 0 {
		return 0
	}
	return newSplitArms(r0, xn, n, xo, o, lambda, invK).logLR(r, math.Log(r)-math.Log(r0))
}

// splitArms is one split period's counts with the null boundary's means
// (mn, mo) and their variances under the bursts (vn, vo).
type splitArms struct {
	r0, xn, n, xo, o, mn, mo, vn, vo, invK float64
}

func newSplitArms(r0, xn, n, xo, o, lambda, invK float64) splitArms {
	mn, mo := r0*lambda*n, lambda*o
	return splitArms{r0: r0, xn: xn, n: n, xo: xo, o: o, mn: mn, mo: mo,
		vn: mn * Phi(mn, invK), vo: mo * Phi(mo, invK), invK: invK}
}

// logLR is the tempered log likelihood ratio of the new arm's share at
// ratio r (lr0 = log(r/r0)) against r0.
func (s splitArms) logLR(r, lr0 float64) float64 {
	b := math.Log((r*s.n + s.o) / (s.r0*s.n + s.o))
	a := lr0 - b
	lr := a*s.xn - b*s.xo
	if s.invK > 0 && s.mn+s.mo > 0 {
		if pois := a*a*s.mn + b*b*s.mo; pois > 0 {
			lr *= pois / (a*a*s.vn + b*b*s.vo)
		}
	}
	return lr
}

// Block is a count of events in trials (tempered sums allowed).
type Block struct{ X, N float64 }

// LogE is the log e-value of the new version's events (cur) against the
// pre-deploy reference block (ref), multiplied by the split evidence
// (split, one log likelihood ratio per alternative; nil when there is
// none).
//
// With K = X_ref + X_new, the numerator is the mixture
//
//	m1 = Σ_g w_g ∫ Pois(X_ref; λ N_ref) Pois(X_new; r_g λ N_new) Gamma(λ; a, b) dλ
//	   ∝ Σ_g w_g r_g^X_new · b^a Γ(a+K) / (Γ(a) (b + N_ref + r_g N_new)^(a+K))
//
// and the denominator the likelihood maximised over the null,
//
//	sup_{λ, ρ ≤ r0} λ^K ρ^X_new e^{-λ (N_ref + ρ N_new)} = K^K e^{-K} ρ*^X_new (N_ref + ρ* N_new)^-K,
//
// ρ* = min(r0, X_new N_ref / (X_ref N_new)) (the profile likelihood is
// unimodal in ρ). The mixture is a probability distribution of the whole
// data sequence, the reference block included, and the maximised
// likelihood is at least the true one, so the ratio is at most m1/L_true,
// a martingale of mean 1 under any λ and any ρ ≤ r0.
func (t *TwoSample) LogE(ref, cur Block, split []float64) float64 {
	return t.logMixture(ref, cur, split) - t.logSupNull(ref, cur, ref.X+cur.X)
}

// logMixture is the log of the numerator m1 of LogE and LogEOffset (the
// mixture over the alternatives, the reference rate integrated out), times
// the split evidence, without the constants the denominators share.
func (t *TwoSample) logMixture(ref, cur Block, split []float64) float64 {
	k := ref.X + cur.X
	out := math.Inf(-1)
	for _, p := range t.priors {
		var buf [MaxAlternatives]float64
		terms := buf[:len(t.r)]
		for i, r := range t.r {
			terms[i] = cur.X*t.logR[i] - (p.a+k)*math.Log(p.b+ref.N+r*cur.N)
			if split != nil {
				terms[i] += split[i]
			}
		}
		lgk, _ := math.Lgamma(p.a + k)
		out = LogAddExp(out, t.grid.LogMix(terms)+p.c+lgk)
	}
	return out
}

// logSupNull is the log of the null likelihood maximised over λ and
// ρ ≤ r0 (without the constants m1 shares).
func (t *TwoSample) logSupNull(ref, cur Block, k float64) float64 {
	rho := t.r0
	switch {
	case cur.X <= 0:
		rho = 0
	case ref.X > 0 && cur.N > 0:
		rho = min(t.r0, cur.X*ref.N/(ref.X*cur.N))
	}
	d := 0.0
	if k > 0 {
		d = k*math.Log(k) - k - k*math.Log(ref.N+rho*cur.N)
	}
	if cur.X > 0 {
		d += cur.X * math.Log(rho)
	}
	return d
}

// LogEOffset is LogE for a null that also allows off expected events on
// the new side beyond r0 times the reference rate: H0 is that the new
// side's events have mean at most r0·λ·N_new + off (off: cold-start
// allowances, the sum over the periods judged of their allowed share
// times their trials). With off = 0 it is LogE.
//
// The numerator is LogE's mixture (a proper distribution of the
// reference block and the new side's sum). The denominator is the
// likelihood of the reference block and of the new side's sum maximised
// over λ ≥ 0 and every mean 0 ≤ μ ≤ r0·λ·N_new + off: under H0 the new
// side's sum is Poisson with a mean in that range whatever each period's
// rate was (below its own boundary r0·λ + a_t, the allowance a_t used or
// not), so the maximised likelihood is at least the true one and the
// ratio is at most m1/L_true, a martingale of mean 1 (LogE's argument).
// The log likelihood is jointly concave in (λ, μ) on a convex set: the
// unconstrained maximum (λ = X_ref/N_ref, μ = X_new) when it is allowed,
// else the maximum on the boundary μ = r0·λ·N_new + off, where λ solves
// (N_ref + M)·M·λ² - (M·K - (N_ref + M)·off)·λ - X_ref·off = 0, M = r0·N_new.
func (t *TwoSample) LogEOffset(ref, cur Block, off float64, split []float64) float64 {
	if off <= 0 {
		return t.LogE(ref, cur, split)
	}
	return t.logMixture(ref, cur, split) - logSupNullOffset(ref, cur, t.r0, off)
}

// logSupNullOffset is the log of the likelihood of the reference block
// (Pois(X_ref; λ·N_ref)) and the new side's sum (Pois(X_new; μ)),
// maximised over λ ≥ 0 and 0 ≤ μ ≤ r0·λ·N_new + off, without the
// constants the numerator shares (N_ref^X_ref·N_new^X_new/(X_ref!·X_new!)).
func logSupNullOffset(ref, cur Block, r0, off float64) float64 {
	lam := 0.0
	if ref.N > 0 {
		lam = ref.X / ref.N
	}
	m := r0 * cur.N
	mu := cur.X
	if cur.X > m*lam+off {
		k := ref.X + cur.X
		a := (ref.N + m) * m
		bq := m*k - (ref.N+m)*off
		lam = (bq + math.Sqrt(bq*bq+4*a*ref.X*off)) / (2 * a)
		mu = m*lam + off
	}
	d := -lam*ref.N - mu
	if ref.X > 0 {
		d += ref.X * math.Log(lam)
	}
	if cur.X > 0 {
		d += cur.X * math.Log(mu/cur.N)
	}
	return d
}
