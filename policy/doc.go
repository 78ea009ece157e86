// Package policy decides, from samples, whether a deploy is healthy,
// failing, not yet knowable, or ready to promote. Every decision is a pure
// function of (spec, evidence, now) and carries its explanation as data.
// README.md in this directory explains each rule's statistics for a
// platform engineer, and the maths.
//
// # Using it
//
// Compile a target's rules once (Compile, from a config.Load'ed target).
// For each watch, make a History with Policy.NewHistory, give it the
// watch's prepared baseline (PrepareBaseline, SetBaseline; a part known
// before the rest is read, SetProvisionalBaseline), Add every
// sample.Sample as it is delivered, and call Evaluate on every tick with
// the clock's now and Input{Evidence: h.Evidence(), Samples: h.Samples(),
// Prepared: ...}. Evaluate does no I/O and reads no clock. The watcher
// reads, per watch, the Duration statistics DurationStats names for its
// baseline.
//
// # The tests
//
// Every rule but metric is an anytime-valid sequential test (package
// seqtest): an e-process over the evidence since the deploy, counted in
// invocations — errors, invocations slower than a threshold (CloudWatch's
// TC(X:)), throttles — or in probe results, looked at every period for the
// watch's whole life; the rule trips the first time its e-value reaches
// 1/α, α = 1 - confidence, and the probability that it ever does on a
// healthy deploy is at most α (Ville's inequality). Counts are tempered
// for the overdispersion the baseline shows (compare_errors and
// compare_latency against the baseline at an upper bound on it, a looser
// one for compare_latency without a shape history of its slow counts:
// baseline.go, invKCap); latency periods right after
// the deploy are tested against a cold-start allowance; a regression hours
// into the rollback window is judged by epochs started at fixed times
// (evidence.go); compare_errors also compares its first ten periods with
// the baseline's minutes in turn (a canary's: together with the
// known-good's alongside, and set aside once that has left its baseline
// rate), a test that pays nothing for not knowing the known-good's rate
// (staged.go; the two share α by a union bound). min_invocations (min_samples for probes) is the evidence
// a rule must have judged before it vouches for promotion, never a floor
// on tripping.
//
// Which samples a rule judges: a period for which the new version has its
// own datapoints (the alias splits traffic) is judged per version against
// the known-good's datapoints of the same period; any other period by its
// alias-level datapoints against the pre-deploy baseline (Input.Baseline).
// The period containing the deploy counts too: under the null hypothesis
// both versions are no worse than known-good, and so is their mix. Probes
// reach the alias and are compared with the probe results from before the
// deploy (Input.Baseline) and with the rule's tolerated failure rate.
//
// Metric rules (custom metrics) are not statistical: a window's mean
// against a threshold, with breaches/of_windows and for (window.go).
//
// # Evidence over a whole watch
//
// A History made by Policy.NewHistory folds the periods that can no longer
// change (older than metric_lag periods behind the newest delivered one;
// probe results a period behind the newest) into per-rule, per-epoch
// sufficient statistics (Evidence) and prunes their samples: a watch of a
// day keeps the same memory as one of ten minutes. Folding depends only on
// the samples and their times, so a replay reaches the daemon's verdicts.
//
// # Verdicts
//
// See Evaluate for how findings combine into healthy, failing,
// inconclusive or promote. A failing verdict is AlertOnly when every
// tripped rule is one the known-good version breaches too: concurrently
// (split periods), above an absolute threshold before the deploy or in
// its last minutes, or (any rule) during an incident that began in the
// baseline window — a step up in the known-good's counts, in this rule or
// another (incident.go) — that the new version is not significantly
// worse than.
package policy
