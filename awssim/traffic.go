package awssim

import (
	"hash/fnv"
	"math"
	"time"
)

// Lambda metric indexes for generators.
const (
	mInvocations = iota
	mErrors
	mThrottles
	mDuration
	nLambdaMetrics
)

var lambdaMetricNames = [nLambdaMetrics]string{"Invocations", "Errors", "Throttles", "Duration"}

// durationSamples is how many Duration values a generated minute carries
// (weighted so SampleCount equals invocations).
const durationSamples = 16

// Concurrency metrics (traffic_concurrency.go), synthesised from every
// generator of a function or of the account together.
const (
	mConcurrent = nLambdaMetrics + iota // ConcurrentExecutions
	mUnreserved                         // UnreservedConcurrentExecutions
)

// trafficGen synthesises per-minute Lambda metrics on demand from a Profile:
// O(1) memory per LambdaTraffic call however long the range.
type trafficGen struct {
	from, to int64 // unix seconds, minute aligned, [from, to)
	p        Profile
	salt     uint64
	fn       *fnTraffic // the function's generators, this one included
	reserved int        // the function's reserved concurrency when written, -1 none
}

// bucketSource synthesises buckets on query: a trafficGen, or the
// aggregates of a function's or the account's generators.
type bucketSource interface {
	span() (from, to int64) // [from, to) holding every minute it may produce
	appendBuckets(bs []cwBucket, metric int, ps, pe int64) []cwBucket
}

type genRef struct {
	gen    bucketSource
	metric int
}

func (g *trafficGen) span() (int64, int64) { return g.from, g.to }

// splitmix is a tiny deterministic PRNG (no allocation per minute).
type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9E3779B97F4A7C15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func (s *splitmix) float() float64 { return float64(s.next()>>11) / (1 << 53) }

func (s *splitmix) norm() float64 {
	u1, u2 := s.float(), s.float()
	if u1 < 1e-300 {
		u1 = 1e-300
	}
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// count draws a non-negative integer around mean (Poisson-like spread).
func (s *splitmix) count(mean float64) float64 {
	if mean <= 0 {
		return 0
	}
	if mean < 30 { // Knuth's Poisson
		l, k, p := math.Exp(-mean), 0.0, 1.0
		for {
			p *= s.float()
			if p <= l {
				return k
			}
			k++
		}
	}
	return math.Max(0, math.Round(mean+math.Sqrt(mean)*s.norm()))
}

// binomial draws successes out of n trials with probability p.
func (s *splitmix) binomial(n, p float64) float64 {
	if n <= 0 || p <= 0 {
		return 0
	}
	if p >= 1 {
		return n
	}
	if n <= 64 {
		k := 0.0
		for range int(n) {
			if s.float() < p {
				k++
			}
		}
		return k
	}
	sd := math.Sqrt(n * p * (1 - p))
	return math.Min(n, math.Max(0, math.Round(n*p+sd*s.norm())))
}

// minute is what the generator produced for the minute starting at m.
type minute struct {
	inv, errs, thr float64
	durs           []float64
	ok             bool
}

// minute is the minute as served: raw traffic less what the function's
// reserved concurrency throttles (see fnTraffic.fraction).
func (g *trafficGen) minute(m int64, withDurations bool) minute {
	if !g.fn.anyReserved {
		return g.raw(m, withDurations)
	}
	limit := g.fn.limitAt(m)
	if limit < 0 {
		return g.raw(m, withDurations)
	}
	mi := g.raw(m, true)
	mi.serve(g.fn.fraction(m, limit))
	return mi
}

// serve keeps the fraction f of the minute's invocations (rounded down);
// the others are throttled. Errors scale with the invocations served;
// Duration keeps its samples (weighted by the invocations served).
func (mi *minute) serve(f float64) {
	if f >= 1 || !mi.ok {
		return
	}
	served := math.Floor(mi.inv * f)
	if mi.inv > 0 {
		mi.errs = math.Round(mi.errs * served / mi.inv)
	}
	mi.thr += mi.inv - served
	mi.inv = served
	if served == 0 {
		mi.durs = nil
	}
}

// meanDuration is the mean of the minute's Duration samples (its Duration
// Average), 0 without samples.
func (mi minute) meanDuration() float64 {
	if len(mi.durs) == 0 {
		return 0
	}
	var sum float64
	for _, d := range mi.durs {
		sum += d
	}
	return sum / float64(len(mi.durs))
}

// raw is the minute as the Profile draws it, before any reserved
// concurrency throttles.
func (g *trafficGen) raw(m int64, withDurations bool) minute {
	if m < g.from || m >= g.to {
		return minute{}
	}
	rng := splitmix(uint64(g.p.Seed)*0x9E3779B97F4A7C15 ^ g.salt ^ uint64(m/60)*0xD6E8FEB86659FD93)
	if g.p.DropRate > 0 && rng.float() < g.p.DropRate {
		return minute{}
	}
	mi := minute{inv: rng.count(g.p.InvocationsPerMin)}
	mi.thr = rng.binomial(mi.inv, g.p.ThrottleRate)
	mi.errs = rng.binomial(mi.inv, g.errorRate(m))
	if mi.inv == 0 && mi.thr == 0 {
		return minute{}
	}
	mi.ok = true
	if withDurations && mi.inv > 0 {
		n := int(math.Min(mi.inv, durationSamples))
		mi.durs = make([]float64, n)
		for i := range mi.durs {
			mi.durs[i] = math.Max(0.1, math.Round((g.p.DurationMs+g.p.DurationJitterMs*rng.norm())*100)/100)
		}
	}
	return mi
}

func (g *trafficGen) errorRate(m int64) float64 {
	if g.p.ErrorRampTo <= 0 || g.to <= g.from {
		return g.p.ErrorRate
	}
	f := float64(m-g.from) / float64(g.to-g.from)
	return g.p.ErrorRate + (g.p.ErrorRampTo-g.p.ErrorRate)*f
}

// appendBuckets appends the buckets of metric for minutes in [ps, pe).
func (g *trafficGen) appendBuckets(bs []cwBucket, metric int, ps, pe int64) []cwBucket {
	for m := firstMinute(ps, g.from); m < pe && m < g.to; m += 60 {
		mi := g.minute(m, metric == mDuration)
		if !mi.ok {
			continue
		}
		if b, ok := mi.bucket(metric, m); ok {
			bs = append(bs, b)
		}
	}
	return bs
}

// firstMinute is the first minute start at or after both ps and from.
func firstMinute(ps, from int64) int64 {
	first := max(ps, from)
	if r := first % 60; r != 0 {
		first += 60 - r
	}
	return first
}

// bucket renders one metric of a minute as Lambda publishes it: counts as
// per-invocation 0/1 values (so Errors Average is the error rate).
func (mi minute) bucket(metric int, t int64) (cwBucket, bool) {
	b := cwBucket{t: t}
	switch metric {
	case mInvocations:
		if mi.inv == 0 {
			return b, false
		}
		b.sum, b.count, b.min, b.max = mi.inv, mi.inv, 1, 1
	case mErrors:
		if mi.inv == 0 {
			return b, false
		}
		b.sum, b.count = mi.errs, mi.inv
		b.min, b.max = b2f(mi.errs == mi.inv), b2f(mi.errs > 0)
	case mThrottles:
		b.sum, b.count = mi.thr, mi.inv+mi.thr
		b.min, b.max = b2f(mi.thr == b.count), b2f(mi.thr > 0)
	case mDuration:
		if len(mi.durs) == 0 {
			return b, false
		}
		w := mi.inv / float64(len(mi.durs))
		b.vals = mi.durs
		b.wts = make([]float64, len(mi.durs))
		b.min, b.max = math.Inf(1), math.Inf(-1)
		for i, d := range mi.durs {
			b.wts[i] = w
			b.sum += d * w
			b.min, b.max = math.Min(b.min, d), math.Max(b.max, d)
		}
		b.count = mi.inv
	}
	return b, true
}

// LambdaTraffic writes per-minute Invocations, Errors, Throttles and
// Duration for fn's alias running version over [from, to), under the
// dimension sets AWS publishes: {FunctionName}, {FunctionName, Resource
// "fn:alias"} and {FunctionName, Resource "fn:alias", ExecutedVersion}.
// Values are deterministic from p.Seed; minutes with no invocations and no
// throttles have no datapoints, as in AWS. Calls for other versions or
// overlapping ranges add up. Memory is O(1) per call: minutes are
// synthesised when queried.
//
// It also writes ConcurrentExecutions under {FunctionName} and with no
// dimensions (the account), and UnreservedConcurrentExecutions with no
// dimensions (functions without reserved concurrency), one value a minute
// to read with Maximum: ceil(1.2 * invocations * mean Duration / 60000),
// summed over the function's calls covering the minute (and over the
// account's functions), at least 1 when anything was served (see
// traffic_concurrency.go). fn's reserved concurrency when LambdaTraffic is
// called (PutFunctionConcurrency, SetReservedConcurrency) caps the
// function: in minutes whose latest covering call was written under a
// reservation R, the function's calls together serve only what keeps its
// ConcurrentExecutions at most R, and the invocations beyond it count as
// Throttles instead of Invocations (Errors scale with what is served).
func (s *Sim) LambdaTraffic(fn, alias, version string, from, to time.Time, p Profile) {
	h := fnv.New64a()
	_, _ = h.Write([]byte(fn + "\x00" + alias + "\x00" + version))
	f := from.Unix()
	if r := f % 60; r != 0 {
		f += 60 - r
	}
	g := &trafficGen{from: f, to: to.Unix(), p: p, salt: h.Sum64(), reserved: s.reservedOf(fn)}
	resource := fn + ":" + alias
	dimSets := []map[string]string{
		{"FunctionName": fn},
		{"FunctionName": fn, "Resource": resource},
		{"FunctionName": fn, "Resource": resource, "ExecutedVersion": version},
	}
	s.cw.mu.Lock()
	defer s.cw.mu.Unlock()
	s.cw.fnTrafficLocked(fn).add(g)
	extendSpan(&s.cw.acct.from, &s.cw.acct.to, g.from, g.to)
	for _, dims := range dimSets {
		for m, name := range lambdaMetricNames {
			sr := s.cw.seriesLocked(metricKey("AWS/Lambda", name, dims))
			sr.gens = append(sr.gens, genRef{gen: g, metric: m})
		}
	}
}
