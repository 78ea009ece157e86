package quality

import (
	"fmt"
	"math"
	"time"
)

// Evidence is the ideal test's calculation for one bad scenario: how much
// evidence (expected log-likelihood ratio of the truth against "like the
// known-good version", in nats) the data delivered by the deadline
// carries, against the log(1/alpha) a valid test needs.
type Evidence struct {
	Expected   float64 // expected LLR of everything delivered by the deadline
	Realised   float64 // the LLR this draw reached by the deadline
	Threshold  float64 // log(1/alpha)
	PerMinute  float64 // expected LLR of one more minute at the deadline, all streams
	Errors     float64 // ... of which errors
	Latency    float64 // ... durations
	Thr        float64 // ... throttles
	Probes     float64 // ... probes
	Periods    int     // periods delivered by the deadline
	Deadline   time.Duration
	ErrPerMin0 float64 // expected errors a minute at the deadline, like known-good ...
	ErrPerMin1 float64 // ... and as the new version truly fails
}

// Beyond reports whether no valid test could be expected to catch the
// scenario in time: the expected evidence by the deadline is below
// log(1/alpha).
func (ev Evidence) Beyond() bool { return ev.Expected < ev.Threshold }

// evidenceDraws is how many simulated periods each expectation averages.
const evidenceDraws = 60

// Evidence computes, by simulating evidenceDraws copies of every period
// under the truth, the expected log-likelihood ratio the data delivered by
// the deadline carries, and what one minute adds at the deadline.
func (id *Ideal) Evidence(c *Case) Evidence {
	sc, s := c.Scenario, c.Sim
	spec, _ := Spec(sc.Kind)
	ev := Evidence{Threshold: math.Log(1 / id.Alpha), Deadline: spec.Deadline}
	_, ev.Realised = id.test(c, spec.Deadline)
	m := newModel(sc)
	h0, alts := hypotheses(sc)
	h1 := alts[0]
	r := newRNG(sc.Kind, sc.Seed, "evidence")
	for i := s.DeployIndex(); i < len(s.Periods); i++ {
		if f := c.Delivery[i].Final; !f.IsZero() && f.Sub(sc.Deploy) <= spec.Deadline {
			e := m.expectedPeriod(r, h0, h1, s.Periods[i].Start)
			ev.Expected += e.sum()
			ev.Periods++
		}
	}
	for _, pr := range s.Probes {
		if t := pr.At.Sub(sc.Deploy); t >= 0 && t <= spec.Deadline {
			ev.Expected += probeKL(m.probeFail(h1, t), m.probeFail(h0, t))
		}
	}
	at := s.Periods[min(s.DeployIndex()+int(spec.Deadline/period), len(s.Periods)-1)].Start
	e := m.expectedPeriod(r, h0, h1, at)
	ev.Errors, ev.Latency, ev.Thr = e.errs, e.lat, e.thr
	t := at.Sub(sc.Deploy)
	ev.Probes = float64(time.Minute/sc.Probe.Interval) * probeKL(m.probeFail(h1, t), m.probeFail(h0, t))
	ev.PerMinute = e.sum() + ev.Probes
	ev.ErrPerMin0 = e.inv * h0.v.errRate(sc, t+period/2)
	ev.ErrPerMin1 = e.inv * h1.v.errRate(sc, t+period/2)
	if h1.v.Hard {
		ev.ErrPerMin1 = e.inv
	}
	return ev
}

// expected is a period's expected log-likelihood ratio per stream and its
// mean invocations.
type expected struct {
	streams
	inv float64
}

// expectedPeriod simulates the period starting at start evidenceDraws
// times with the new version behaving as h1 and averages the
// log-likelihood ratio of h1 against h0.
func (m *model) expectedPeriod(r *rng, h0, h1 hypothesis, start time.Time) expected {
	sc := m.sc
	var e expected
	withLat := !h0.v.Hard && !h1.v.Hard
	for range evidenceDraws {
		p := Period{Start: start}
		mn := minute{sc: sc, r: r, start: start.Sub(sc.Deploy)}
		mn.scale, mn.tail = m.scales[r.IntN(len(m.scales))], m.tail[r.IntN(len(m.tail))]
		uErr, uThr := r.Float64(), r.Float64()
		mn.old = mn.versionMinute(&sc.Old, uErr, uThr)
		mn.new = mn.versionMinute(h1.v, uErr, uThr)
		mn.run(&p)
		o := m.observe(&p)
		l0, l1 := m.periodLL(h0, &o, withLat), m.periodLL(h1, &o, withLat)
		e.errs += l1.errs - l0.errs
		e.lat += l1.lat - l0.lat
		e.thr += l1.thr - l0.thr
		e.inv += float64(o.inv)
	}
	n := float64(evidenceDraws)
	e.errs, e.lat, e.thr, e.inv = e.errs/n, e.lat/n, e.thr/n, e.inv/n
	return e
}

// probeKL is the expected log-likelihood ratio of one probe.
func probeKL(f1, f0 float64) float64 {
	return f1*math.Log(f1/f0) + (1-f1)*math.Log((1-f1)/(1-f0))
}

// String is the calculation in one line.
func (ev Evidence) String() string {
	verdict := "expected evidence enough: this draw fell short"
	if ev.Beyond() {
		verdict = "beyond any valid test at this alpha"
	}
	return fmt.Sprintf("%d periods by the deadline %s carry E[LLR] %.3g (this draw %.3g) vs log(1/alpha) = %.2f: %s; "+
		"a minute at the deadline adds %.3g (errors %.3g, latency %.3g, throttles %.3g, probes %.3g; %.3g -> %.3g errors/min), "+
		"so log(1/alpha) needs %.1f such minutes",
		ev.Periods, fmtDur(ev.Deadline), ev.Expected, ev.Realised, ev.Threshold, verdict,
		ev.PerMinute, ev.Errors, ev.Latency, ev.Thr, ev.Probes, ev.ErrPerMin0, ev.ErrPerMin1, ev.Threshold/ev.PerMinute)
}
