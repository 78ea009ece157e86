package seqtest

import "math"

// Overdispersion and tempering.
//
// Real error counts are burstier than binomial: a period's rate itself
// varies (a retry storm, a flaky dependency). The model is the negative
// binomial one of a gamma-distributed multiplier with shape k on each
// period's rate, so a period expecting μ events has variance μ(1 + μ/k)
// rather than μ: the excess grows with μ, and a traffic spike raises it.
// The tests temper each period by φ_t = 1 + μ_t/k, dividing its events and
// trials (or its log likelihood ratio) by φ_t — the quasi-likelihood of the
// overdispersed model. For binomial data tempering only makes the tests
// more conservative (E[LR^{1/φ}] ≤ E[LR]^{1/φ} ≤ 1); for overdispersed
// data it restores the second-order (variance) match, so validity is
// approximate there and is checked by simulation (seqtest_test.go).

// DispersionSlack is how many standard errors of the Pearson statistic the
// dispersion estimate is raised by: 30 periods estimate a variance to
// within about ±26%, and underestimating it is what would make a bursty
// but healthy service trip.
const DispersionSlack = 1.0

// minDispersionEvents is the fewest baseline events the dispersion is
// estimated from; with fewer, the events are too sparse for a variance
// estimate and the counts are taken as binomial.
const minDispersionEvents = 10

// InvK estimates 1/k from per-period events x_t and trials n_t of the
// pre-deploy baseline (0 = no overdispersion seen). With μ_t = p̂·n_t,
// the Pearson statistic X² = Σ (x_t - μ_t)² / (μ_t(1-p̂)) has expectation
// about (T-1) + Σ μ_t/k, so 1/k = (X²·(1 + slack·se) - (T-1)) / Σ μ_t,
// X² raised by up to DispersionSlack of its relative standard errors se
// (in full once X² is a standard deviation above T-1) so that a 30-period
// estimate of a bursty baseline errs on the side of more dispersion.
func InvK(x, n []float64) float64 {
	var sx, sn float64
	periods := 0
	for i := range x {
		if n[i] > 0 {
			sx += x[i]
			sn += n[i]
			periods++
		}
	}
	if periods < 3 || sx < minDispersionEvents || sn <= 0 || sx >= sn {
		return 0
	}
	p := sx / sn
	var chi2, chi4, sumMu float64
	for i := range x {
		if n[i] <= 0 {
			continue
		}
		mu := p * n[i]
		d := x[i] - mu
		r2 := d * d / (mu * (1 - p))
		chi2 += r2
		chi4 += r2 * r2
		sumMu += mu
	}
	return invKFrom(chi2, chi4, sumMu, periods)
}

// InvKPerPeriod is InvK for counts per period without trials (throttles
// per period): the null variance is the Poisson one, the mean.
func InvKPerPeriod(x []float64) float64 {
	var sx float64
	for _, v := range x {
		sx += v
	}
	if len(x) < 3 || sx < minDispersionEvents {
		return 0
	}
	mu := sx / float64(len(x))
	var chi2, chi4 float64
	for _, v := range x {
		r2 := (v - mu) * (v - mu) / mu
		chi2 += r2
		chi4 += r2 * r2
	}
	return invKFrom(chi2, chi4, sx, len(x))
}

// invKFrom turns the Pearson statistic (and the sum of its squared terms)
// of T periods expecting sumMu events in all into 1/k.
func invKFrom(chi2, chi4, sumMu float64, periods int) float64 {
	if chi2 <= 0 || sumMu <= 0 {
		return 0
	}
	df := float64(periods - 1)
	// The relative standard error of a variance estimate from T values is
	// about √((κ-1)/T), κ the kurtosis of the Pearson residuals (3 for
	// Gaussian ones, far more for bursty counts, whose variance is then
	// also the least certain).
	kurt := chi4 * float64(periods) / (chi2 * chi2)
	// The slack grows in with the evidence of overdispersion: none when X²
	// is at or below its binomial expectation (a clean baseline keeps
	// the tests' full power), all of it from one standard deviation above.
	w := min(1, max(0, (chi2-df)/math.Sqrt(2*df)-1))
	up := chi2 * (1 + w*DispersionSlack*math.Sqrt(max(kurt-1, 2)/df))
	excess := up - df
	if excess <= 0 {
		return 0 // no overdispersion beyond chance: binomial
	}
	return excess / sumMu
}

// Phi is the tempering divisor of a period expecting mu events.
func Phi(mu, invK float64) float64 {
	if mu <= 0 || invK <= 0 {
		return 1
	}
	return 1 + mu*invK
}
