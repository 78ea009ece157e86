package seqtest

import "math"

// RateTrend fits a log-linear trend to a rate seen in periods: x[i]
// events in n[i] trials at time t[i] (any unit), x[i] ~ Poisson(n[i]·e^(a+β·t[i])).
// It returns the maximum-likelihood slope β per unit of t and its standard
// error, widened by the counts' overdispersion (Pearson's χ² over its
// degrees of freedom, at least 1). ok is false with fewer than three
// periods with trials, no events, or all periods at one time.
//
// The slope is the root of the profile score Σx·(t̄_x − t̄_w(β)), where
// t̄_x is the event-weighted mean time and t̄_w(β) the mean time weighted
// by the fitted means n·e^(β·t); its derivative is −Σx·Var_w(t), which is
// also the profile Fisher information, so Newton's method converges in a
// few steps from 0.
func RateTrend(t, x, n []float64) (beta, se float64, ok bool) {
	var sx, sxt float64
	m := 0
	for i := range x {
		if n[i] > 0 {
			sx += x[i]
			sxt += x[i] * t[i]
			m++
		}
	}
	if m < 3 || sx <= 0 {
		return 0, 0, false
	}
	tx := sxt / sx
	// moments are the mean and variance of t under the weights
	// n·e^(b·(t − t̄_x)), and the weights' sum.
	moments := func(b float64) (mean, variance, sum float64) {
		var wt, wtt float64
		for i := range x {
			if n[i] <= 0 {
				continue
			}
			e := n[i] * math.Exp(b*(t[i]-tx))
			sum += e
			wt += e * (t[i] - tx)
			wtt += e * (t[i] - tx) * (t[i] - tx)
		}
		mean = wt / sum
		return mean + tx, wtt/sum - mean*mean, sum
	}
	for range 50 {
		mean, v, _ := moments(beta)
		if !(v > 0) {
			return 0, 0, false
		}
		step := (tx - mean) / v
		beta += step
		if math.Abs(step) < 1e-10*(1+math.Abs(beta)) {
			break
		}
	}
	_, v, sum := moments(beta)
	if !(v > 0) || math.IsNaN(beta) {
		return 0, 0, false
	}
	var chi2 float64 // Pearson's, against the fitted means
	for i := range x {
		if n[i] <= 0 {
			continue
		}
		mu := sx * n[i] * math.Exp(beta*(t[i]-tx)) / sum
		if mu > 0 {
			chi2 += (x[i] - mu) * (x[i] - mu) / mu
		}
	}
	phi := max(1, chi2/float64(m-2)) // m ≥ 3
	return beta, math.Sqrt(phi / (sx * v)), true
}
