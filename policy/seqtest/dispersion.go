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
// pre-deploy baseline (0 = no overdispersion seen). With μ_t = p̂·n_t and
// the standardised residuals r_t = (x_t - μ_t)/√(μ_t(1-p̂)), the statistic
// X² = Σ (r_t - r_{t-1})²/2 over successive periods has expectation
// about (T-1) + Σ μ̄_t/k, so 1/k = (X²·(1 + slack·se) - (T-1)) / Σ μ̄_t,
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
	var res, mus []float64
	for i := range x {
		if n[i] <= 0 {
			continue
		}
		mu := p * n[i]
		res = append(res, (x[i]-mu)/math.Sqrt(mu*(1-p)))
		mus = append(mus, mu)
	}
	return invKDiff(res, mus, 0, 0)
}

// InvKSplit is InvK for a baseline whose rate changed at period c (an
// incident that began during it; 0 < c < len(x)): each side's residuals
// are taken against its own rate, and the pairs of periods within
// splitBand of the change are left out (where the change is is itself an
// estimate), so that what is estimated is the burstiness within each
// side, not the step between them.
func InvKSplit(x, n []float64, c int) float64 {
	if c <= 0 || c >= len(x) {
		return InvK(x, n)
	}
	var sx float64
	for i := range x {
		if n[i] > 0 {
			sx += x[i]
		}
	}
	if len(x) < 4 || sx < minDispersionEvents {
		return 0
	}
	res, mus := make([]float64, len(x)), make([]float64, len(x))
	for _, seg := range [][2]int{{0, c}, {c, len(x)}} {
		var ex, en float64
		for i := seg[0]; i < seg[1]; i++ {
			if n[i] > 0 {
				ex, en = ex+x[i], en+n[i]
			}
		}
		p := 0.0
		if en > 0 {
			p = ex / en
		}
		for i := seg[0]; i < seg[1]; i++ {
			if n[i] <= 0 || p <= 0 || p >= 1 {
				continue // no variance to standardise by: a zero residual
			}
			mu := p * n[i]
			res[i], mus[i] = (x[i]-mu)/math.Sqrt(mu*(1-p)), mu
		}
	}
	return invKDiff(res, mus, c-splitBand, c+splitBand)
}

// invKDiff estimates 1/k from standardised residuals by successive
// differences: (r_t - r_{t-1})²/2 has the expectation of the periods'
// variance ratio whether or not the rate moved between them, so an
// incident that began during the baseline (a step in the rate) is not
// taken for burstiness, which would make everything after it look like
// noise. The Pearson-style statistic is the sum of those halved squared
// differences over the T-1 pairs, but for the pairs (i-1, i) with
// skipFrom ≤ i ≤ skipTo (none when skipTo is 0).
func invKDiff(res, mus []float64, skipFrom, skipTo int) float64 {
	if len(res) < 3 {
		return 0
	}
	var s diffStat
	for i := 1; i < len(res); i++ {
		if i < skipFrom || i > skipTo {
			s.add(res[i-1], res[i], mus[i-1], mus[i])
		}
	}
	return s.invK(1)
}

// diffStat sums the successive differences of standardised residuals:
// the Pearson-style statistic (halved squared differences), the sum of
// its squared terms, and the events the pairs expect.
type diffStat struct {
	chi2, chi4, sumMu float64
	pairs             int
}

// add adds the pair of periods (a, b): residuals ra, rb expecting mua, mub.
func (s *diffStat) add(ra, rb, mua, mub float64) {
	d := rb - ra
	r2 := d * d / 2
	s.pairs++
	s.chi2, s.chi4 = s.chi2+r2, s.chi4+r2*r2
	s.sumMu += (mua + mub) / 2
}

// invK is 1/k from the pairs (0 with fewer than two), with slack times
// DispersionSlack.
func (s *diffStat) invK(slack float64) float64 {
	if s.pairs < 2 {
		return 0
	}
	return invKFrom(s.chi2, s.chi4, s.sumMu, s.pairs+1, slack)
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
	res, mus := make([]float64, len(x)), make([]float64, len(x))
	for i, v := range x {
		res[i], mus[i] = (v-mu)/math.Sqrt(mu), mu
	}
	return invKDiff(res, mus, 0, 0)
}

// splitBand is how many periods either side of an estimated change
// InvKSplit leaves out.
const splitBand = 2

// InvKPerPeriodSplit is InvKPerPeriod for a baseline whose mean changed
// at period c, as InvKSplit.
func InvKPerPeriodSplit(x []float64, c int) float64 {
	if c <= 0 || c >= len(x) {
		return InvKPerPeriod(x)
	}
	var sx float64
	for _, v := range x {
		sx += v
	}
	if len(x) < 4 || sx < minDispersionEvents {
		return 0
	}
	res, mus := make([]float64, len(x)), make([]float64, len(x))
	for _, seg := range [][2]int{{0, c}, {c, len(x)}} {
		var ex float64
		for i := seg[0]; i < seg[1]; i++ {
			ex += x[i]
		}
		mu := ex / float64(seg[1]-seg[0])
		if mu <= 0 {
			continue
		}
		for i := seg[0]; i < seg[1]; i++ {
			res[i], mus[i] = (x[i]-mu)/math.Sqrt(mu), mu
		}
	}
	return invKDiff(res, mus, c-splitBand, c+splitBand)
}

// invKFrom turns the Pearson statistic (and the sum of its squared terms)
// of T periods expecting sumMu events in all into 1/k, raised by slack
// times DispersionSlack of its standard errors.
func invKFrom(chi2, chi4, sumMu float64, periods int, slack float64) float64 {
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
	sd := math.Sqrt(2 * df)
	w := min(1, max(0, (chi2-df)/sd-1))
	up := chi2 * (1 + w*slack*DispersionSlack*math.Sqrt(max(kurt-1, 2)/df))
	// The first standard deviation of excess is what a binomial baseline
	// shows by chance one time in six: it is not taken for dispersion.
	excess := up - df - sd
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

// InvKRuns is InvK for periods in runs of their own rate (run i ends
// before ends[i], increasing, the last len(x)): a day of history read an
// hour a run, so that the daily cycle and a drift of the rate are not
// taken for bursts. Successive differences are taken within runs only,
// between the periods that had trials (as InvK skips the others); a run
// without events (or all of them failing) shows nothing of the bursts and
// adds neither to the statistic nor to its degrees of freedom. slack
// scales DispersionSlack (0: the moment estimate less the first standard
// deviation of chance, as InvK without its slack).
func InvKRuns(x, n []float64, ends []int, slack float64) float64 {
	var s diffStat
	sx, from := 0.0, 0
	for _, e := range ends {
		e = min(max(e, from), len(x))
		var ex, en float64
		for i := from; i < e; i++ {
			if n[i] > 0 {
				ex, en = ex+x[i], en+n[i]
			}
		}
		p := 0.0
		if en > 0 {
			p = ex / en
		}
		if p > 0 && p < 1 {
			sx += ex
			prevRes, prevMu, have := 0.0, 0.0, false
			for i := from; i < e; i++ {
				if n[i] <= 0 {
					continue
				}
				mu := p * n[i]
				res := (x[i] - mu) / math.Sqrt(mu*(1-p))
				if have {
					s.add(prevRes, res, prevMu, mu)
				}
				prevRes, prevMu, have = res, mu, true
			}
		}
		from = e
	}
	if sx < minDispersionEvents {
		return 0
	}
	return s.invK(slack)
}
