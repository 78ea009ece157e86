package seqtest

import "math"

// A rate against an absolute threshold whatever the bursts: betting on
// each period's share.
//
// BurstyRate's null is a family of burst shapes, negative binomial at
// one shape k for the whole watch, k bounded below by what the baseline
// rules out. A baseline of a few invocations a minute and no errors rules
// out almost nothing (k down to 0.06), and at such a k a period with 6 of
// 10 invocations failing is likelier under the null than under the
// alternatives that fit the periods failing 10 of 10 before it: the
// e-value of a version failing nearly every request fell by 11x in that
// minute and tripped in its sixth.
//
// Hedge needs no model of the bursts. Let F_t be period t's share of
// failed invocations (for a count per period, its count over the
// threshold's mean). The null is only that its conditional mean given
// the past is at most p0, whatever its distribution: any bursts, any
// correlation between invocations. Then for λ in [0, 1)
//
//	M_t(λ) = Π_{s ≤ t} (1 + λ·(F_s/p0 - 1))
//
// is a nonnegative supermartingale (each factor is positive, as F ≥ 0,
// and of conditional mean at most 1), and so is the average over a fixed
// set of λ: an e-process for the whole null (Waudby-Smith and Ramdas'
// betting martingales; Ville's inequality bounds the false alarm of any
// look). A period failing entirely multiplies it by up to 1 + λ(1/p0 - 1),
// 18 at p0 = 5% and λ = 0.9; a clean one by 1 - λ at worst, which the
// smaller λ in the mix hedge. It is weaker than BurstyRate where the
// baseline shows the bursts (a few failures more than p0 predicts in a
// busy minute are worth little as a share), and stronger at low traffic,
// where a period's share is all there is; a rule averages the two.

// HedgeN is the number of bets (λ) Hedge mixes.
const HedgeN = 4

// hedgeLambdas are the bets, equally weighted.
var hedgeLambdas = [HedgeN]float64{0.25, 0.5, 0.75, 0.9}

// Hedge is the log wealth of each bet, summed over periods.
type Hedge [HedgeN]float64

// Add adds a period whose share (events over trials, or events over the
// null's mean for a count per period) is f, against a null mean share
// p0 > 0.
func (h *Hedge) Add(f, p0 float64) {
	if p0 <= 0 || !(f >= 0) {
		return
	}
	r := f/p0 - 1
	for i, l := range hedgeLambdas {
		h[i] += math.Log1p(l * r)
	}
}

// Merge adds o's periods to h.
func (h *Hedge) Merge(o *Hedge) {
	for i := range h {
		h[i] += o[i]
	}
}

// LogE is the log e-value: the log of the bets' mean wealth.
func (h *Hedge) LogE() float64 {
	m := math.Inf(-1)
	for _, v := range h {
		m = LogAddExp(m, v)
	}
	return m - math.Log(HedgeN)
}
