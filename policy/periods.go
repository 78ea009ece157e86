package policy

import (
	"math"

	"github.com/canaryd/canaryd/policy/seqtest"
)

// This file reduces a statistical rule's samples to periods — counts of
// events in trials for the new side and, while the alias splits traffic,
// for the known-good side — and each period to its increment of evidence.
// A History folds increments of final periods; Evaluate adds those of the
// periods still open. Both go through the same two functions, so a folded
// period weighs exactly what it weighed while open.

type periodState uint8

const (
	psUsable periodState = iota
	psNoData             // a complete period without traffic
	psSrcErr             // the watchdog could not read it: never evidence
)

// period is one metric period (or one probe result) of a statistical rule.
type period struct {
	start, end int64
	state      periodState
	split      bool    // per-version samples: judged against the concurrent known-good
	own        bool    // the new side's counts are the new version's own (split, or its own series in the deploy's period)
	xn, nn     float64 // new side (the new version when split, else the alias): events, trials
	xk, nk     float64 // known-good side (split periods)
	counts     bool    // the events were delivered (latency: a TC(X:) datapoint)
	kgCounts   bool
	yn, yk     float64 // log of the latency statistic (NaN: none)
	pool       bool    // throttles: the account's unreserved concurrency exhausted (capacity.go)
	// load is the invocations the load gate and the load allowance read
	// (load.go): nn, or for a period CloudWatch may still add to, at least
	// the nn of the period before it (openLoad).
	load float64
}

// periods lists rule r's metric periods starting in [from, to) from the
// sorted series in c; a period is split when the new version has its own
// trials datapoint for it and the known-good version has a series of its
// own (the alias splits traffic). Without one, the new version's own
// datapoint stands for the alias's: the watcher reads it for the deploy's
// minute, whose alias-level counts are partly the known-good's.
func (p *Policy) periods(c *evalCtx, r *rule, rb *ruleBase, w *watchInfo, from, to int64) []period {
	out := c.recs[:0]
	key := r.trials
	if key < 0 {
		key = rb.events // counts per period: the events series carries the periods
	}
	if key < 0 {
		c.recs = out
		return out
	}
	alias, split := span(c.alias[key], from, to), span(c.newV[key], from, to)
	splits := len(c.kg[key]) > 0
	openFrom := int64(math.MaxInt64)
	if to == math.MaxInt64 {
		// Only the periods judged open (Evaluate's): a period History
		// folds is final, and a period skipped there would never be read.
		openFrom = p.openFrom(c)
	}
	for i, j := 0, 0; i < len(alias) || j < len(split); {
		var q period
		switch {
		case j < len(split) && (i == len(alias) || split[j].t <= alias[i].t):
			both := i < len(alias) && alias[i].t == split[j].t
			switch {
			case splits:
				q = p.readPeriod(c.newV, c.kg, r, rb, split[j], true)
			case both && split[j].out == outNoData && fewNewInvocations(c, r, w, alias[i]):
				// No data for the new version's own counts, in the
				// deploy's period where the alias's counts say it should
				// have had hardly any invocations (CloudWatch keeps no
				// zero datapoints): it had none, and the alias's counts
				// are the known-good's alone. The period carries no
				// evidence about the new version. (Judged as its own, a
				// healthy minute before a low-traffic hard failure cost
				// the mixture over effects its weight on the true one.)
				q = period{start: alias[i].t, end: alias[i].end, state: psNoData, own: true, yn: math.NaN(), yk: math.NaN()}
			case both && split[j].out != outOK:
				// Read without the new version's own counts (not yet
				// delivered when the watcher last read them, or a source
				// error): the alias's.
				q = p.readPeriod(c.alias, nil, r, rb, alias[i], false)
			default:
				q = p.readPeriod(c.newV, nil, r, rb, split[j], false)
				q.own = true
			}
			if both {
				i++ // one datapoint per period is judged
			}
			j++
		default:
			q = p.readPeriod(c.alias, nil, r, rb, alias[i], false)
			i++
		}
		exhausted, pending := rb.poolOf(c, r, &q)
		if pending && q.start >= openFrom {
			continue // read once the pool's use is delivered, or final (capacity.go)
		}
		q.pool = exhausted
		if rb.capacity > 0 && !q.split && q.state == psUsable {
			d := demandOf(c, r, &q)
			if q.start >= openFrom && rb.unsettled(&q, d) {
				continue // read once final (capacity.go)
			}
			q.xn, q.nn = rb.beyondCapacity(q.xn, q.nn, d)
		}
		q.load = q.nn
		if q.start >= openFrom && r.test == testTwoSample {
			q.load = openLoad(c, r, &q) // only the two-sample rules gate on load
		}
		out = append(out, q)
	}
	c.recs = out
	return out
}

// openLoad is the load of period q, which CloudWatch may still add to:
// its invocations, or the alias's in the period just before it when more.
// A late period's first read holds only part of its invocations (a share
// of 0.6-0.95 on the quality benchmark), and read as they are, the minute
// of a traffic ramp or spike that the load gate leaves out once final was
// judged against the baseline at a load it never had, with the errors or
// the slowness of the load it had (quality kind good/ramp-load, seeds
// 30001-30500: 2 of its 3 rollbacks). The period before (folded or not)
// is the load's best witness until the period is final; then its own
// invocations are read. Invocations only, never the events: the choice
// leaves the test valid.
func openLoad(c *evalCtx, r *rule, q *period) float64 {
	if q.split || r.trials < 0 || q.end <= q.start {
		return q.nn
	}
	prev, ok := pointAt(c.alias[r.trials], q.start-(q.end-q.start))
	if !ok || prev.out != outOK {
		return q.nn
	}
	return max(q.nn, prev.v)
}

// fewNewInvocations reports whether the new version could expect fewer
// than 3 invocations in the alias's period k (its invocations times the
// share of the period after the deploy): then a missing datapoint of its
// own counts means none (e^-3 = 5% at 3), not one CloudWatch has yet to
// deliver. It depends on the traffic and the clock only.
func fewNewInvocations(c *evalCtx, r *rule, w *watchInfo, k pt) bool {
	if r.trials < 0 || k.end <= k.t || w.start <= k.t {
		return false
	}
	tr, ok := pointAt(c.alias[r.trials], k.t)
	if !ok || tr.out != outOK {
		return false
	}
	after := float64(max(0, k.end-w.start)) / float64(k.end-k.t)
	return tr.v*after < 3
}

// readPeriod reads one period whose key datapoint is k from side (and the
// known-good side kg of a split period).
func (p *Policy) readPeriod(side, kg [][]pt, r *rule, rb *ruleBase, k pt, split bool) period {
	q := period{start: k.t, end: k.end, split: split, own: split, yn: math.NaN(), yk: math.NaN()}
	q.state, q.xn, q.nn, q.counts = readCounts(side, r, rb.events, k.t)
	if r.value >= 0 {
		q.yn = logValue(side[r.value], k.t)
	}
	if split {
		var st periodState
		st, q.xk, q.nk, q.kgCounts = readCounts(kg, r, rb.eventsKg, k.t)
		if st != psUsable {
			q.nk, q.xk, q.kgCounts = 0, 0, false
		}
		if r.value >= 0 {
			q.yk = logValue(kg[r.value], k.t)
		}
	}
	return q
}

// readCounts reads the events and trials of one side at period start t.
func readCounts(side [][]pt, r *rule, events int, t int64) (st periodState, x, n float64, counts bool) {
	if r.test == testPerPeriod {
		e, ok := pointAt(side[events], t)
		switch {
		case !ok || e.out == outNoData:
			return psNoData, 0, 0, false
		case e.out == outSrcErr:
			return psSrcErr, 0, 0, false
		}
		return psUsable, e.v, 1, true
	}
	tr, ok := pointAt(side[r.trials], t)
	switch {
	case !ok || tr.out == outNoData:
		return psNoData, 0, 0, false
	case tr.out == outSrcErr:
		return psSrcErr, 0, 0, false
	}
	n = tr.v
	if r.extraTrials >= 0 {
		if e, ok := pointAt(side[r.extraTrials], t); ok && e.out == outOK {
			n += e.v
		}
	}
	if events >= 0 {
		if e, ok := pointAt(side[events], t); ok {
			if e.out == outSrcErr {
				return psSrcErr, 0, 0, false
			}
			counts = true
			if e.out == outOK {
				x = e.v
			}
		}
	}
	if n <= 0 {
		return psNoData, 0, 0, false
	}
	return psUsable, min(max(x, 0), n), n, counts
}

func logValue(s []pt, t int64) float64 {
	if v, ok := pointAt(s, t); ok && v.out == outOK && v.v > 0 {
		return math.Log(v.v)
	}
	return math.NaN()
}

// probePeriods lists probe results in [from, to) as one-trial periods.
func probePeriods(c *evalCtx, r *rule, from, to int64) []period {
	out := c.recs[:0]
	for _, x := range span(c.probes[r.probeID], from, to) {
		q := period{start: x.t, end: x.t, nn: 1, yn: math.NaN(), yk: math.NaN(), counts: true}
		switch x.out {
		case outFail:
			q.xn = 1
		case outNoData:
			q.state, q.nn = psNoData, 0
		case outSrcErr:
			q.state, q.nn = psSrcErr, 0
		}
		out = append(out, q)
	}
	c.recs = out
	return out
}

// increment is one period's evidence for a rule.
type increment struct {
	start, end int64
	x, n       float64            // tempered counts of the new side (one sample, or against the baseline)
	off        float64            // compare_latency: the tempered cold-start allowance of x (expected events)
	cold       seqtest.ColdPeriod // compare_latency with a warmup: the period for the joint cold-start test (N 0: none)
	z, m       float64            // latency fallback: clipped standardised values and their number
	split      []float64          // log likelihood ratio per alternative of a split period (nil: none)
	stage      []float64          // compare_errors: log likelihood ratio per alternative against the baseline's minutes in turn (staged.go; nil: none)
	drift      float64            // with stage, a split period: the known-good alongside against the paired minutes (stagedDrift)
	vec        []float64          // latency: per alternative of HardFailureGrid, against the period's own boundary; bursty rate tests: the alternatives' (nil: none)
	den        []float64          // bursty rate tests: the null's per cell of burst shapes (nil: none)
	hedge      seqtest.Hedge      // error_rate: the period's failed share bet against the threshold (zero: none)
	rawX, rawN float64            // untempered new-side counts, for findings
	rawKX      float64            // untempered known-good counts of split periods
	rawKN      float64
	logY, wY   float64 // Σ trials·log(statistic), Σ trials: the latency the findings show
	rise       bool    // latency: not judged, a rise in traffic whose cold starts could explain it (scaleout.go)
	busy       bool    // compare_errors, compare_latency: not judged against the baseline, its traffic far above the baseline's (load.go)
	pool       bool    // throttles: not judged, the account's unreserved concurrency exhausted (capacity.go)
}

// increment turns a usable period into rule r's evidence (cr: what the
// periods before it pass on to the latency rules, addPeriod); ok is false
// when the period carries none (no traffic, source error, cold starts, a
// rise in traffic, nothing to compare with). split and vec are buffers
// (one entry per alternative) for a split period's log likelihood ratios
// and for a latency period's against its own boundary.
func (p *Policy) increment(r *rule, rb *ruleBase, w *watchInfo, q *period, split, vec []float64, cr carry) (inc increment, ok bool) {
	if q.state != psUsable || !rb.judge {
		return inc, false
	}
	if q.pool {
		inc.pool = true
		return inc, false
	}
	before := 0.0 // the share of the period before the deploy, during an incident
	if rb.shift.on && !q.own && w.start-q.start > (q.end-q.start)/10 {
		// During an incident the period containing the deploy is partly
		// the known-good's incident: no evidence about the new version
		// unless the deploy came in its first tenth, or the rule can
		// allow for the known-good's part (deployPeriod). Choices made
		// from the baseline and the clock alone, so the tests stay valid.
		if before = deployShare(w, q); rb.kgUpper <= 0 || !q.counts { // kgUpper: compare_errors with a baseline only
			return inc, false
		}
	}
	inc.start, inc.end = q.start, q.end
	inc.rawX, inc.rawN = q.xn, q.nn
	if q.split && q.kgCounts {
		inc.rawKX, inc.rawKN = q.xk, q.nk
	}
	if !math.IsNaN(q.yn) {
		inc.logY, inc.wY = q.nn*q.yn, q.nn
	}
	switch {
	case r.isLatency():
		p.latencyIncrement(r, rb, w, q, &inc, split, vec, cr)
	case r.test == testRate || r.test == testProbe:
		phi := seqtest.Phi(rb.nullRate*q.nn, rb.invK)
		if r.test == testProbe {
			phi = rb.probePhi(rb.nullRate)
		}
		inc.x, inc.n = q.xn/phi, q.nn/phi
		if rb.bursty != nil {
			// split is free: one-sample rules have no split periods.
			rb.burstyIncrement(&inc, vec, split, q.xn, q.nn, 0, 1)
		}
		if rb.hedge > 0 && q.nn > 0 {
			inc.hedge.Add(min(q.xn/q.nn, 1), rb.hedge)
		}
	case r.test == testPerPeriod:
		phi := seqtest.Phi(rb.mu0, rb.invK)
		inc.x, inc.n = q.xn/phi, 1/phi
		if rb.bursty != nil {
			rb.burstyIncrement(&inc, vec, split, q.xn, 1, 0, 1)
		}
	case before > 0:
		deployPeriod(rb, q, &inc, before)
	case r.test == testTwoSample:
		p.twoSampleIncrement(rb, w, q, &inc, split, vec)
	}
	return inc, inc.n > 0 || inc.m > 0 || inc.split != nil || inc.vec != nil || inc.cold.N > 0 || inc.stage != nil
}

// burstyIncrement is a period's evidence for the test against a null
// composite over bursts: x events in n trials (1 for a count per
// period), a cold share a of them allowed (latency) or else the null's
// boundary g times the test's (the known-good's rise with its load:
// seqtest.BurstyRate.AddPeriodAt), in the buffers vec (the alternatives)
// and den (the null's cells).
func (rb *ruleBase) burstyIncrement(inc *increment, vec, den []float64, x, n, a, g float64) {
	clear(vec)
	clear(den)
	if a > 0 {
		rb.bursty.AddPeriodCold(vec, den, x, n, a)
	} else {
		rb.bursty.AddPeriodAt(vec, den, x, n, g)
	}
	inc.vec, inc.den = vec, den
}

// twoSampleIncrement is a two-sample rule's evidence: the new version's
// share of a split period's events, or the new side's counts against the
// baseline (against every burst shape the baseline leaves open when it
// leaves small ones open: seqtest.NewBurstyRelative), or (latency
// without counts) the fallback.
func (p *Policy) twoSampleIncrement(rb *ruleBase, w *watchInfo, q *period, inc *increment, split, vec []float64) {
	switch {
	case q.split && q.counts && q.kgCounts && rb.events >= 0:
		clear(split)
		rb.two.AddSplitPeriod(split, q.xn, q.nn, q.xk, q.nk, rb.rate, rb.invK)
		inc.split = split
		// Against the baseline's minutes too (staged.go), at the alias's
		// load: both versions' invocations (q.load is the new version's).
		if load := q.nn + q.nk; rb.stage != nil && !rb.busyLoad(load) {
			// vec is free: rb.stage excludes latency and rb.bursty.
			g := rb.load.at(load)
			inc.stage, inc.drift = rb.stagedIncrement(vec, w.start, q, q.nn*g, q.xk, q.nk*g)
		}
	case q.split:
		if z, ok := rb.fb.zSplitOf(q.yn, q.nn, q.yk, q.nk); ok {
			inc.z, inc.m = z, 1
		}
	case rb.busy(q):
		inc.busy = true // errors that rise with traffic (load.go)
	case rb.hasRef && q.counts && rb.events >= 0:
		// The known-good's rise with load, as far as the baseline and
		// its history show it, scales the period's exposure (load.go).
		g := rb.load.at(q.load)
		phi := rb.phi(rb.nullRate * q.nn * g)
		inc.x, inc.n = q.xn/phi, q.nn*g/phi
		if rb.bursty != nil {
			// split is free: the period is not split. The load scales
			// the null's rate, not the trials: x of n·g would read a
			// period entirely failed as one with successes.
			rb.burstyIncrement(inc, vec, split, q.xn, q.nn, 0, g)
		}
		if rb.stage != nil {
			// split is free here too (rb.stage excludes rb.bursty).
			inc.stage, _ = rb.stagedIncrement(split, w.start, q, q.nn*g, 0, 0)
		}
	default:
		if z, ok := rb.fb.zOf(q.yn, q.nn); ok {
			inc.z, inc.m = z, 1
		}
	}
}
