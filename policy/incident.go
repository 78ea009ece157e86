package policy

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/mathext"

	"github.com/canaryd/canaryd/policy/seqtest"
)

// A deploy during an incident.
//
// When the known-good version got worse during its baseline window (a
// broken dependency, an outage that began before the deploy), a new
// version that is just as bad trips the tests against the baseline, and
// rolling back would not help. Each count rule looks for the step in its
// baseline: the split of its periods into a head and a tail whose
// per-period rates rank the tail highest (a rank test, so burstiness
// needs no model), and whose tail rate is significantly above the head's
// (the counts tempered for the burstiness within each side, or, with a
// shape history, for the day's: dayStep). A rule that
// trips then only alerts unless the new version is significantly worse
// than the known-good's tail — an incident made worse still rolls back.
// A step one rule shows (errors) stands for every rule (probes, whose
// incident may be too light to show on its own): each compares the new
// version with its own known-good tail since that step.
//
// None of this can trip a rule. The step can only turn a rollback into
// an alert, so it is a plain test at a fixed z. Whether the new version
// is worse than the tail turns the alert back into a rollback and is
// asked at every evaluation while the rule trips, so its level is spent
// over the periods since the deploy (worseLevel).

const (
	// recentPeriods is how much of the end of the baseline describes what
	// the known-good was doing just before the deploy when no step is
	// found.
	recentPeriods = 5
	// minShiftTail is the fewest periods on each side of a step.
	minShiftTail = 3
	// shiftP is the rank test's p-value for a step, searched over the
	// splits (whose statistics are strongly correlated): with 30 periods,
	// a tail of 4 must rank above the whole head, one of 5 may have one
	// exception.
	shiftP = 1e-4
	// shiftZ is the z of the tail's rate against the head's (the new
	// version's against the tail's spends its one-sided p: worseLevel).
	shiftZ = 3
	// shiftPLoose and shiftZLoose: a step whose ranks are less extreme
	// (an incident so bursty that some of its minutes rank low) is one
	// when its rate test, tempered for the burstiness on each side, is
	// that much stronger.
	shiftPLoose = 1e-2
	shiftZLoose = 5
	// incidentWorse is how much worse than the known-good's tail the new
	// version must be, significantly, for an incident made worse: the
	// tail is a few minutes of an incident whose burstiness they cannot
	// measure well.
	incidentWorse = 1.25
)

// kgShift is what a rule's baseline says about an incident that began
// within it.
type kgShift struct {
	on      bool          // the known-good got significantly worse: an incident began
	other   bool          // the step was found by another rule
	recent  seqtest.Block // the tail (the last recentPeriods periods without a step), tempered at its own mean
	raw     seqtest.Block // the tail's counts
	periods int           // the tail's periods
	invK    float64       // the tail's overdispersion: the baseline's, or the tail's own when larger (tailInvK)
	head    float64       // the rate before the tail
	at      int64         // the tail's first period (unix ns)
	p       float64       // the rank test's p-value at the step
	step    int           // the step's period (an index of ts), 0 when the baseline shows none
	from    int           // the tail's first period (an index of ts)

	// The baseline's per-period counts, until PrepareBaseline has shared
	// the strongest step between the rules and set the rules' dispersion.
	ts        []int64
	x, n      []float64
	perPeriod bool // counts per period (throttles ≥ 1): no trials
}

// shift estimates a count rule's overdispersion and looks for a step in
// its baseline (ts the periods' starts, ascending; x the events, n the
// trials; probe: a probe rule's results, whose ties share their ranks).
func (b *PreparedBaseline) shift(r *rule, rb *ruleBase, ts []int64, x, n []float64, perPeriod, probe bool) {
	var splits []split // a count rule's every split, strictly ranked (dayStep)
	var c int
	var pv float64
	if probe {
		c, pv = changepoint(x, n, true)
	} else {
		splits = changepoints(x, n)
		c, pv = mostExtreme(splits)
	}
	z := 0.0 // the rate test a step at c must pass: strict ranks, or looser ranks and a stronger rate
	switch {
	case pv <= shiftP:
		z = shiftZ
	case pv <= shiftPLoose:
		z = shiftZLoose
	}
	if z > 0 && b.stepAt(rb, ts, x, n, perPeriod, c, pv, z) {
		return
	}
	// A count rule's sparse counts: an incident whose last minute had no
	// error ranks below the head by time. Ranked with ties shared, a step
	// must pass the stronger rate test.
	if !probe {
		if c, pv := changepoint(x, n, true); pv <= shiftP && b.stepAt(rb, ts, x, n, perPeriod, c, pv, shiftZLoose) {
			return
		}
		if !perPeriod && b.dayStep(r, rb, ts, x, n, splits) {
			return
		}
	}
	b.stepAt(rb, ts, x, n, perPeriod, 0, pv, 0)
}

// stepAt sets a count rule's dispersion and its known-good tail for a step
// at period c (0: none) whose rate test must reach z; false when it does
// not (the rule's dispersion and tail are then the step's, to be set
// again).
func (b *PreparedBaseline) stepAt(rb *ruleBase, ts []int64, x, n []float64, perPeriod bool, c int, pv, z float64) bool {
	return b.stepAtK(rb, ts, x, n, perPeriod, c, pv, z, -1)
}

// stepAtK is stepAt whose rate test tempers at zK (< 0: the rule's 1/k).
func (b *PreparedBaseline) stepAtK(rb *ruleBase, ts []int64, x, n []float64, perPeriod bool, c int, pv, z, zK float64) bool {
	stepped := c > 0
	switch {
	case perPeriod && stepped:
		rb.invK = seqtest.InvKPerPeriodSplit(x, c)
	case perPeriod:
		rb.invK = seqtest.InvKPerPeriod(x)
	case stepped:
		rb.invK = seqtest.InvKSplit(x, n, c)
	default:
		rb.invK = seqtest.InvK(x, n)
	}
	sh := &rb.shift
	*sh = kgShift{}
	if stepped {
		sh.step = c
	} else {
		c = tailStart(ts, int64(b.p.period))
	}
	sh.ts, sh.x, sh.n, sh.p, sh.perPeriod = ts, x, n, pv, perPeriod
	sh.tail(c, rb.invK)
	if !stepped {
		return true
	}
	if sh.raw.X < 5 {
		return false
	}
	head := sumBlock(x[:c], n[:c])
	sh.head = head.X / head.N
	if zK < 0 {
		zK = rb.invK
	}
	sh.on = head.N > 0 && sh.raw.N > 0 && stepZ(head, sh.raw, c, sh.periods, zK) >= z
	return sh.on
}

// dayStep looks for a step against the shape history's burstiness. With
// no step, the tail's periods would be as bursty as the head's, and a day
// of history measures that far better than the baseline's few periods;
// the split estimate (seqtest.InvKSplit) instead pools an incident's own
// bursts in, and so hid a bursty incident from the rate test: 1% -> 4% in
// bursts of shape 3 at 600 a minute was missed in 1.3% of baselines
// (sim_test.go), and a deploy as bad as it was rolled back. Every split
// whose ranks pass the loose rank test (shiftPLoose) is tried, the most
// extreme first, since the best-ranked split of such an incident often
// starts a few of its minutes late; its rate must be shiftZLoose standard
// errors above the head's, tempered at the day's 1/k or the head's own
// (with its slack, seqtest.InvK) where that is larger: a service burstier
// within the hour than over the day. Measured on 2,000 simulated
// baselines each with a day of history: that incident's step is found in
// 99% of them (93% without dayStep); steady services (1% in bursts of
// shape 0.5 to 30, 0.3% of 300 in bursts of shape 1, 5% of 3,000 of shape
// 10) show one in 0.05-0.6%, as before; services whose hour is burstier
// than their day (shape 30 over the day, 2 or 0.5 over the hour) in 0.6%
// and 0.85% (0.2% and 0.35% before), where a bad deploy then alerts
// unless it is worse than the tail (kgShift.worse).
// splits are changepoints(x, n), reordered here; the shape history is
// read only when one of them passes the rank test.
func (b *PreparedBaseline) dayStep(r *rule, rb *ruleBase, ts []int64, x, n []float64, splits []split) bool {
	splits = slices.DeleteFunc(splits, func(s split) bool { return s.p > shiftPLoose })
	if b.hist == nil || len(splits) == 0 {
		return false
	}
	hts, hx, hn := b.histBlocks(r, rb)
	if len(hx) == 0 {
		return false
	}
	rb.allowCapacity(hx, hn)
	day := seqtest.InvKRuns(hx, hn, b.hourRuns(hts), 1)
	slices.SortStableFunc(splits, func(a, b split) int { return cmp.Compare(a.p, b.p) })
	for _, s := range splits {
		if b.stepAtK(rb, ts, x, n, false, s.c, s.p, shiftZLoose, max(day, seqtest.InvK(x[:s.c], n[:s.c]))) {
			return true
		}
	}
	return false
}

// stepZ is the z of a tail's rate (tail, over tp periods) against its
// head's (head, over hp periods). Under no step both sides run at the
// head's rate: each is tempered at the count a period would expect at it.
func stepZ(head, tail seqtest.Block, hp, tp int, invK float64) float64 {
	rate := head.X / head.N
	muTail, muHead := rate*tail.N/float64(tp), rate*head.N/float64(hp)
	return zAbove(temper(tail, seqtest.Phi(muTail, invK)), temper(head, seqtest.Phi(muHead, invK)), 1)
}

// sumBlock is the block of events x in trials n.
func sumBlock(x, n []float64) seqtest.Block {
	var b seqtest.Block
	for i := range x {
		b.X, b.N = b.X+x[i], b.N+n[i]
	}
	return b
}

// tail sets the tail block from period c on.
func (sh *kgShift) tail(c int, invK float64) {
	sh.raw, sh.periods, sh.recent = seqtest.Block{}, 0, seqtest.Block{}
	if c >= len(sh.ts) {
		return
	}
	sh.raw = sumBlock(sh.x[c:], sh.n[c:])
	sh.from, sh.periods, sh.at = c, len(sh.ts)-c, sh.ts[c]
	sh.invK = max(invK, tailInvK(sh.x[c:], sh.n[c:], sh.perPeriod))
	if sh.raw.N > 0 {
		sh.recent = temper(sh.raw, seqtest.Phi(sh.raw.X/float64(sh.periods), sh.invK))
	}
}

// tailInvK is 1/k of the tail's own period-to-period variance (Pearson's
// X² around its rate; 0 with fewer than 3 periods or 5 events). An
// incident is often burstier than the steady known-good the rest of the
// baseline shows, and the tail is what the new version is compared with
// (worse) and what the deploy's period allows for (kgUpper): its
// burstiness measured on the baseline as a whole would make a bursty
// incident's single minute look like a significantly worse new version.
func tailInvK(x, n []float64, perPeriod bool) float64 {
	var sx, sn float64
	for i := range x {
		sx += x[i]
		if !perPeriod {
			sn += n[i]
		}
	}
	t := float64(len(x))
	if len(x) < 3 || sx < 5 || (!perPeriod && (sn <= 0 || sx >= sn)) {
		return 0
	}
	mean, chi2 := sx/t, 0.0
	if perPeriod {
		for _, v := range x {
			chi2 += (v - mean) * (v - mean) / mean
		}
	} else {
		p := sx / sn
		for i := range x {
			if mu := p * n[i]; mu > 0 {
				chi2 += (x[i] - mu) * (x[i] - mu) / (mu * (1 - p))
			}
		}
	}
	return max(0, chi2/(t-1)-1) / mean
}

// rateDiffs sums the successive differences of a run of periods' rates,
// in time order, for their burstiness (invK): differences, not deviations
// from the run's mean, so that a rate that moves over the run (a ramp, an
// incident easing) is not taken for bursts.
type rateDiffs struct {
	prev       float64 // the last period's rate
	prevN      float64 // its trials (0: none yet)
	sq, binom  float64 // Σ (y_t - y_{t-1})², Σ (1/n_t + 1/n_{t-1})
	pairs      int
	sumX, sumN float64 // over the periods paired
}

// add adds a period of x events in n trials (none: skipped).
func (d *rateDiffs) add(x, n float64) {
	if n <= 0 {
		return
	}
	y := x / n
	if d.prevN > 0 {
		d.sq += (y - d.prev) * (y - d.prev)
		d.binom += 1/n + 1/d.prevN
		d.pairs++
		d.sumX, d.sumN = d.sumX+x, d.sumN+n
	}
	d.prev, d.prevN = y, n
}

// invK is 1/k of the periods: with p their rate, a pair's squared
// difference expects p(1-p)(1/n_t + 1/n_{t-1}) + 2p²/k. 0 with fewer than
// 3 pairs or 5 events.
func (d *rateDiffs) invK() float64 {
	if d.pairs < 3 || d.sumX < 5 || d.sumX >= d.sumN {
		return 0
	}
	p := d.sumX / d.sumN
	return max(0, d.sq-p*(1-p)*d.binom) / (2 * float64(d.pairs) * p * p)
}

// shareShift makes the strongest step any rule found stand for every
// rule with a baseline: an incident shows more in some counts than in
// others. It runs before the rules' tests are set up from their
// dispersion.
func (b *PreparedBaseline) shareShift() {
	best := -1
	for i := range b.rules {
		if sh := &b.rules[i].shift; sh.on && (best < 0 || sh.p < b.rules[best].shift.p) {
			best = i
		}
	}
	for i := range b.rules {
		rb := &b.rules[i]
		sh := &rb.shift
		if best >= 0 && !sh.on && len(sh.ts) > 0 {
			at := b.rules[best].shift.at
			if c, _ := slices.BinarySearch(sh.ts, at); c < len(sh.ts) && (b.p.rules[i].isProbe() || rose(sh, c, rb.invK)) {
				// The burstiness within each side of the step: a step this
				// rule shows too weakly to be found on its own is not
				// taken for burstiness either.
				if sh.perPeriod {
					rb.invK = seqtest.InvKPerPeriodSplit(sh.x, c)
				} else {
					rb.invK = seqtest.InvKSplit(sh.x, sh.n, c)
				}
				sh.tail(c, rb.invK)
				sh.step = c
				sh.on, sh.other = sh.raw.N > 0, true
				sh.head = 0
				if h := rb.baseRaw.N - sh.raw.N; h > 0 {
					sh.head = (rb.baseRaw.X - sh.raw.X) / h
				}
			}
		}
	}
}

// rose reports whether a rule's own counts rose at another rule's step
// (period c): its tail's rate at least a standard error above its head's
// (stepZ, as in shift). An incident shows more in some counts than in
// others, so a step too light to be found in this rule's counts still
// stands for it; but where they show no rise at all (a burst of errors
// taken for a step, latency the errors' incident did not touch), the
// known-good was no worse in this rule's terms, and a version that trips
// it is worse than the known-good: rolling back helps. Probe rules, whose
// few results cannot show a light incident, follow the step regardless.
// A tail that expects fewer than quietTail events at the head's rate
// cannot show a rise either way and follows the step too (the log-scale
// z, 0.5 added to each count, read it as a rise or not by the sides'
// lengths alone).
func rose(sh *kgShift, c int, invK float64) bool {
	head, tail := sumBlock(sh.x[:c], sh.n[:c]), sumBlock(sh.x[c:], sh.n[c:])
	if head.N <= 0 || tail.N <= 0 || head.X/head.N*tail.N < quietTail {
		return true
	}
	return stepZ(head, tail, c, len(sh.x)-c, invK) >= 1
}

// quietTail is the fewest events a rule's tail must expect at its head's
// rate for its own counts to say whether they rose at another rule's step.
const quietTail = 3

// worse reports whether the new version's counts (a deciding epoch's,
// untempered) are significantly above incidentWorse times the tail's
// rate, each side tempered at its own count per period (a probe result
// is not a period: the new side's results are counted per period of the
// tail's size). own is the new version's burstiness since the deploy
// (0: not known); looks is the number of periods judged since the
// deploy (a probe rule's results: each is a look), the z and exact
// tests' level worseLevel(looks).
//
// A version failing more than half its requests has less room for
// bursts above its rate than φ allows: its counts are tempered at
// min(1, 2(1-p))·φ (at least 1), none at all when it fails every request
// (100 of 100 after the known-good's 6 of 100 in bursts of 1/k 1.16:
// tempered at φ = 24 it read as 4 of 4). Below half, φ: at (1-p)·φ a
// deploy as bad as a bursty incident, 21 of 69 failing in its first
// minute against the incident's 11.6 %, read as worse (quality
// good/during-incident seed 10006).
func (sh *kgShift) worse(a *epochAcc, probe bool, invK, own float64, looks int) bool {
	if a.rawN <= 0 || a.periods == 0 || sh.raw.N <= 0 || sh.periods == 0 {
		return false
	}
	perPeriod := a.rawN / float64(a.periods)
	if probe {
		perPeriod = sh.raw.N / float64(sh.periods)
	}
	k, tail := max(invK, sh.invK), sh.recent
	if own > k {
		k, tail = own, temper(sh.raw, seqtest.Phi(sh.raw.X/float64(sh.periods), own))
	}
	nw := seqtest.Block{X: a.rawX, N: a.rawN}
	p := min(1, nw.X/nw.N)
	nw = temper(nw, max(1, min(1, 2*(1-p))*seqtest.Phi(p*perPeriod, k)))
	lvl := worseLevel(looks)
	return zAbove(nw, tail, incidentWorse) >= -normalQuantile(lvl) || exactlyAbove(nw, tail, incidentWorse, lvl) ||
		(p >= fisherShare && fisherAbove(nw, tail, incidentWorse))
}

// fisherShare is the share of its requests the new version must fail for
// fisherAbove to judge it: Fisher's test is for a version failing most of
// them, where the Poisson tests' null (1.25 times a tail rate they bound
// without a ceiling) can exceed every request. Below it the spent tests
// judge alone: at large counts Fisher's own fixed level would be about
// z 3.3 at every look (560 of 4,300 against 45 of 732).
const fisherShare = 0.5

// worseLevel is the level of worse's z and exact tests at its t-th look
// (t periods judged since the deploy). Each is asked at every period
// while the rule trips, for as long as the watch, and at a fixed level
// shiftP1 a deploy as bad as a bursty incident (1 % → 4 % in bursts of
// shape 3) was found worse in 28 of 4,000 simulated watches, five times
// that level. The first worseEarly looks, where an incident made worse
// shows, take shiftP1/2 each (z 3.2); the later ones share another
// shiftP1/2, 6/(π²(t-worseEarly)²) of it at the t-th: at most 2·shiftP1
// over the watch for each test.
func worseLevel(t int) float64 {
	if t <= worseEarly {
		return shiftP1 / 2
	}
	u := float64(t - worseEarly)
	return shiftP1 / 2 * 6 / (math.Pi * math.Pi * u * u)
}

// worseEarly is how many looks worse takes at a fixed level.
const worseEarly = 3

// exactlyAbove is the z test's question answered exactly where events are
// few: given the events of both blocks, the new block's share of them is
// binomial under rates in the ratio r0 (the conditional test of two
// Poisson rates), and its upper tail must be at most lvl. The log-scale z
// cannot get there when the reference block has one or two events: its
// standard error never falls below theirs, so a version failing 19 of 19
// requests after a known-good's 1 error in 15 (7%, above a 5% ceiling, in
// its last five minutes) reached z = 2.5 and was kept. Exactly, 14 of 14
// is enough. Tempered counts are allowed (the regularized incomplete beta
// is the binomial tail's continuous extension).
func exactlyAbove(b, ref seqtest.Block, r0, lvl float64) bool {
	if b.N <= 0 || ref.N <= 0 || b.X <= 0 {
		return false
	}
	pi := r0 * b.N / (r0*b.N + ref.N)
	return mathext.RegIncBeta(b.X, ref.X+1, pi) <= lvl
}

// fisherAbove answers the same question for binomial counts, which the
// two above (Poisson counts) cannot where the new version fails almost
// every request: after a known-good's 1 error in 10 invocations in its
// last minutes (10%, above a 5% ceiling), the known-good's rate could be
// far higher, and 1.25 times a rate of 0.64 or more would explain even
// 20 of 20 failing, so neither test ever called a version that fails
// everything worse (quality bad/low-traffic-hard seed 299 of the tuning
// seeds and 10084 of the report seeds, caught after their deadline). What
// they leave out is what the known-good did not do: it served 9 of its 10
// requests. Given both blocks' failures, Fisher's exact test of the new
// block's share of them (Fisher's noncentral hypergeometric law) at the
// odds ratio psi0 that rates in the ratio r0 reach at the tail's upper
// confidence bound u (at shiftP1: psi0 = r0·(1-u)/(1-r0·u), and no test
// when r0·u ≥ 1) holds for every tail rate up to u: a rate ratio of at
// most r0 at a rate p ≤ u is an odds ratio of at most psi0. Its level is
// shiftP1/fisherLooks, so a look errs with probability at most
// (1 + 1/fisherLooks)·shiftP1 (TestFisherAbove). Tempered blocks are
// rounded to whole counts. Against 1 of 10 (u 0.65, psi0 2.3), 20 of 20
// failing is worse (p 7e-5), 14 of 14 not yet (p 4e-4); against 2 of 18,
// 9 of 9 is (p 1.6e-4); 2 of 10 against 1 of 10 never is. At the test's
// level, shiftP1, the probes of good/low-traffic-incident seed 21 (3 of
// the known-good's last 33 failing, a draw of probability 1e-4 at the
// incident's 41 %; the new version's 11 of 17) rolled back a deploy as
// bad as the known-good.
func fisherAbove(b, ref seqtest.Block, r0 float64) bool {
	xb, nb, xr, nr := math.Round(b.X), math.Round(b.N), math.Round(ref.X), math.Round(ref.N)
	if nb < 1 || nr < 1 || xb < 1 || xb > nb || xr > nr || xb*nr <= r0*xr*nb {
		return false
	}
	u := seqtest.BinomialUpper(xr, nr, math.Log(1/shiftP1))
	if r0*u >= 1 {
		return false
	}
	lpsi := math.Log(r0 * (1 - u) / (1 - r0*u))
	// The new block's failures x given the total t: weights
	// C(nb, x)·C(nr, t-x)·psi0^x over max(0, t-nr) ≤ x ≤ min(nb, t).
	t := xb + xr
	lo, hi := math.Max(0, t-nr), math.Min(nb, t)
	top, all := math.Inf(-1), math.Inf(-1)
	for x := lo; x <= hi; x++ {
		w := seqtest.LogChoose(nb, x) + seqtest.LogChoose(nr, t-x) + x*lpsi
		all = seqtest.LogAddExp(all, w)
		if x >= xb {
			top = seqtest.LogAddExp(top, w)
		}
	}
	return top-all <= math.Log(shiftP1/fisherLooks)
}

// fisherLooks divides fisherAbove's level: the tail's bound is taken
// once, from the baseline, but the new side's test is asked at every
// evaluation while the rule fails, and its growing counts give it that
// many more chances.
const fisherLooks = 5

// shiftP1 is the one-sided p of shiftZ standard errors.
var shiftP1 = 0.5 * math.Erfc(shiftZ/math.Sqrt2)

// tailStart is the first of the periods within the last recentPeriods.
func tailStart(ts []int64, period int64) int {
	if len(ts) == 0 {
		return 0
	}
	c, _ := slices.BinarySearch(ts, ts[len(ts)-1]-(recentPeriods-1)*period)
	return c
}

// changepoint finds where a baseline's rate rose: the split c of its
// periods into a head x[:c] and a tail x[c:] (each at least minShiftTail
// periods) whose per-period rates rank the tail highest against the head
// — Mann-Whitney's rank sum, its exact one-sided p-value under random
// order — and that split's p. Ranks, not counts: a bursty but steady
// baseline ranks like any exchangeable sequence.
//
// Ties rank later periods lower, which can only make the tail look less
// extreme; with midRanks they share their mean rank instead, and the
// p-value is the exact one of that tied rank sum (tiedChangepoint). A
// probe's baseline is mostly minutes without a failure: ranked by time,
// an incident's minutes with failures and its one clean minute rank
// below the whole head, and no incident shows. Count rules keep the
// stricter ranking: their sparse counts' chance clusters at the end of a
// baseline then passed for steps in 2 of 3,300 bad deploys (quality
// seeds 1-300), whose rollbacks became alerts.
func changepoint(x, n []float64, midRanks bool) (c int, p float64) {
	rank2, tied := ranks(x, n, midRanks)
	if rank2 == nil {
		return 0, 1
	}
	if tied {
		return tiedChangepoint(rank2)
	}
	return mostExtreme(splitPs(rank2))
}

// mostExtreme is the split with the smallest p (the latest of equals;
// none: 0, 1).
func mostExtreme(splits []split) (c int, p float64) {
	p = 1
	for _, s := range splits {
		if s.p < p {
			c, p = s.c, s.p
		}
	}
	return c, p
}

// ranks are twice each period's rank by its rate (with midRanks, its tie
// group's mean rank; else the later of tied periods ranks lower), and
// whether any share theirs; nil where the periods are too few or too
// many for a step to be looked for.
func ranks(x, n []float64, midRanks bool) (rank2 []int, tied bool) {
	T := len(x)
	if T < 2*minShiftTail || T > maxExactRanks {
		return nil, false
	}
	idx := make([]int, T)
	rate := make([]float64, T)
	for i := range x {
		idx[i] = i
		if n[i] > 0 {
			rate[i] = x[i] / n[i]
		}
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(rate[a], rate[b]); c != 0 {
			return c
		}
		if midRanks {
			return a - b
		}
		return b - a // the later period ranks lower
	})
	rank2 = make([]int, T)
	for i := 0; i < T; {
		j := i
		for midRanks && j+1 < T && rate[idx[j+1]] == rate[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			rank2[idx[k]] = i + j + 2
		}
		tied = tied || j > i
		i = j + 1
	}
	return rank2, tied
}

// split is a step's split of a baseline's periods and its rank test's p.
type split struct {
	c int
	p float64
}

// splitPs are every split's exact one-sided rank-sum p (rank2: twice
// each period's rank, no ties), latest first.
func splitPs(rank2 []int) []split {
	T := len(rank2)
	surv := rankSumSurvival(T)
	var out []split
	sum := 0
	for k := T - 1; k >= minShiftTail; k-- {
		sum += rank2[k] / 2
		if l := T - k; l >= minShiftTail {
			out = append(out, split{k, surv[l][sum]})
		}
	}
	return out
}

// changepoints is changepoint's every split (strict ranks).
func changepoints(x, n []float64) []split {
	rank2, _ := ranks(x, n, false)
	if rank2 == nil {
		return nil
	}
	return splitPs(rank2)
}

// tiedChangepoint is changepoint's search when rates tie (rank2: twice
// each period's mean rank). The exact null distribution of a tied rank
// sum depends on the ties, so it is computed for one split only: the one
// whose tail's rank sum is most standard deviations above its mean
// (with the variance the ties leave). A split whose sum is under
// tiedMinZ standard deviations above is no step (p is then reported as
// 1).
func tiedChangepoint(rank2 []int) (c int, p float64) {
	T := len(rank2)
	var ss float64 // Σ (r_i - mean)², doubled ranks
	mean2 := float64(T + 1)
	for _, r := range rank2 {
		ss += (float64(r) - mean2) * (float64(r) - mean2)
	}
	if ss == 0 {
		return 0, 1
	}
	bestZ, sum := math.Inf(-1), 0
	var bestSum int
	for k := T - 1; k >= minShiftTail; k-- {
		sum += rank2[k]
		l := T - k
		if l < minShiftTail {
			continue
		}
		v := float64(l*(T-l)) / float64(T*(T-1)) * ss
		if z := (float64(sum) - float64(l)*mean2) / math.Sqrt(v); z > bestZ {
			bestZ, c, bestSum = z, k, sum
		}
	}
	if bestZ < tiedMinZ {
		return 0, 1
	}
	return c, tiedRankSurvival(rank2, T-c, bestSum)
}

// tiedMinZ is the fewest standard deviations a tied tail's rank sum must
// be above its mean for its exact p-value to be worked out: the tied
// distributions here are skewed to the right (a few high ranks among
// many tied low ones), so below it the exact p is larger than the
// normal's 7%, far from a step.
const tiedMinZ = 1.5

// tiedRankSurvival is P(S ≥ sum) for the sum S of the doubled ranks of l
// periods drawn at random from rank2, counted exactly over the tie
// groups: the number of l-subsets with each sum, a group of g periods
// contributing j of them in C(g, j) ways. Drawing the tail is drawing the
// head; the shorter of the two is counted.
func tiedRankSurvival(rank2 []int, l, sum int) float64 {
	T := len(rank2)
	total := 0
	counts := map[int]int{}
	for _, r := range rank2 {
		counts[r]++
		total += r
	}
	upper := true // counting tails with sum ≥ sum; else heads with sum ≤ total - sum
	if l > T-l {
		l, sum, upper = T-l, total-sum, false
	}
	// f[j][s]: the number of j-subsets with doubled rank sum s, nonzero
	// only within [lo[j], hi[j]] (lo > hi: none yet).
	f := make([][]float64, l+1)
	lo, hi := make([]int, l+1), make([]int, l+1)
	for j := range f {
		f[j] = make([]float64, total+1)
		lo[j], hi[j] = total+1, -1
	}
	f[0][0], lo[0], hi[0] = 1, 0, 0
	seen := 0
	for _, r := range slices.Sorted(maps.Keys(counts)) {
		g := counts[r]
		seen += g
		for j := min(l, seen); j >= 1; j-- {
			binom := 1.0
			for c := 1; c <= min(g, j); c++ {
				binom = binom * float64(g-c+1) / float64(c)
				if hi[j-c] < lo[j-c] {
					continue
				}
				prev, off := f[j-c], c*r
				row := f[j][off:]
				for s := lo[j-c]; s <= hi[j-c]; s++ {
					row[s] += prev[s] * binom
				}
				lo[j], hi[j] = min(lo[j], lo[j-c]+off), max(hi[j], hi[j-c]+off)
			}
		}
	}
	var hit, all float64
	for s, v := range f[l] {
		all += v
		if (upper && s >= sum) || (!upper && s <= sum) {
			hit += v
		}
	}
	return hit / all
}

// maxExactRanks is the longest baseline (in periods) the step is looked
// for in: the exact rank-sum distribution's table grows as T⁴.
const maxExactRanks = 90

var (
	rankSumMu    sync.Mutex
	rankSumCache = map[int][][]float64{}
)

// rankSumSurvival is P(S ≥ s) for the sum S of l ranks drawn at random
// from 1..T, as surv[l][s] (no ties), computed once per T.
func rankSumSurvival(T int) [][]float64 {
	rankSumMu.Lock()
	defer rankSumMu.Unlock()
	if s, ok := rankSumCache[T]; ok {
		return s
	}
	maxSum := T * (T + 1) / 2
	// f[l][s]: the number of l-subsets of 1..j with sum s, j growing.
	f := make([][]float64, T+1)
	for l := range f {
		f[l] = make([]float64, maxSum+2)
	}
	f[0][0] = 1
	for j := 1; j <= T; j++ {
		for l := j; l >= 1; l-- {
			for s := maxSum - j; s >= 0; s-- {
				f[l][s+j] += f[l-1][s]
			}
		}
	}
	for l := range f {
		var total float64
		for _, v := range f[l] {
			total += v
		}
		acc := 0.0
		for s := maxSum + 1; s >= 0; s-- {
			acc += f[l][s]
			f[l][s] = acc / total
		}
	}
	rankSumCache[T] = f
	return f
}

// zAbove is the z of b's rate against r0 times ref's, on the log scale.
func zAbove(b, ref seqtest.Block, r0 float64) float64 {
	return (math.Log((b.X+0.5)/b.N) - math.Log(r0*(ref.X+0.5)/ref.N)) / math.Sqrt(1/(b.X+0.5)+1/(ref.X+0.5))
}

// temper divides a block's events and trials by phi (its rate stays).
func temper(b seqtest.Block, phi float64) seqtest.Block {
	return seqtest.Block{X: b.X / phi, N: b.N / phi}
}

// The deploy's own period during an incident. Its alias-level counts are
// the known-good's before the deploy (a share f of the period) and the new
// version's after it; the known-good was failing more than usual (the
// incident), so a test that took them all for the new version's would see
// the incident in them — and a deploy that fixes the incident would alert
// on its first minute. compare_errors instead allows the known-good's part
// as extra events under the null: the period's mean is at most
// r0·λ·(1-f)·n + f·n·u, u the known-good's rate since the incident began
// raised to its upper confidence bound at kgUpperDelta·α (its tail block,
// tempered), which the rule's e-value pays for by needing 1/((1-δ)α). The
// offset joins the test's denominator (seqtest.TwoSample.LogEOffset, the
// same as cold starts in compare_latency). An incident made worse by the
// deploy then shows in the deploy's minute, about a period sooner. f is
// the clock's share of the period before the deploy: invocations spread
// evenly in a minute, as the rest of the model assumes.

// kgUpperDelta is the share of compare_errors' α spent on the bound on the
// known-good's rate during an incident.
const kgUpperDelta = 1.0 / 8

// deployShare is the share of period q before the deploy.
func deployShare(w *watchInfo, q *period) float64 {
	if q.end <= q.start {
		return 0
	}
	return min(1, max(0, float64(w.start-q.start)/float64(q.end-q.start)))
}

// deployPeriod is the evidence of the deploy's own period during an
// incident, f of it before the deploy: the new side's trials are its part
// of the period, and the known-good's part is an allowance (see above).
func deployPeriod(rb *ruleBase, q *period, inc *increment, f float64) {
	phi := rb.phi(rb.nullRate * q.nn)
	inc.x, inc.n, inc.off = q.xn/phi, (1-f)*q.nn/phi, f*q.nn*rb.kgUpper/phi
}

// kgDoubtDelta is how sure an absolute count rule's own baseline must be
// that the known-good was below the rule's threshold, during an incident
// another rule shows, for a trip to roll back without the new version
// being significantly worse than it.
const kgDoubtDelta = 0.01

// doubtKnownGood marks the absolute count rules (error_rate, throttles as
// a share) whose known-good may have breached too: another count or probe
// rule shows the known-good failing before the deploy (breaching over its
// baseline, or a step it found), and this rule's own baseline cannot rule
// out a rate at its threshold at kgDoubtDelta. Such a rule then rolls back
// only when the new version is significantly worse than the known-good's
// last minutes (knownGoodBreaches), as a rule whose known-good breached
// does. At a few invocations a minute its baseline is a handful of
// invocations: an incident at 10 % errors read as 1 error in 69, and a
// deploy during it rolled back to a known-good as bad
// (good/low-traffic-incident seed 5 at a 15-minute baseline).
func (b *PreparedBaseline) doubtKnownGood() {
	shown := false // some count or probe rule shows the known-good failing
	for i := range b.rules {
		rb := &b.rules[i]
		shown = shown || (!b.p.rules[i].isLatency() && (rb.kgBad || (rb.shift.on && !rb.shift.other)))
	}
	if !shown {
		return
	}
	for i := range b.p.rules {
		// A rule that shows the failure itself (kgBad, shift.on) is not
		// one to doubt: the one that shows it is another.
		r, rb := &b.p.rules[i], &b.rules[i]
		if r.test != testRate || r.rel != relAbsolute || r.isLatency() || rb.kgBad || rb.shift.on || !rb.hasRate {
			continue
		}
		rb.kgDoubt = seqtest.UpperRate(rb.baseRaw.X, rb.baseRaw.N, kgDoubtDelta) >= rb.nullRate
	}
}
