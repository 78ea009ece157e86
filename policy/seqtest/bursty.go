package seqtest

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// A rate against an absolute threshold when the threshold's bursts are
// unknown.
//
// Tempering (Phi) takes the null at the threshold p0 to be as bursty as
// the baseline: a gamma multiplier of shape k on each period's rate, k
// estimated where the baseline runs, often a hundred times below p0 (a
// few throttles an hour). A sparse baseline cannot tell k: nine events
// in thirty periods look binomial (InvK says 0) whether k is 0.5 or ∞,
// and a version throttled at the threshold in bursts of shape 0.5 then
// trips the tempered binomial test in most watches.
//
// BurstyRate tests instead against a null that is composite over the
// bursts: each period's events are NB(μ_t, k) (Poisson-gamma, mean μ_t,
// variance μ_t(1 + μ_t/k)) or Binomial(n_t, μ_t/n_t), with μ_t ≤ p0·n_t
// in every period and one shape k ≥ kLo for the whole watch, kLo a lower
// confidence bound from the baseline (InvKUpper) that a sparse baseline
// leaves low. Its e-value is universal inference's ratio
//
//	E_t = mix_g Π_s q_g(x_s) / sup_{k ≥ kLo} Π_s sup_{μ ≤ p0·n_s} P_k(x_s; μ)
//
// with q_g probability mass functions fixed before each period (the
// alternatives: negative binomials of the baseline's burstiness, shape
// 20 when it showed none, at rates geometric from p0 up, and everything
// failing as a binomial). For the
// true null's k, the denominator is at least Π P_k(x_s; μ_s), and under
// it each factor q_g(x)/P_k(x; μ_s) has expectation Σ_x q_g(x) ≤ 1, so E_t
// is below a nonnegative martingale whatever the rate does below p0: an
// e-process for the whole composite null. The supremum is over one k for
// all periods, so steadiness after the deploy is evidence too: a version
// throttled at 3p0 minute after minute is unlikely under every k, while
// one period far above p0 is not, if k may be small.
//
// The supremum over k is taken over cells [k_j, k_{j+1}] of a geometric
// grid, each period contributing its largest log probability at the
// cell's two ends and its geometric middle: a sum of per-period maxima is
// at least the maximum of the sum, up to the curvature inside a cell
// (cells at most 2.4-fold wide; checked by simulation with k between
// grid points).
// For each period the supremum over μ ≤ p0·n is at μ = min(x, p0·n) (the
// NB likelihood rises with μ up to x). A period whose every trial is an
// event is where a gamma multiplier capped at a rate of 1 piles up its
// mass: there the null probability is NB's upper tail P(X ≥ n), bounded
// above by its first term over one minus the largest ratio of successive
// terms, not the point mass.

// burstCells is how many cells of burst shapes BurstyRate's null spans
// (the last one reaching up to the binomial): its per-shape sums fit a
// grid-sized buffer.
const burstCells = 20

// burstKMin is the smallest burst shape BurstyRate's grid goes down to:
// below it, the supremum over k of a period's null probability has passed
// its peak for every threshold above 1e-4 (the peak is near k = μ0/x for
// x events against μ0 expected, and near 0.6·p0 for a period entirely
// failed), so smaller shapes only lower the denominator's maximum.
const burstKMin = 1e-4

// burstKMax is the largest burst shape on the grid before the binomial
// member (k = ∞): k = 1000 is within 2.5% of Poisson's variance at 25
// expected events a period.
const burstKMax = 1e3

// BurstyRate is the test described above.
type BurstyRate struct {
	grid      *Grid
	p0        float64
	logP      []float64 // per alternative: log p_g (log μ_g for counts)
	p1        []float64
	kAlt      float64   // the alternatives' burst shape (0: binomial only)
	ks        []float64 // cell edges and middles: k_0, m_0, k_1, m_1, ..., k_cells
	lgK, logK []float64 // log Γ(k) and log k of each
	lgAlt     float64   // log Γ(kAlt)
	logKAlt   float64
	count     bool // events per period without trials: p0 and p1 are means (NewBurstyCount)
	// NewBurstyRelative: each cell's own boundary (-1: the cell is no
	// member of the null), and the smallest shape allowed.
	cellP0 []float64
	kLo    float64
}

// NewBurstyRate prepares the test of H0: rate ≤ p0 in every period,
// bursts of shape at least kLo (0: any), against the rates below
// (weighted as grid g's alternatives). kAlt > 0 makes the alternatives
// negative binomials of that shape (binomials otherwise).
func NewBurstyRate(p0, kLo, kAlt float64, g *Grid) *BurstyRate {
	t := &BurstyRate{grid: g, p0: p0, kAlt: kAlt}
	if p0 <= 0 || p0 >= 1 {
		return t
	}
	l0 := math.Log(p0) - math.Log1p(-p0)
	// The bursty alternatives' rates are geometric from p0 up to the
	// grid's largest (not its effects on the log-odds): a negative
	// binomial of shape 20 is narrow enough that, at the grid's spacing
	// of large effects (rates 2.6 times apart), a version between two
	// of them lost about 3 nats a period. The top one (everything
	// failing, binomial) is the grid's.
	top := g.Len() - 1
	lTop := l0 + g.Effect(top)
	pTop := math.Exp(-softplus(-lTop))
	for i := range g.Len() {
		l1 := lTop
		if i < top {
			p := p0 * math.Pow(pTop/p0, float64(i+1)/float64(top+1))
			l1 = math.Log(p) - math.Log1p(-p)
		}
		t.logP = append(t.logP, -softplus(-l1))
		t.p1 = append(t.p1, math.Exp(-softplus(-l1)))
	}
	t.shapes(kLo)
	return t
}

// NewBurstyCount prepares the same test for events counted per period
// without trials (throttles with a threshold of 1 or more): H0 is a mean
// of at most mu0 a period, the null's members NB(μ, k) and Poisson, the
// alternatives negative binomials (Poisson when kAlt is 0) at means
// geometric from mu0 to e^s times it, s the grid's largest effect.
func NewBurstyCount(mu0, kLo, kAlt float64, g *Grid) *BurstyRate {
	t := &BurstyRate{grid: g, p0: mu0, kAlt: kAlt, count: true}
	if mu0 <= 0 {
		return t
	}
	top := g.Len() - 1
	for i := range g.Len() {
		mu := mu0 * math.Exp(g.Effect(top)*float64(i+1)/float64(top+1))
		t.p1, t.logP = append(t.p1, mu), append(t.logP, math.Log(mu))
	}
	t.shapes(kLo)
	return t
}

// shapes lays out the null's cells of burst shapes from kLo up, and the
// alternatives' shape's constants.
func (t *BurstyRate) shapes(kLo float64) {
	lo := math.Log(max(kLo, burstKMin))
	hi := max(lo, math.Log(burstKMax))
	cells := burstCells - 1 // the last cell is [burstKMax, ∞]: the binomial (Poisson for counts)
	for j := range 2*cells + 1 {
		k := math.Exp(lo + (hi-lo)*float64(j)/float64(2*cells))
		lg, _ := math.Lgamma(k)
		t.ks, t.lgK, t.logK = append(t.ks, k), append(t.lgK, lg), append(t.logK, math.Log(k))
	}
	t.lgAlt, _ = math.Lgamma(t.kAlt)
	t.logKAlt = math.Log(t.kAlt)
}

// Cells is the length of the null's buffer (AddPeriod's den).
func (t *BurstyRate) Cells() int { return burstCells }

// AddPeriod adds one period's log factors to num (one per alternative of
// the grid) and den (one per cell of burst shapes): x events in n trials
// (counts; rounded).
func (t *BurstyRate) AddPeriod(num, den []float64, x, n float64) {
	t.AddPeriodAt(num, den, x, n, 1)
}

// AddPeriodAt is AddPeriod for a period whose null boundary is g times
// the test's (g ≥ 1; policy's allowance for a known-good whose rate rises
// with its load): every cell's boundary rate and the alternatives' rates
// below everything failing are scaled by g, capped at 1. The choice of g
// must not depend on the period's events. Scaling the trials instead
// (x of n·g) reads a period in which every request failed as one with
// successes, which the alternative "everything fails" gives no chance:
// from then on the test had lost it (30 of 30 failing at 30 a minute went
// undetected for the half hour against a baseline of 6 errors whose load
// allowed 1.1: e = 3 after ten minutes, 1e-3 after four).
func (t *BurstyRate) AddPeriodAt(num, den []float64, x, n, g float64) {
	if len(t.p1) == 0 {
		return
	}
	if t.count {
		t.addCount(num, den, x)
		return
	}
	n = math.Round(n)
	if n <= 0 {
		return
	}
	g = max(g, 1)
	x = min(math.Round(max(x, 0)), n)
	lc := LogChoose(n, x)
	lx1, _ := math.Lgamma(x + 1)
	t.addAlternatives(num, x, n, g, lc, lx1)
	if t.cellP0 != nil {
		t.addRelative(den, x, n, g, lc, lx1)
		return
	}
	p0 := min(t.p0*g, 1)
	mu := min(x, p0*n)
	if mu <= 0 {
		return // x = 0: certain under μ = 0, for every k and the binomial
	}
	if x <= p0*n {
		// At or below the threshold every member's largest probability
		// is at μ = x, and NB(x; x, k), a gamma mixture of Poisson(x; λ),
		// is at most Poisson(x; x): adding the larger of that and the
		// binomial's to every cell over-states the denominator (valid),
		// saves the search, and costs power only in periods that are no
		// evidence against the version anyway.
		u := max(lc+binLL(x, n, x/n), xlogy(x, x)-x-lx1)
		for j := range den[:burstCells] {
			den[j] += u
		}
		return
	}
	full := x >= n
	logMu := math.Log(mu)
	prev := t.nullAt(x, n, mu, logMu, 0, lx1, full)
	for j := range burstCells - 1 {
		mid := t.nullAt(x, n, mu, logMu, 2*j+1, lx1, full)
		next := t.nullAt(x, n, mu, logMu, 2*j+2, lx1, full)
		den[j] += max(prev, mid, next)
		prev = next
	}
	// The last cell: from burstKMax to the binomial (k = ∞).
	den[burstCells-1] += max(prev, lc+binLL(x, n, mu/n))
}

// AddPeriodCold is AddPeriod for a period whose null also allows cold
// starts (the absolute latency rule): besides the warm events, bursty at
// a rate of at most p0, a share a' ≤ a of the n trials may be cold and
// slow (Binomial(n, a'), independent of the bursts). A member's
// probability of x events is then the convolution
// f(a') = Σ_c Binom(c; n, a')·S_k(x - c), S_k(y) = sup_{μ ≤ p0·n} NB(y; μ, k),
// and the null's largest probability is its supremum over a' ≤ a. The
// allowance is a bound, not a share the null must use: a version with
// fewer cold starts (none, or a busy minute's traffic) can show far fewer
// slow invocations than a·n, and a null held at a' = a found those counts
// absurdly unlikely (25 slow of 9,110 against 1% plus 1.1% cold: e =
// 1e28, a good deploy rolled back; TestBurstyColdBelowAllowance).
//
// The supremum is bounded over cells of cold shares from 0 up to a
// (coldCellEdges): within a cell each term is at most Binom(c; n, b) at
// b = c/n clamped into the cell, so the cell's sum of those bounds f
// there, and the largest cell bounds the supremum; narrow cells keep the
// bound near f's own maximum.
// The sum runs over the c where the binomial at a has mass; its tail past
// them (Chernoff at a, which bounds the tail at every a' ≤ a) is added as
// if S were 1. The alternatives are AddPeriod's rates scaled to the
// period's boundary p0 + a.
func (t *BurstyRate) AddPeriodCold(num, den []float64, x, n, a float64) {
	if a <= 0 || t.count {
		t.AddPeriod(num, den, x, n)
		return
	}
	n = math.Round(n)
	if len(t.p1) == 0 || n <= 0 {
		return
	}
	x = min(math.Round(max(x, 0)), n)
	lc := LogChoose(n, x)
	lx1, _ := math.Lgamma(x + 1)
	t.addAlternatives(num, x, n, min(t.p0+a, 0.999)/t.p0, lc, lx1)
	ct := newColdTerms(x, n, a)
	var lj [2*burstCells - 1]float64
	var v [maxColdTerms]float64
	for j := range t.ks {
		t.warmNullAt(ct, x, n, j, v[:ct.terms])
		lj[j] = ct.supConv(v[:ct.terms])
	}
	for c := range ct.terms {
		q := min(ct.ys[c]/n, t.p0)
		v[c] = LogChoose(n, ct.ys[c]) + binLL(ct.ys[c], n, q)
	}
	bin := ct.supConv(v[:ct.terms])
	for j := range burstCells - 1 {
		den[j] += max(lj[2*j], lj[2*j+1], lj[2*j+2])
	}
	den[burstCells-1] += max(lj[2*burstCells-2], bin)
}

// coldCellEdges are AddPeriodCold's cells of cold shares, as divisors of
// the allowance a: narrow near a, where a regression's count puts the
// supremum (a cell's bound exceeds f by up to its width in binomial
// standard deviations), wider below, and the last reaches down to no cold
// start at all (a/1000 and below).
var coldCellEdges = [...]float64{1, 1.03, 1.07, 1.12, 1.2, 1.3, 1.45, 1.7, 2.1, 2.8, 4, 6, 10, 20, 50, 150, 1000}

// coldCells is the number of cells.
const coldCells = len(coldCellEdges)

// coldSpan is how far (log) below a cell's largest binomial weight a
// term's weight may be and still be summed one by one; the rest are
// bounded together.
const coldSpan = 45.0

// coldTerms is the convolution's split of a period's x slow events into c
// cold ones and y = x - c warm ones, c from 0 while the binomial at a has
// mass, with each term's largest binomial weight in each cell of cold
// shares.
type coldTerms struct {
	terms int
	lw    [coldCells][maxColdTerms]float64 // log max over the cell of Binom(c; n, a')
	// Each cell's terms whose weight is within coldSpan of its largest,
	// [from, to) (the log weight is concave in c), and a bound on the rest.
	from, to [coldCells]int
	rest     [coldCells]float64
	logTail  float64               // log of the binomial's mass past the terms (a bound)
	ys, lys  [maxColdTerms]float64 // y and log Γ(y+1)
}

func newColdTerms(x, n, a float64) *coldTerms {
	ct := new(coldTerms)
	lam := a * n
	cmax := min(x, math.Ceil(lam+10*math.Sqrt(lam)+10))
	ct.terms = int(min(cmax, maxColdTerms-1)) + 1
	var lch [maxColdTerms]float64 // log C(n, c), the same in every cell
	for c := range ct.terms {
		lch[c] = LogChoose(n, float64(c))
	}
	for k := range coldCells {
		hi, lo := a/coldCellEdges[k], 0.0
		if k+1 < coldCells {
			lo = a / coldCellEdges[k+1]
		}
		top := math.Inf(-1)
		for c := range ct.terms {
			cf := float64(c)
			ct.lw[k][c] = lch[c] + binLL(cf, n, min(hi, max(lo, cf/n)))
			top = max(top, ct.lw[k][c])
		}
		ct.from[k], ct.to[k], ct.rest[k] = 0, ct.terms, math.Inf(-1)
		for ct.from[k] < ct.to[k] && ct.lw[k][ct.from[k]] < top-coldSpan {
			ct.from[k]++
		}
		for ct.to[k] > ct.from[k] && ct.lw[k][ct.to[k]-1] < top-coldSpan {
			ct.to[k]--
		}
		if skipped := ct.terms - (ct.to[k] - ct.from[k]); skipped > 0 {
			// Each skipped term is below e^(top - coldSpan), its warm
			// probability at most 1.
			ct.rest[k] = top - coldSpan + math.Log(float64(skipped))
		}
	}
	for c := range ct.terms {
		ct.ys[c] = x - float64(c)
		ct.lys[c], _ = math.Lgamma(ct.ys[c] + 1)
	}
	// P(C ≥ m) ≤ e^{-λ}(eλ/m)^m for m > λ, m the first term left out
	// (Poisson's Chernoff bound, which holds for the binomial too); the
	// terms past x are impossible.
	m := float64(ct.terms)
	ct.logTail = math.Inf(-1)
	if m <= x {
		ct.logTail = 0
		if m > lam {
			ct.logTail = min(0, -lam+m*(1+math.Log(lam)-math.Log(m)))
		}
	}
	return ct
}

// supConv bounds the convolution's supremum over the cold share: the
// largest cell's sum of its terms' weights times the warm part's
// probabilities v (logs, one per term), plus the tail.
func (ct *coldTerms) supConv(v []float64) float64 {
	best := math.Inf(-1)
	for k := range coldCells {
		l := LogAddExp(ct.logTail, ct.rest[k])
		for c := ct.from[k]; c < ct.to[k]; c++ {
			l = LogAddExp(l, ct.lw[k][c]+v[c])
		}
		best = max(best, l)
	}
	return best
}

// warmNullAt sets v to the log of the warm part's largest probability of
// each term's y = x - c slow invocations at burst shape node j (0 for
// y = 0: certain under μ = 0).
func (t *BurstyRate) warmNullAt(ct *coldTerms, x, n float64, j int, v []float64) {
	full := x >= n
	for c := range v {
		v[c] = 0
		if mu := min(ct.ys[c], t.p0*n); mu > 0 {
			// Every trial slow: the tail from y, its ratio bound taken at y.
			tn := n
			if full {
				tn = ct.ys[c]
			}
			v[c] = t.nullAt(ct.ys[c], tn, mu, math.Log(mu), j, ct.lys[c], full)
		}
	}
}

// maxColdTerms bounds the cold count's terms in AddPeriodCold (a cold
// share of at most twice 1% of 2,500 invocations: 50 expected).
const maxColdTerms = 128

// addCount is AddPeriod for a count per period (x events, no trials).
func (t *BurstyRate) addCount(num, den []float64, x float64) {
	x = math.Round(max(x, 0))
	lx1, _ := math.Lgamma(x + 1)
	var altG float64
	if t.kAlt > 0 && x > 0 {
		a, _ := math.Lgamma(x + t.kAlt)
		altG = a - t.lgAlt - lx1
	}
	for i, mu := range t.p1 {
		if t.kAlt > 0 {
			l := math.Log1p(mu / t.kAlt)
			num[i] += altG - t.kAlt*l + x*(t.logP[i]-t.logKAlt-l)
		} else {
			num[i] += x*t.logP[i] - mu - lx1
		}
	}
	mu := min(x, t.p0)
	if mu <= 0 {
		return
	}
	if x <= t.p0 {
		// As in AddPeriod: NB(x; x, k) ≤ Poisson(x; x).
		u := xlogy(x, x) - x - lx1
		for j := range den[:burstCells] {
			den[j] += u
		}
		return
	}
	logMu := math.Log(mu)
	prev := t.nullAt(x, 0, mu, logMu, 0, lx1, false)
	for j := range burstCells - 1 {
		mid := t.nullAt(x, 0, mu, logMu, 2*j+1, lx1, false)
		next := t.nullAt(x, 0, mu, logMu, 2*j+2, lx1, false)
		den[j] += max(prev, mid, next)
		prev = next
	}
	den[burstCells-1] += max(prev, x*logMu-mu-lx1) // up to Poisson (k = ∞)
}

// addAlternatives adds to num each alternative's log probability of x
// events in n trials (lc = log C(n, x), lx1 = log Γ(x+1)), its rate
// scaled by s (the period's null boundary over p0: 1 but for cold
// starts, or the load) up to the largest. The largest effect is
// everything failing, binomial whatever the bursts: a version that always
// fails does so every period. Its rate is the grid's top or
// 1 - 1/(10(n+1)), the larger, so that a period with every one of its n
// trials failed costs it at most about a tenth of a nat however large n
// is (all but one, about 2.4 nats): at the
// grid's top alone (log-odds 12 above p0) a small p0 put it at 0.988, and
// 1,000 of 1,000 failing cost 12 nats a period, more than a null of rare
// clumps that allows a rate of 1 charges for it (about 7 at shape 1e-4),
// so a version failing every request at 1,000 a minute was never rolled
// back against a baseline of 1 error in 30,000. The choice depends on n
// alone, known with the period (every factor conditions on it), so the
// factor is still a probability over x.
func (t *BurstyRate) addAlternatives(num []float64, x, n, s, lc, lx1 float64) {
	top := len(t.p1) - 1
	var altG float64 // log Γ(x+kAlt) - log Γ(kAlt) - log Γ(x+1), shared by the alternatives
	if t.kAlt > 0 && x > 0 {
		a, _ := math.Lgamma(x + t.kAlt)
		altG = a - t.lgAlt - lx1
	}
	logN := math.Log(n)
	for i := range top {
		p, logP := t.p1[i], t.logP[i]
		if s != 1 {
			p = min(p*s, t.p1[top])
			logP = math.Log(p)
		}
		if t.kAlt > 0 {
			// log NB's terms in μ, k·log(k/(k+μ)) + x·log(μ/(k+μ)), with
			// log μ = log p + log n and log(k+μ) = log k + log1p(μ/k):
			// one logarithm per alternative.
			l := math.Log1p(p * n / t.kAlt)
			num[i] += altG - t.kAlt*l + x*(logP+logN-t.logKAlt-l)
		} else {
			num[i] += lc + binLL(x, n, p)
		}
	}
	num[top] += lc + binLL(x, n, max(t.p1[top], 1-1/(10*n+10)))
}

// nullAt is the log of the null's largest probability of x events in n
// trials at burst shape t.ks[j] (mu = min(x, p0·n) > 0, logMu its log):
// NB's point mass, or its upper tail when every trial failed.
func (t *BurstyRate) nullAt(x, n, mu, logMu float64, j int, lx1 float64, full bool) float64 {
	k := t.ks[j]
	a, _ := math.Lgamma(x + k)
	lp := math.Log1p(mu / k) // log((k+μ)/k)
	l := a - t.lgK[j] - lx1 - k*lp + x*(logMu-t.logK[j]-lp)
	if !full {
		return l
	}
	return nbLogTail(x, n, mu, k, l)
}

// tailSlack is what nbLogTail adds to the incomplete beta function's
// log: an upper bound must not fall below the truth by rounding.
const tailSlack = 0.01

// nbLogTail is the log of NB(mu, k)'s upper tail P(X ≥ x), x ≥ n, whose
// point mass at x has log l: the regularised incomplete beta function
// I_{μ/(μ+k)}(x, k), never below the point mass and never above the
// geometric bound l - log(1 - r), r the largest ratio of successive
// terms from x on. The bound alone is loose for small k, where r → 1:
// a period entirely failed then weighed almost nothing against a null
// of rare clumps (k = 0.003: a tail of 0.016 bounded by 1).
func nbLogTail(x, n, mu, k, l float64) float64 {
	r := mu / (mu + k) * max(1, (n+k)/(n+1))
	bound := l - math.Log1p(-r)
	if i := mathext.RegIncBeta(x, k, mu/(mu+k)); i > 0 && !math.IsNaN(i) {
		// A margin of tailSlack nats for the continued fraction's
		// accuracy at small k (0.06% at k = 0.003; TestNBLogTail).
		return min(bound, max(l, math.Log(i)+tailSlack))
	}
	return bound
}

// LogE is the log e-value of the periods added to num and den.
func (t *BurstyRate) LogE(num, den []float64) float64 {
	if len(t.p1) == 0 {
		if t.p0 <= 0 {
			return math.Inf(1)
		}
		return math.Inf(-1)
	}
	return t.grid.LogMix(num) - maxOf(den)
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// LogChoose is log C(n, x).
func LogChoose(n, x float64) float64 {
	a, _ := math.Lgamma(n + 1)
	b, _ := math.Lgamma(x + 1)
	c, _ := math.Lgamma(n - x + 1)
	return a - b - c
}

// xlogy is x·log(y), 0 when x is 0.
func xlogy(x, y float64) float64 {
	if x == 0 {
		return 0
	}
	return x * math.Log(y)
}

// InvKUpper is an upper confidence bound on the overdispersion 1/k of
// per-period events x_t out of n_t trials (the baseline's), at level
// 1 - delta: the largest 1/k whose profile likelihood (the rate
// maximised out for each k) is within log(1/delta) of the maximum. That
// is universal inference's cut-off (valid for a maximum taken on an
// independent sample) rather than Wilks' z²/2, which the boundary at
// 1/k = 0 and thirty periods of a few events each make undercover
// (measured: 6-8% below the truth at delta = 5%). With no
// events the counts say nothing about bursts: +Inf. Few events leave the
// likelihood flat far out, so the bound is honest about a sparse
// baseline where InvK's moment estimate reads 0. c > 0 splits the
// periods at a change of rate (an incident that began in the baseline,
// InvKSplit): each side then has its own rate and one k.
func InvKUpper(x, n []float64, c int, delta float64) float64 {
	if c <= 0 || c >= len(x) {
		c = len(x)
	}
	return InvKUpperRuns(x, n, []int{c, len(x)}, delta)
}

// InvKUpperRuns is InvKUpper with the periods in runs of their own rate
// and one burst shape: run i ends before ends[i] (increasing; the last
// is len(x)). A day of history read an hour a run: the traffic's daily
// cycle and a slow drift of the error rate move each hour's rate, which
// a single rate would take for bursts.
func InvKUpperRuns(x, n []float64, ends []int, delta float64) float64 {
	prof, ok := runsProfile(x, n, ends)
	if !ok {
		return math.Inf(1)
	}
	// The maximum on thetaGrid, then the first grid point past it below
	// the cutoff, refined by bisection.
	ls, best := profileScan(prof)
	cut := ls[best] - math.Log(1/delta)
	for j := best + 1; j < len(thetaGrid); j++ {
		if ls[j] >= cut {
			continue
		}
		a, b := thetaGrid[j-1], thetaGrid[j]
		for range 20 { // a cell at most 10-fold wide: to within 2e-6
			m := math.Sqrt(max(a, thetaGrid[1]/10) * b)
			if prof(m) >= cut {
				a = m
			} else {
				b = m
			}
		}
		return b
	}
	return math.Inf(1)
}

// InvKFits reports whether the overdispersion 1/k = theta explains
// per-period events x_t out of n_t trials, in runs of their own rate as
// for InvKUpperRuns, as well as the likeliest 1/k does to within a
// likelihood ratio of 1/delta: theta is inside the confidence set at
// level 1 - delta. With no events every theta fits.
func InvKFits(x, n []float64, ends []int, theta, delta float64) bool {
	prof, ok := runsProfile(x, n, ends)
	if !ok {
		return true
	}
	at := prof(theta)
	ls, best := profileScan(prof)
	return at >= max(ls[best], at)-math.Log(1/delta)
}

// runsProfile is the profile log likelihood of θ = 1/k of the periods
// in runs of their own rate (run i ends before ends[i]), each run's rate
// maximised out; false when the periods hold no events.
func runsProfile(x, n []float64, ends []int) (func(theta float64) float64, bool) {
	var segs []nbSegment
	from, sx := 0, 0.0
	for _, e := range ends {
		e = min(max(e, from), len(x))
		if e > from {
			s := newNBSegment(x[from:e], n[from:e])
			segs, sx = append(segs, s), sx+s.sx
		}
		from = e
	}
	if sx <= 0 {
		return nil, false
	}
	return func(theta float64) float64 {
		var l float64
		for i := range segs {
			l += segs[i].profile(theta)
		}
		return l
	}, true
}

// thetaGrid is where a profile likelihood of θ = 1/k is searched: 0
// (Poisson), then 57 points geometric from 1e-3 to 1e4.
var thetaGrid = func() []float64 {
	const lo, hi, steps = 1e-3, 1e4, 56
	g := []float64{0}
	for j := range steps + 1 {
		g = append(g, lo*math.Pow(hi/lo, float64(j)/steps))
	}
	return g
}()

// profileScan evaluates prof on thetaGrid: the values, and the index of
// the largest (the first on ties).
func profileScan(prof func(theta float64) float64) (ls []float64, best int) {
	ls = make([]float64, len(thetaGrid))
	for j, th := range thetaGrid {
		ls[j] = prof(th)
		if ls[j] > ls[best] {
			best = j
		}
	}
	return ls, best
}

// nbSegment is a run of periods with one rate, for InvKUpper.
type nbSegment struct {
	xs, ns     []float64 // events (rounded), trials
	sx, sn     float64
	slx1, sxln float64 // Σ log Γ(x+1), Σ x·log n
	// The distinct positive event counts and how many periods had each:
	// nbConst's sum of log Γ(x+k) over them.
	vals, mult []float64
	lastLp     float64 // fit's last answer (the pooled rate at first): the next shape's starting point
}

func newNBSegment(x, n []float64) nbSegment {
	var s nbSegment
	seen := map[float64]int{}
	for i := range x {
		if n[i] > 0 {
			v := math.Round(max(x[i], 0))
			l, _ := math.Lgamma(v + 1)
			s.xs, s.ns = append(s.xs, v), append(s.ns, n[i])
			s.sx += v
			s.sn += n[i]
			s.slx1 += l
			s.sxln += v * math.Log(n[i])
			if v > 0 {
				j, ok := seen[v]
				if !ok {
					j = len(s.vals)
					seen[v] = j
					s.vals, s.mult = append(s.vals, v), append(s.mult, 0)
				}
				s.mult[j]++
			}
		}
	}
	if s.sx > 0 && s.sn > 0 {
		s.lastLp = math.Log(s.sx / s.sn)
	}
	return s
}

// profile is the segment's NB log likelihood at means p·n_t, shape
// 1/theta (0: Poisson), maximised over p (fit). A segment without events
// is most likely at p → 0, where it is certain.
func (s *nbSegment) profile(theta float64) float64 {
	if s.sx <= 0 || s.sn <= 0 {
		return 0
	}
	return s.ll(s.fit(theta), theta, s.nbConst(theta))
}

// fit is the log rate p that maximises the segment's likelihood at shape
// 1/theta: the pooled rate for Poisson, else Newton's method on log p
// (the log likelihood is concave in it) from the last shape's answer
// (profile scans shapes in order: a step away). The segment has events.
func (s *nbSegment) fit(theta float64) float64 {
	if theta <= 0 {
		return math.Log(s.sx / s.sn)
	}
	lp := s.lastLp
	k := 1 / theta
	for range 12 {
		var g, h float64
		p := math.Exp(lp)
		for i, x := range s.xs {
			mu := p * s.ns[i]
			d := 1 / (k + mu)
			g += k * (x - mu) * d
			h += k * mu * (x + k) * d * d
		}
		if h <= 0 {
			break
		}
		step := g / h
		lp += max(-2, min(2, step))
		if math.Abs(step) < 1e-9 {
			break
		}
	}
	s.lastLp = lp
	return lp
}

// nbConst is the part of the segment's log likelihood at shape 1/theta
// that does not depend on the rate: Σ log Γ(x+k) - log Γ(k) over the
// periods with events (0 for Poisson).
func (s *nbSegment) nbConst(theta float64) float64 {
	if theta <= 0 {
		return 0
	}
	k := 1 / theta
	lk, _ := math.Lgamma(k)
	var c float64
	for j, x := range s.vals {
		a, _ := math.Lgamma(x + k)
		c += s.mult[j] * (a - lk)
	}
	return c
}

// ll is the segment's log likelihood at log rate lp (-Inf: rate 0) and
// shape 1/theta (0: Poisson), c its nbConst.
func (s *nbSegment) ll(lp, theta, c float64) float64 {
	if math.IsInf(lp, -1) {
		if s.sx > 0 {
			return math.Inf(-1)
		}
		return 0
	}
	p := math.Exp(lp)
	l := c - s.slx1 + s.sx*lp + s.sxln
	if theta <= 0 {
		return l - p*s.sn
	}
	k := 1 / theta
	var sq, sxq float64 // Σ log(1 + μ/k), Σ x·log(1 + μ/k)
	for i, x := range s.xs {
		lq := math.Log1p(p * s.ns[i] / k)
		sq += lq
		sxq += x * lq
	}
	return l - k*sq - sxq - s.sx*math.Log(k)
}
