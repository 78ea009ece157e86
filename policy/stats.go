package policy

import (
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/mathext"
)

// The statistics behind compare_errors and compare_latency.
//
// Error counts. Per-minute error counts are mostly zero, where a rank test
// on per-period rates misfires (Kayenta's known weakness), so errors are
// compared as counts. Model each side's errors as Poisson with rate
// lambda*invocations. Conditional on the total k = e_new + e_old, e_new is
// Binomial(k, p) with p = r*n_new / (r*n_new + n_old), where r is the ratio
// of the new rate to the old one (Lehmann & Romano, Testing Statistical
// Hypotheses, 3rd ed., §4.5: the conditional test for comparing two Poisson
// means; also Przyborowski & Wilenski 1940). The null hypothesis is "the new
// version is at most min_effect worse", r = 1 + min_effect; the one-sided
// exact p-value is P(X >= e_new) for X ~ Binomial(k, p0), which equals the
// regularized incomplete beta function I_p0(e_new, k - e_new + 1)
// (Abramowitz & Stegun 26.5.24). With no errors at all (k = 0) the p-value
// is 1: nothing argues against the new version.
//
// Latency. compare_latency compares the per-period percentile values of the
// new side with those of the known-good side with a one-sided Mann-Whitney
// U test (Mann & Whitney 1947). U counts the pairs (x, y) with x > y, ties
// counting one half. Without ties and with both samples of at most 50 values
// the p-value is exact: the null distribution of U has the generating
// function of the Gaussian binomial coefficient [n1+n2 choose n1]_q
// (Mann & Whitney 1947, eq. 1; Andrews, The Theory of Partitions, 3.3), whose
// coefficients are computed by the product prod_{i=1..m} (1-q^(n+i))/(1-q^i).
// Otherwise the normal approximation with the tie-corrected variance
// sigma^2 = n1*n2/12 * ((N+1) - sum(t^3 - t)/(N(N-1))) and a continuity
// correction of 1/2 is used (Lehmann, Nonparametrics, 1975, §1.4). When every
// value is tied the variance is 0 and the p-value is 1. The smallest p-value
// n1 vs n2 values can give is 1/C(n1+n2, n1): 3 vs 3 periods never reach
// confidence 0.99 (1/20), 5 vs 5 do (1/252); findings say so.

// binomialUpperTail returns P(X >= k) for X ~ Binomial(n, p).
func binomialUpperTail(k, n, p float64) float64 {
	switch {
	case k <= 0:
		return 1
	case k > n || p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	return mathext.RegIncBeta(k, n-k+1, p)
}

// compareErrorsP is the one-sided exact conditional p-value for "the new
// error rate is more than (1+minEffect) times the old one", given eNew
// errors in nNew invocations and eOld errors in nOld invocations.
func compareErrorsP(eNew, nNew, eOld, nOld, minEffect float64) float64 {
	k := eNew + eOld
	if k <= 0 || nNew <= 0 || nOld <= 0 {
		return 1
	}
	w := (1 + minEffect) * nNew
	return binomialUpperTail(eNew, k, w/(w+nOld))
}

// mannWhitneyGreater returns U for x (pairs with x > y, ties one half) and
// the one-sided p-value for "x tends to be larger than y". It sorts x and
// y in place (cheap when they are sorted already) and ranks them in one
// merge pass.
func mannWhitneyGreater(x, y []float64) (u, p float64) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return 0, 1
	}
	slices.Sort(x)
	slices.Sort(y)
	var r1, tieSum float64
	ties := false
	pos := 0 // values ranked so far
	for i, j := 0, 0; i < n1 || j < n2; {
		var v float64
		switch {
		case j == n2 || (i < n1 && x[i] <= y[j]):
			v = x[i]
		default:
			v = y[j]
		}
		cx, cy := 0, 0
		for ; i < n1 && x[i] == v; i++ {
			cx++
		}
		for ; j < n2 && y[j] == v; j++ {
			cy++
		}
		t := cx + cy
		r1 += float64(cx) * (float64(pos) + float64(t+1)/2) // mid-rank of positions pos+1..pos+t
		if t > 1 {
			ties = true
			ft := float64(t)
			tieSum += ft*ft*ft - ft
		}
		pos += t
	}
	f1, f2 := float64(n1), float64(n2)
	u = r1 - f1*(f1+1)/2
	if !ties && n1 <= exactMaxN && n2 <= exactMaxN {
		return u, exactUpperTail(n1, n2, int(math.Round(u)))
	}
	n := f1 + f2
	sigma2 := f1 * f2 / 12 * ((n + 1) - tieSum/(n*(n-1)))
	if sigma2 <= 0 {
		return u, 1
	}
	z := (u - f1*f2/2 - 0.5) / math.Sqrt(sigma2)
	return u, 0.5 * math.Erfc(z/math.Sqrt2)
}

// exactMaxN bounds the sample sizes for which U's exact distribution is used.
const exactMaxN = 50

var exactCache struct {
	sync.Mutex
	m map[[2]int][]float64
}

// exactUpperTail returns P(U >= u) under H0 for sample sizes n1, n2 without ties.
func exactUpperTail(n1, n2, u int) float64 {
	if u <= 0 {
		return 1
	}
	if u > n1*n2 {
		return 0
	}
	return upperTails(n1, n2)[u]
}

// upperTails returns tail[u] = P(U >= u), memoised per (n1, n2).
func upperTails(n1, n2 int) []float64 {
	if n1 > n2 {
		n1, n2 = n2, n1 // the distribution is symmetric in the sizes
	}
	key := [2]int{n1, n2}
	exactCache.Lock()
	t, ok := exactCache.m[key]
	exactCache.Unlock()
	if ok {
		return t
	}
	t = computeUpperTails(n1, n2)
	exactCache.Lock()
	if exactCache.m == nil {
		exactCache.m = map[[2]int][]float64{}
	}
	if len(exactCache.m) < 512 {
		exactCache.m[key] = t
	}
	exactCache.Unlock()
	return t
}

// computeUpperTails expands the Gaussian binomial [n1+n2 choose n1]_q: its
// coefficient of q^u counts the orderings with U = u.
func computeUpperTails(m, n int) []float64 {
	deg := m * n
	c := make([]float64, deg+m+n+1) // room for the intermediate products
	c[0] = 1
	cur := 0
	for i := 1; i <= m; i++ {
		a := n + i
		for d := cur; d >= 0; d-- { // multiply by (1 - q^a)
			c[d+a] -= c[d]
		}
		for d := i; d <= cur+a; d++ { // divide by (1 - q^i)
			c[d] += c[d-i]
		}
		cur += n
	}
	total := 0.0
	for _, v := range c[:deg+1] {
		total += v
	}
	tail := make([]float64, deg+2)
	for u := deg; u >= 0; u-- {
		tail[u] = tail[u+1] + c[u]/total
	}
	return tail[:deg+1]
}

func median(v []float64) float64 {
	s := v
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
