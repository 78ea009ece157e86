package seqtest

import "math"

// BinomialTwoSample tests H0: p_new ≤ r0·p_ref for pass/fail trials — the
// new version's health-probe failure rate against the known-good's from
// its probe results before the deploy (the reference block). TwoSample's
// Poisson model caps what one failed probe can show: a rate of r·λ
// failures per probe expects one failure with Poisson spread, so a probe
// failing with certainty is worth about 3 nats however clean the
// known-good was. Here a failure is a failure: against a known-good that
// passed 180 of 180 probes, a hard-down endpoint trips on its third
// failed probe at α = 5e-5 instead of its fourth.
//
// The alternatives are failure probabilities of the new version, q_g
// (ProbeAlternatives), each with a weight; the known-good's rate p_ref has
// a proper Beta(a, b) prior. The numerator is the mixture
//
//	m1 = [∫ p^X_ref (1-p)^(N_ref-X_ref) Beta(p; a, b) dp] · Σ_g w_g q_g^X_new (1-q_g)^(N_new-X_new)
//	   = B(a+X_ref, b+N_ref-X_ref)/B(a, b) · Σ_g w_g q_g^X_new (1-q_g)^(N_new-X_new),
//
// a probability distribution of the whole data sequence, the reference
// block included, and the denominator the likelihood maximised over the
// null, sup over p and p' ≤ min(1, r0·p) of
// p^X_ref (1-p)^(N_ref-X_ref) p'^X_new (1-p')^(N_new-X_new). The maximised
// likelihood is at least the true one, so the ratio is at most m1/L_true,
// a martingale of mean 1 under any null (p_ref, p_new), at every look
// (TwoSample's argument, with binomial likelihoods). Tempered (fractional)
// counts are allowed.
type BinomialTwoSample struct {
	r0         float64
	logQ, logP []float64 // per alternative: log q_g, log(1 - q_g)
	logW       []float64
	a, b       float64 // Beta prior of p_ref
	priorLB    float64 // log B(a, b)
}

// ProbeAlternatives are the failure probabilities BinomialTwoSample mixes
// over: 15 from 1% to 95%, geometric, sharing three quarters of the
// weight, and 99.9% (an endpoint that is down) with a quarter, as
// HardFailureGrid weighs everything failing.
func ProbeAlternatives() (q, w []float64) {
	const n = 15
	for i := range n {
		q = append(q, 0.01*math.Pow(95, float64(i)/(n-1)))
		w = append(w, 0.75/n)
	}
	return append(q, 0.999), append(w, 0.25)
}

// Prior of the known-good's failure rate: Beta(0.5, 10), a proper prior
// whose mass lies on healthy endpoints (mean 5%, median 2%) and that
// still allows a failing one.
const (
	probePriorA = 0.5
	probePriorB = 10.0
)

// NewBinomialTwoSample prepares the test of H0: p_new ≤ r0·p_ref (r0 ≥ 1
// is 1 + min_effect) with the ProbeAlternatives.
func NewBinomialTwoSample(r0 float64) *BinomialTwoSample {
	q, w := ProbeAlternatives()
	t := &BinomialTwoSample{r0: r0, a: probePriorA, b: probePriorB}
	for i := range q {
		t.logQ = append(t.logQ, math.Log(q[i]))
		t.logP = append(t.logP, math.Log1p(-q[i]))
		t.logW = append(t.logW, math.Log(w[i]))
	}
	t.priorLB = logBeta(t.a, t.b)
	return t
}

// LogE is the log e-value of the new side's failures (cur: X failed of N)
// against the reference block ref.
func (t *BinomialTwoSample) LogE(ref, cur Block) float64 {
	if cur.N <= 0 {
		return 0
	}
	m := math.Inf(-1)
	var terms [MaxAlternatives]float64
	for i := range t.logQ {
		terms[i] = t.logW[i] + cur.X*t.logQ[i] + (cur.N-cur.X)*t.logP[i]
		m = max(m, terms[i])
	}
	sum := 0.0
	for i := range t.logQ {
		sum += math.Exp(terms[i] - m)
	}
	num := m + math.Log(sum) + logBeta(t.a+ref.X, t.b+ref.N-ref.X) - t.priorLB
	return num - t.logSupNull(ref, cur)
}

// logSupNull maximises p^X_ref (1-p)^(N_ref-X_ref) · p'^X_new (1-p')^(N_new-X_new)
// over p and p' ≤ min(1, r0·p). Both factors are log-concave, so the
// maximum is the unconstrained one (p = X_ref/N_ref, p' = X_new/N_new) when
// it is allowed, else on p' = r0·p, where the derivative in p,
// A/p - B/(1-p) - C·r0/(1-r0·p) with A = X_ref + X_new, B = N_ref - X_ref,
// C = N_new - X_new, is decreasing from +∞ and vanishes at the smaller
// root of r0(A+B+C)·p² - (A(1+r0) + B + C·r0)·p + A = 0 (clamped to
// p' ≤ min(1, X_new/N_new)).
func (t *BinomialTwoSample) logSupNull(ref, cur Block) float64 {
	pr := 0.0
	if ref.N > 0 {
		pr = ref.X / ref.N
	}
	pn := cur.X / cur.N
	if pn <= t.r0*pr {
		return binLL(ref.X, ref.N, pr) + binLL(cur.X, cur.N, pn)
	}
	a, bb, c := ref.X+cur.X, ref.N-ref.X, cur.N-cur.X
	qa, qb := t.r0*(a+bb+c), a*(1+t.r0)+bb+c*t.r0
	p := 2 * a / (qb + math.Sqrt(max(0, qb*qb-4*qa*a))) // the smaller root, without cancellation
	p = min(max(p, pr), min(pn, 1)/t.r0)
	return binLL(ref.X, ref.N, p) + binLL(cur.X, cur.N, min(1, t.r0*p))
}

// binLL is x·log p + (n-x)·log(1-p), with 0·log 0 = 0.
func binLL(x, n, p float64) float64 {
	ll := 0.0
	if x > 0 {
		ll += x * math.Log(p)
	}
	if n-x > 0 {
		ll += (n - x) * math.Log1p(-p)
	}
	return ll
}

func logBeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}
