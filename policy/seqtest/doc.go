// Package seqtest holds the anytime-valid sequential tests canaryd's
// policy runs: e-processes for counts (events out of trials), for a new
// version against a threshold or against the known-good version, and a
// bounded-increment e-process for the latency fallback. It is pure maths:
// no samples, no rules, no time.
//
// # Why e-processes
//
// A watch looks at its evidence every period for the whole bake and the
// rollback window: hundreds of looks. A test whose level holds at one look
// has no level at all over a watch. An e-process E_t ≥ 0 is a statistic
// with E[E_τ] ≤ 1 under the null at every stopping time τ; when it is
// bounded by a nonnegative supermartingale M_t with E[M_0] ≤ 1, Ville's
// inequality gives
//
//	P(sup_t E_t ≥ 1/α) ≤ α,
//
// so rejecting the first time E_t ≥ 1/α has a false-alarm probability of
// at most α over the watch's whole life, however often it is looked at.
// Likelihood ratios are martingales, products of per-period factors with
// conditional expectation at most 1 are supermartingales, and mixtures
// (weighted averages) of supermartingales are supermartingales: the tests
// below are built from these three facts.
//
// # Counts
//
// Every statistical rule reduces to counts: errors out of invocations,
// invocations slower than X out of invocations (CloudWatch's TC(X:)),
// throttles out of requests, failed probes out of probe results.
//
// One sample against a threshold (Binomial): H0: p ≤ p0. For an
// alternative p1 > p0 the factor (p1/p0)^x ((1-p1)/(1-p0))^(n-x) of a
// period with x events in n trials has expectation 1 at p0 and less below
// it, so the product over periods is a supermartingale under every null
// rate, even one that changes from period to period. The e-value is a
// mixture over a grid of 20 alternatives (log odds ratios 0.05 .. 12,
// weights 1/20) and depends on the data only through Σx and Σn.
//
// Two samples (TwoSample): H0: rate_new ≤ r0 · rate_known-good, r0 = 1 +
// min_effect. Against the pre-deploy baseline (a reference block observed
// once) the known-good rate λ is a nuisance: the numerator integrates it
// out under a proper Gamma(0.5, 10) prior (spread over the rates
// errors have, 0.1%-30%; compare_latency's is centred on 1 - NN/100), the denominator maximises the likelihood over λ and every
// ratio ρ ≤ r0. The mixture is a probability distribution of the whole
// data sequence — the baseline included, which is as random as the rest —
// so m1/L_true is a martingale with mean 1 (E[M_0] = E[m1(baseline) /
// L_true(baseline)] = 1), and the maximised likelihood is at least the
// true one. Counts are treated as Poisson, which is conservative for
// binomial counts (1 + p(t-1) ≤ e^{p(t-1)}) and gives closed forms: the
// e-value depends on (Σx, Σn) of each side. The price of the nuisance is
// the prior's cost, about 3-4 nats (a factor 20-50 of evidence) against a
// test that knew the known-good rate, which shows as a few more periods to
// detect a 2x regression (sim_test.go measures it against an oracle).
// Data from before the reference block may set the prior: the policy
// keeps the baseline's first quarter out of the block and mixes the vague
// prior with its posterior given them (WithInformedPrior), which brings
// the cost down to about a nat when the rate held steady.
// The mixture over the rate ratios r0·e^s is over CompareGrid: four
// fifths of the weight log-normal around s = 0.8, one fifth uniform, so
// a 2x regression pays about 2 nats for not knowing its size instead of
// log 20 = 3.0, and no effect pays more than 1.6 nats beyond it.
//
// While the alias splits traffic, each period also gives the new
// version's share of the period's events, whose law does not involve the
// nuisance: given the period's rate λ_t, the factor
// (r/r0)^x_new ((r0 n + o)/(r n + o))^(x_new + x_kg) has expectation 1 at
// the null boundary for any λ_t (and at most 1 for binomial counts), so
// split periods add evidence at no nuisance cost and are immune to a
// known-good rate that drifts during the day or a burst that hits both
// versions. Both kinds multiply: they concern different periods.
//
// # Overdispersion
//
// Healthy error counts are burstier than binomial. The model is a gamma
// multiplier with shape k on each period's rate: a period expecting μ
// events has variance μ(1 + μ/k). InvK estimates 1/k from the baseline's
// period-to-period variance, raised by one standard error of the variance
// estimate (its kurtosis tells how uncertain it is), and each period is
// tempered: its events and trials (or its log likelihood ratio) divided by
// φ = 1 + μ/k. For binomial data tempering can only lower the e-value
// (Jensen); for overdispersed data it is the quasi-likelihood, valid to
// second order, so its validity is approximate and shown by simulation.
// An estimate from half an hour is noisy, and tempering at one that reads
// low over-trips: the policy's compare_errors tempers against its baseline
// at InvKUpper's 95% bound instead (with the shape history's when the
// baseline does not reject it), which held the shipped levels in the
// policy's simulations where the estimate tripped 7 times as often.
//
// # Latency without counts
//
// Where only a percentile per period is known (older traces, statistics
// with no trimmed counts), Bounded tests the mean of clipped standardised
// log percentiles with Bennett's inequality: valid for any distribution
// with bounded upper tail after clipping, so heavy-tailed latency noise
// cannot fake evidence.
package seqtest
