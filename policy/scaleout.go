package policy

import "math"

// Scale-out cold starts. Lambda keeps a version's execution environments
// while they serve traffic and reclaims them after minutes idle; a rise in
// demand beyond what the warm ones can serve starts new ones, and each
// serves its first invocation cold (lazy clients, empty caches: Duration
// excludes the Init phase, not what the handler does first). A traffic
// spike therefore brings a minute of cold invocations to whichever version
// runs, long after the deploy's warm-up, and a latency rule that counted
// them would roll back a good deploy (quality kind good/scale-out at
// 300-3,000 ms a request: 8 of 300 rolled back without what follows).
//
// A period of n invocations of mean duration W has L = (n/P)·W of them in
// flight on average (Little's law, P the period) and needs about
// L + 3√L + 1 environments at its peak. A period whose invocations rose
// at least scaleOutJump-fold over the most of the scaleOutKeep periods
// before it (the baseline's last ones at first) may have started the
// difference in environments over that most, each with one cold
// invocation that may be slow. W is bounded by the rule's known-good
// percentile (p99 or p99.9, several times the mean), so that count errs
// large. When it is at least a quarter of the period's expected slow
// invocations the period is not judged (its slowness says nothing about
// the version); a smaller one joins the null's allowance beside the
// deploy's cold starts. The choice depends on the invocations and the
// baseline only, never on the slow counts, so the test stays valid. A
// spike costs the rule its first minute; traffic that stays high is
// judged from the next one on (its environments are warm), and a slow
// rise (less than scaleOutJump a minute) gets no allowance: its cold
// starts come as often before the deploy as after, and the baseline's
// slow share holds them.

// scaleOutJump is the rise in a period's invocations over the most of the
// scaleOutKeep periods before it at which its scale-out cold starts are
// allowed for.
const scaleOutJump = 1.5

// scaleOutKeep is how many periods an environment is assumed to stay warm
// without traffic: Lambda keeps idle ones for some minutes (not
// documented, observed at 5 and more); fewer here errs towards allowing
// cold starts that were not there.
const scaleOutKeep = 3

// setScaleOut records the most invocations among the baseline's last
// scaleOutKeep periods (the trials series, sorted by time), the first
// watch periods' reference.
func (rb *ruleBase) setScaleOut(trials []pt) {
	for i, k := len(trials)-1, 0; i >= 0 && k < scaleOutKeep; i-- {
		if q := trials[i]; q.out == outOK {
			rb.scaleTail = max(rb.scaleTail, q.v)
			k++
		}
	}
}

// after is the carry past period q: its invocations join the latest.
func (c carry) after(q *period) carry {
	if q.state != psUsable || q.nn <= 0 {
		return c
	}
	copy(c.recent[:], c.recent[1:])
	c.recent[scaleOutKeep-1] = q.nn
	c.seen = min(c.seen+1, scaleOutKeep)
	return c
}

// scaleOutShare is the share of period q's invocations that may be the
// cold first invocations of environments started for a rise in traffic
// (0 without one, for split periods, and without a known-good
// percentile).
func (rb *ruleBase) scaleOutShare(q *period, c *carry) float64 {
	if q.split || !rb.hasBase || rb.base <= 0 || q.nn <= 0 {
		return 0
	}
	ref := 0.0
	for _, n := range c.recent[scaleOutKeep-c.seen:] {
		ref = max(ref, n)
	}
	if c.seen < scaleOutKeep {
		ref = max(ref, rb.scaleTail)
	}
	per := float64(q.end-q.start) / 1e9
	if ref <= 0 || per <= 0 || q.nn < scaleOutJump*ref {
		return 0
	}
	w := rb.base / 1000 // seconds
	envs := func(n float64) float64 {
		l := n / per * w
		return l + 3*math.Sqrt(l) + 1
	}
	return min(1, max(0, envs(q.nn)-envs(ref))/q.nn)
}
