package quality

import (
	"math"
	"time"
)

// deliveryKind says what the first read of a period returned.
type deliveryKind uint8

const (
	deliverFull     deliveryKind = iota // final values
	deliverPartial                      // some invocations not yet counted; revised at Final
	deliverSrcErr                       // the read failed (source_error); refilled at Final, if ever
	deliverMissing                      // never delivered
	deliverBaseline                     // read once with the baseline, at the deploy
)

// delivery is when a period became visible and how.
type delivery struct {
	Kind  deliveryKind
	First time.Time // first delivery
	Final time.Time // when the final values arrived; zero = never
	Keep  float64   // deliverPartial: share of invocations in the first delivery
}

// plan draws the delivery of every period of a simulation: baseline
// periods are read once at the deploy; later ones after they close plus a
// delay, some partially first (late data), some failing to read once
// (refilled on the next cycle), some never; during an outage every read
// fails and afterwards only the last metricLag periods are re-read.
func plan(s *Sim) []delivery {
	sc, d := s.Sc, s.Sc.Delivery
	r := newRNG(sc.Kind, sc.Seed, "delivery")
	out := make([]delivery, len(s.Periods))
	for i := range s.Periods {
		end := s.Periods[i].Start.Add(period)
		dl := &out[i]
		if i < s.DeployIndex() {
			dl.Kind, dl.First, dl.Final = deliverBaseline, end, end
			if r.bernoulli(d.BaselineMissing) {
				dl.Kind, dl.Final = deliverMissing, time.Time{}
			}
			continue
		}
		at := end.Add(durU(r, d.DelayMin, d.DelayMax)).Truncate(time.Millisecond)
		dl.First, dl.Final = at, at
		u := r.Float64()
		switch {
		case d.Outage != nil && inOutage(sc, d.Outage, at):
			dl.Kind = deliverSrcErr
			dl.Final = refillAfterOutage(r, sc, d.Outage, end)
		case u < d.GapShare:
			dl.Kind = deliverSrcErr
			dl.Final = at.Add(durU(r, 50*time.Second, 70*time.Second)).Truncate(time.Millisecond)
		case u < d.GapShare+d.MissingShare:
			dl.Kind, dl.Final = deliverMissing, time.Time{}
		case u < d.GapShare+d.MissingShare+d.LateShare:
			dl.Kind, dl.Keep = deliverPartial, r.uniform(d.LateKeepMin, 0.95)
			dl.Final = at.Add(durU(r, time.Minute, 3*time.Minute)).Truncate(time.Millisecond)
		}
	}
	return out
}

func inOutage(sc *Scenario, o *Outage, at time.Time) bool {
	t := at.Sub(sc.Deploy)
	return t >= o.Start && t < o.Start+o.Len
}

// refillAfterOutage is when a period that failed to read during the outage
// is read again: the first cycle after the outage re-reads the periods
// ending within the last metricLag periods; older ones are never re-read.
func refillAfterOutage(r *rng, sc *Scenario, o *Outage, end time.Time) time.Time {
	read := sc.Deploy.Add(o.Start + o.Len + durU(r, 0, time.Minute)).Truncate(time.Millisecond)
	if read.Truncate(period).Sub(end) >= metricLag*period {
		return time.Time{}
	}
	return read
}

// thin is the partial first delivery of a late period: a share keep of
// the invocations (their durations in order), the errors those
// invocations had (hypergeometric: a period whose every invocation failed
// is delivered entirely failed, as CloudWatch aggregates whole
// invocations), and each throttle with probability keep.
func thin(r *rng, a Agg, keep float64) Agg {
	out := Agg{Thr: r.binomial(a.Thr, keep)}
	// Selection sampling: exactly need of the durations, in order.
	need := int(math.Round(keep * float64(len(a.Dur))))
	out.Dur = make([]float64, 0, need)
	for i, x := range a.Dur {
		if r.Float64()*float64(len(a.Dur)-i) < float64(need-len(out.Dur)) {
			out.Dur = append(out.Dur, x)
		}
	}
	out.Inv = len(out.Dur)
	if a.Inv > 0 {
		out.Err = r.hypergeometric(a.Inv, min(a.Err, a.Inv), out.Inv)
	}
	return out
}
