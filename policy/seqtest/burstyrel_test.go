package seqtest

import (
	"math"
	"slices"
	"testing"
)

// relWatch draws a baseline of 60 periods in bursts of shape k and a
// watch of 120 at rate p·r (r: the new version's ratio to the
// known-good) in bursts of shape kNew, n trials a period, and reports whether NewBurstyRelative's
// test (r0, δ = α/8, at the level α - δ) trips, and after how many
// periods of the watch (0: never). The tempered two-sample test of the
// same data (its baseline's dispersion by InvK, as compare_errors had
// it) trips or not in contrast.
func relWatch(rs sim, n int, p, k, kNew, r, r0, alpha float64) (at int, contrast bool) {
	x, ns := make([]float64, 60), make([]float64, 60)
	for i := range x {
		x[i], ns[i] = float64(rs.events(n, p, k)), float64(n)
	}
	delta := alpha / 8
	invK := InvK(x, ns)
	test := NewBurstyRelative(x, ns, r0, 0, burstKAltTest, delta, &CompareHardGrid)
	two := NewTwoSample(r0, &CompareGrid)
	var ref Block
	for i := range x {
		phi := Phi(ref.X/max(1, ref.N)*ns[i], invK)
		ref.X, ref.N = ref.X+x[i]/phi, ref.N+ns[i]/phi
	}
	num, den := make([]float64, CompareHardGrid.Len()), make([]float64, test.Cells())
	level := math.Log(1 / (alpha - delta))
	var cur Block
	for t := 1; t <= 120; t++ {
		xe := float64(rs.events(n, min(1, p*r), kNew))
		test.AddPeriod(num, den, xe, float64(n))
		phi := Phi(ref.X/ref.N*r0*float64(n), invK)
		cur.X, cur.N = cur.X+xe/phi, cur.N+float64(n)/phi
		if ref.X > 0 && two.LogE(ref, cur, nil) >= math.Log(1/alpha) {
			contrast = true
		}
		if at == 0 && test.LogE(num, den) >= level {
			at = t
		}
	}
	return at, contrast
}

// TestBurstyRelativeValidity: a new version at the null's boundary (r0
// times the known-good's rate), both in bursts of the same shape, trips
// the test against the baseline's region at most α of the time over a
// two-hour watch, from clumps of rare errors (shape 0.02-0.2) that the
// tempered test takes for a regression, to steady binomial errors.
func TestBurstyRelativeValidity(t *testing.T) {
	const alpha, r0 = 0.05, 1.1
	cases := []struct {
		name     string
		p, k     float64
		n        int
		temperOK bool // the tempered two-sample test is not asserted to fail here
	}{
		{"0.03% in bursts of shape 0.05, 1000 a minute", 3e-4, 0.05, 1000, false},
		{"0.01% in bursts of shape 0.02, 3000 a minute", 1e-4, 0.02, 3000, false},
		{"1% in bursts of shape 0.2, 1000 a minute", 0.01, 0.2, 1000, true}, // tempered: 8% at 250 watches, too close to α to assert at -short's 50
		{"0.1% in bursts of shape 1, 1000 a minute", 1e-3, 1, 1000, true},
		{"1% binomial, 1000 a minute", 0.01, math.Inf(1), 1000, true},
		{"no baseline events: 1e-6, 100 a minute", 1e-6, math.Inf(1), 100, true},
	}
	for i, c := range cases {
		rs := newSim(uint64(300 + i))
		n := reps(t, 1000)
		alarms, contrast := 0, 0
		for range n {
			at, tc := relWatch(rs, c.n, c.p, c.k, c.k, r0, r0, alpha)
			alarms += boolInt(at > 0, 1, 0)
			contrast += boolInt(tc, 1, 0)
		}
		checkRate(t, c.name, alarms, n, alpha)
		t.Logf("%s: tempered two-sample test %d/%d", c.name, contrast, n)
		// The contrast is asserted where the watches are enough to tell
		// it from α (with the tests' sampler fixed, the tempered test
		// trips in 8.7% and 16% of 1,000 watches in the first two cases,
		// not the 38% and 48% a sampler that drew events from nothing
		// at tiny rates gave).
		se := math.Sqrt(alpha * (1 - alpha) / float64(n))
		if b := float64(contrast) / float64(n); !c.temperOK && n >= 250 && b <= alpha+3*se {
			t.Errorf("%s: the tempered test's false alarms %.3f, not above α: the case does not test what it says", c.name, b)
		}
	}
}

// TestBurstyRelativePower: what the composite null costs where policy
// uses it, a baseline whose errors come in clumps (1% in bursts of shape
// 0.2): a new version failing 10x as often, steadily, trips in about six
// periods (the tempered test, invalid there, took one); 3x after a steady baseline (the region then leaves shapes down
// to a few open) takes longer. A new version as clumpy as the baseline
// at 10x its rate is logged, not asserted: its rare huge clumps look like
// the known-good's under the smallest shapes the region allows, and it
// does not trip in two hours (see NewBurstyRelative).
func TestBurstyRelativePower(t *testing.T) {
	const alpha = 1e-3
	cases := []struct {
		name       string
		p, k, kNew float64
		r          float64
		n          int
		within     int // periods by which at least 90% trip (0: log only)
		withinHalf int // ... the median
	}{
		{"10x after 1% binomial, 1000 a minute", 0.01, math.Inf(1), math.Inf(1), 10, 1000, 1, 1},
		{"hard failure after 1% binomial, 100 a minute", 0.01, math.Inf(1), math.Inf(1), 100, 100, 1, 1},
		{"10x steady after 1% in bursts of shape 0.2, 1000 a minute", 0.01, 0.2, 20, 10, 1000, 10, 7},
		{"3x after 1% in bursts of shape 20, 1000 a minute", 0.01, 20, 20, 3, 1000, 14, 9},
		{"10x as clumpy as the baseline, shape 0.2", 0.01, 0.2, 0.2, 10, 1000, 0, 0},
	}
	for i, c := range cases {
		rs := newSim(uint64(400 + i))
		var ats []int
		for range 200 {
			at, _ := relWatch(rs, c.n, c.p, c.k, c.kNew, c.r, 1.1, alpha)
			if at == 0 {
				at = 1000
			}
			ats = append(ats, at)
		}
		q50, q90 := quantileInt(ats, 0.5), quantileInt(ats, 0.9)
		t.Logf("%s: median %d periods, 90%% %d", c.name, q50, q90)
		if c.within > 0 && (q50 > c.withinHalf || q90 > c.within) {
			t.Errorf("%s: median %d, 90%% %d periods; want ≤ %d and ≤ %d", c.name, q50, q90, c.withinHalf, c.within)
		}
	}
}

func quantileInt(v []int, q float64) int {
	s := append([]int(nil), v...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[int(q*float64(len(s)-1))]
}

// TestNBLogTail: the NB upper tail against a direct sum of its terms,
// and below the geometric bound it replaces, which small shapes make
// loose.
func TestNBLogTail(t *testing.T) {
	for _, c := range []struct{ x, mu, k float64 }{
		{100, 50, 0.5}, {30, 30, 2}, {100, 100, 0.003}, {20, 5, 0.05}, {1000, 900, 20}, {40, 20, 0.01}, {300, 3, 0.001}, {3000, 30, 1e-4},
	} {
		lgk, _ := math.Lgamma(c.k)
		term := func(y float64) float64 {
			a, _ := math.Lgamma(y + c.k)
			b, _ := math.Lgamma(y + 1)
			return a - lgk - b - c.k*math.Log1p(c.mu/c.k) + y*math.Log(c.mu/(c.k+c.mu))
		}
		l := term(c.x)
		sum := math.Inf(-1)
		for y := c.x; y < c.x+2e7; y++ {
			v := term(y)
			sum = LogAddExp(sum, v)
			if v < sum-40 {
				break
			}
		}
		got := nbLogTail(c.x, c.x, c.mu, c.k, l)
		bound := l - math.Log1p(-c.mu/(c.mu+c.k)*max(1, (c.x+c.k)/(c.x+1)))
		t.Logf("x %g mu %g k %g: tail %.4f (sum %.4f), bound %.4f", c.x, c.mu, c.k, got, sum, bound)
		if got < bound && (got < sum || got > sum+2*tailSlack) {
			t.Errorf("x %g mu %g k %g: tail %.6f, direct sum %.6f (+%g allowed)", c.x, c.mu, c.k, got, sum, tailSlack)
		}
		if got > bound+1e-12 {
			t.Errorf("x %g mu %g k %g: tail %.6f above the bound %.6f", c.x, c.mu, c.k, got, bound)
		}
	}
}

// histWatch is relWatch with a day of the known-good's history before
// the baseline hour: 24 hours of n·f_h trials a minute (f_h a daily cycle
// from 0.4 to 1.6) at rate p in bursts of shape k, whose shape bound
// (InvKUpperRuns, one rate an hour, at δ/2) is NewBurstyRelative's kMin,
// its region taken at δ/2. A kMin the hour contradicts falls back to the
// region alone (at δ/2: the union bound still holds). nNew is the new
// version's trials a period.
func histWatch(rs sim, n, nNew int, p, k, kNew, r, r0, alpha float64, periods int) int {
	delta := alpha / 8
	var hx, hn []float64
	var ends []int
	for h := range 24 {
		f := 1 + 0.6*math.Sin(2*math.Pi*float64(h)/24)
		m := max(1, int(float64(n)*f))
		for range 60 {
			hx, hn = append(hx, float64(rs.events(m, p, k))), append(hn, float64(m))
		}
		ends = append(ends, len(hx))
	}
	x, ns := make([]float64, 60), make([]float64, 60)
	for i := range x {
		x[i], ns[i] = float64(rs.events(n, p, k)), float64(n)
	}
	all, allN := append(slices.Clone(hx), x...), append(slices.Clone(hn), ns...)
	kMin := 1 / InvKUpperRuns(all, allN, append(ends, len(all)), delta/2)
	test := NewBurstyRelative(x, ns, r0, kMin, burstKAltTest, delta/2, &CompareHardGrid)
	if test == nil {
		test = NewBurstyRelative(x, ns, r0, 0, burstKAltTest, delta/2, &CompareHardGrid)
	}
	num, den := make([]float64, CompareHardGrid.Len()), make([]float64, test.Cells())
	level := math.Log(1 / (alpha - delta))
	for t := 1; t <= periods; t++ {
		test.AddPeriod(num, den, float64(rs.events(nNew, min(1, p*r), kNew)), float64(nNew))
		if test.LogE(num, den) >= level {
			return t
		}
	}
	return 0
}

// TestBurstyRelativeHistoryValidity: with a day of history bounding the
// shape, a new version at the null's boundary still trips at most α of
// the time over a two-hour watch, for clumps of rare errors, for a
// bursty and for a steady known-good.
func TestBurstyRelativeHistoryValidity(t *testing.T) {
	const alpha, r0 = 0.05, 1.1
	cases := []struct {
		name string
		p, k float64
		n    int
	}{
		{"0.03% in bursts of shape 0.05, 1000 a minute", 3e-4, 0.05, 1000},
		{"0.3% in bursts of shape 0.05, 10 a minute", 3e-3, 0.05, 10},
		{"1% in bursts of shape 0.2, 1000 a minute", 0.01, 0.2, 1000},
		{"0.3% binomial, 10 a minute", 3e-3, math.Inf(1), 10},
	}
	for i, c := range cases {
		rs := newSim(uint64(500 + i))
		n := reps(t, 400)
		alarms := 0
		for range n {
			alarms += boolInt(histWatch(rs, c.n, c.n, c.p, c.k, c.k, r0, r0, alpha, 120) > 0, 1, 0)
		}
		checkRate(t, c.name, alarms, n, alpha)
	}
}

// TestBurstyRelativeHistoryPower: what the day buys. A hard failure at 10
// invocations a minute after an hour of 0.3% steady errors (about two in
// the hour) waits for about five entirely failed minutes when the hour
// alone bounds the shape: rare clumps would explain a few. A day of such
// errors, about 40 and all alone in their minutes, rules out shapes below
// about 0.05-0.1 (each hour's rate free: InvKUpperRuns), and three minutes
// are enough. (Not one: at shape 0.08 the hour still allows a rate of 10%
// in rare clumps; only a rate held across hours would rule that out,
// which a daily cycle forbids assuming.)
func TestBurstyRelativeHistoryPower(t *testing.T) {
	const alpha = 1e-3
	rs := newSim(600)
	var with, without []int
	for range 40 {
		at := histWatch(rs, 10, 10, 3e-3, math.Inf(1), math.Inf(1), 1/3e-3, 1.25, alpha, 10)
		with = append(with, boolInt(at > 0, at, 100))
		at0, _ := relWatch(rs, 10, 3e-3, math.Inf(1), math.Inf(1), 1/3e-3, 1.25, alpha)
		without = append(without, boolInt(at0 > 0, at0, 100))
	}
	w50, w90 := quantileInt(with, 0.5), quantileInt(with, 0.9)
	o50 := quantileInt(without, 0.5)
	t.Logf("hard failure at 10 a minute after 0.3%% steady errors: with a day of history median %d periods (90%% %d), the hour alone %d", w50, w90, o50)
	if w50 > 3 || w90 > 4 {
		t.Errorf("with a day of history: median %d, 90%% %d periods; want ≤ 3 and ≤ 4", w50, w90)
	}
	if o50 <= w50 {
		t.Errorf("the hour alone trips in %d periods, no later than with the day (%d): the case does not show what the day buys", o50, w50)
	}
}

// TestBurstyRelativeAlternativesStartAtTheNull: eleven minutes of a
// known-good's errors, one minute's clump of four among nine, are
// likeliest at shape 1.3; a day's history allowing no shape below 54
// rules that out. The alternatives then start at the region's top at the
// smallest shape allowed, which is the null's largest boundary, not at
// the top at the baseline's own likeliest shape, 2.4 times above it,
// which left a 3x regression between the two without an alternative.
func TestBurstyRelativeAlternativesStartAtTheNull(t *testing.T) {
	x := []float64{4, 0, 1, 0, 0, 2, 0, 1, 1, 0, 0}
	n := []float64{184, 165, 148, 186, 155, 190, 175, 167, 143, 168, 107}
	const r0, delta = 1.05, 3e-5
	if k := LikeliestShape(x, n); k > 2 {
		t.Fatalf("likeliest shape %.2f: the case needs the baseline's own below the history's bound", k)
	}
	bt := NewBurstyRelative(x, n, r0, 54, 20, delta, &CompareHardGrid)
	if bt == nil {
		t.Fatal("no test")
	}
	top := maxOf(bt.cellP0)
	if bt.p0 > top*1.001 {
		t.Errorf("alternatives start at %.4f, above the null's largest boundary %.4f", bt.p0, top)
	}
	// Nor above r0 times the baseline's own rate (9 errors in 1,788):
	// a steady regression below a small shape's boundary is still far
	// from every bursty member of the null.
	if mean := 9.0 / 1788; bt.p0 > r0*mean*1.001 {
		t.Errorf("alternatives start at %.4f, above r0 times the baseline's rate %.4f", bt.p0, r0*mean)
	}
	// A 3x regression's errors, at 170 invocations a minute for 14
	// minutes, against the boundary near 1.75 %: the e-value rises.
	nx := []float64{7, 6, 3, 3, 5, 3, 3, 6, 5, 8, 3, 4, 5, 7}
	nn := []float64{106, 157, 137, 153, 172, 184, 139, 201, 176, 174, 207, 167, 182, 177}
	es := relPath(bt, len(nx), func(i int, v, d []float64) { bt.AddPeriod(v, d, nx[i], nn[i]) })
	if e := es[len(es)-1]; e < 2 {
		t.Errorf("log e %.2f after 68 errors in 2,332 invocations (2.9 %%) against a boundary of %.2f %%: want at least 2", e, 100*top)
	}
}

// TestBurstyRelativeEverythingFailingAtALoad: a null boundary raised for
// the load (AddPeriodAt's g) leaves a period in which every trial failed
// entirely failed, so the alternative "everything fails" keeps its
// quarter of the weight and each such period adds evidence. Read as x of
// n·g trials instead (the trials scaled), the first period busier than
// the baseline's typical one has successes, that alternative drops out
// for good, and the e-value falls: what it had gathered was that
// alternative's.
func TestBurstyRelativeEverythingFailingAtALoad(t *testing.T) {
	// A sparse hour at 30 a minute: 6 errors in 926 invocations.
	x := []float64{0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	n := []float64{26, 22, 28, 33, 33, 26, 40, 24, 34, 28, 41, 23, 28, 34, 27, 35, 36, 31, 31, 36, 32, 23, 36, 30, 34, 30, 35, 25, 32, 33}
	bt := NewBurstyRelative(x, n, 1.05, 0, 20, 2e-5, &CompareHardGrid)
	if bt == nil {
		t.Fatal("no test")
	}
	// Every invocation failing after the deploy; a load allowance of
	// the power 1.1 above 32 a minute.
	watch := []float64{28, 29, 30, 40, 32, 34, 28}
	logE := func(scaleTrials bool) []float64 {
		return relPath(bt, len(watch), func(i int, v, d []float64) {
			m := watch[i]
			g := max(1, math.Pow(m/32, 1.1))
			if scaleTrials {
				bt.AddPeriod(v, d, m, m*g)
			} else {
				bt.AddPeriodAt(v, d, m, m, g)
			}
		})
	}
	at, sc := logE(false), logE(true)
	t.Logf("log e, every invocation failing: %.2f with the boundary scaled, %.2f with the trials scaled", at, sc)
	for i := 1; i < len(at); i++ {
		if at[i] < at[i-1]+1 {
			t.Errorf("period %d, %v of %v failing: log e %.2f after %.2f, want at least a nat more", i+1, watch[i], watch[i], at[i], at[i-1])
		}
	}
	// The contrast this test rests on: the trials scaled fall at the
	// fourth period, the first above 32.
	if sc[3] >= sc[2] {
		t.Errorf("trials scaled: log e %.2f after %.2f at the fourth period; the contrast is gone", sc[3], sc[2])
	}
}

// TestBurstyRelativeEverythingFailingAtScale: against a baseline of one
// error in 30,000 invocations, whose null allows rare clumps up to a rate
// of 1 (shapes down to 1e-4), every one of 1,000 invocations failing
// minute after minute is evidence against the known-good. The alternative
// "everything fails" at the grid's top rate alone (log-odds 12 above the
// null's: 0.988) charged 12 nats for such a minute, the null's clumps
// about 2, and the e-value fell 3 nats a minute.
func TestBurstyRelativeEverythingFailingAtScale(t *testing.T) {
	x, n := make([]float64, 30), make([]float64, 30)
	for i := range n {
		n[i] = 1000
	}
	x[8] = 1
	bt := NewBurstyRelative(x, n, 1.05, 0, 20, 2e-5, &CompareHardGrid)
	if bt == nil {
		t.Fatal("no test")
	}
	if top := bt.p1[len(bt.p1)-1]; top > 0.99 {
		t.Fatalf("the grid's top rate is %.4f: the case needs it well below 1", top)
	}
	es := relPath(bt, 6, func(_ int, v, d []float64) { bt.AddPeriod(v, d, 1000, 1000) })
	for i := 1; i < len(es); i++ {
		if es[i] < es[i-1]+1 {
			t.Errorf("period %d of 1,000 of 1,000 failing: log e %.2f after %.2f, want at least a nat more", i+1, es[i], es[i-1])
		}
	}
}

// TestBurstyRelativeSteadyRegressionOnAClumpyService: 1.5 % errors in
// bursts of shape about 0.1 (a region whose top, at that shape, is 33 %),
// then a steady 10 % (100 of 1,000 a minute). Every bursty member of the
// null finds ten such minutes in a row unlikely, so the e-value rises;
// with the alternatives starting at the region's top, none was near 10 %
// and log e fell 12.7 nats a minute.
func TestBurstyRelativeSteadyRegressionOnAClumpyService(t *testing.T) {
	x := []float64{28, 4, 0, 0, 0, 6, 43, 2, 0, 0, 11, 75, 0, 1, 6, 14, 50, 12, 0, 0, 2, 94, 0}
	n := make([]float64, len(x))
	for i := range n {
		n[i] = 1005
	}
	bt := NewBurstyRelative(x, n, 1.05, 0, 20, 1e-5, &CompareHardGrid)
	if bt == nil {
		t.Fatal("no test")
	}
	es := relPath(bt, 10, func(_ int, v, d []float64) { bt.AddPeriod(v, d, 100, 1000) })
	if e := es[len(es)-1]; e < 1 {
		t.Errorf("ten minutes of 100 of 1,000 failing against 1.5 %% in bursts of shape 0.1: log e %.2f, want at least 1", e)
	}
}

// relPath is bt's log e-value after each of k periods, period i adding
// its factors through add (AddPeriod or AddPeriodAt on the buffers).
func relPath(bt *BurstyRate, k int, add func(i int, num, den []float64)) []float64 {
	num, den := make([]float64, len(bt.p1)), make([]float64, bt.Cells())
	v, d := make([]float64, len(num)), make([]float64, len(den))
	out := make([]float64, 0, k)
	for i := range k {
		clear(v)
		clear(d)
		add(i, v, d)
		for j := range num {
			num[j] += v[j]
		}
		for j := range den {
			den[j] += d[j]
		}
		out = append(out, bt.LogE(num, den))
	}
	return out
}
