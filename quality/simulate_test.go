package quality

import (
	"math"
	"slices"
	"testing"
	"time"
)

func sims(t *testing.T, k Kind, n int) []*Sim {
	t.Helper()
	var out []*Sim
	for seed := uint64(1); seed <= uint64(n); seed++ {
		sc, err := NewScenario(k, seed)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Simulate(sc))
	}
	return out
}

// after sums the new and old versions' aggregates over the periods starting
// from minute `from` after the deploy's minute.
func after(s *Sim, from int) (old, nw Agg) {
	for _, p := range s.Periods[s.DeployIndex()+from:] {
		old.Inv, old.Err, old.Thr = old.Inv+p.Old.Inv, old.Err+p.Old.Err, old.Thr+p.Old.Thr
		nw.Inv, nw.Err, nw.Thr = nw.Inv+p.New.Inv, nw.Err+p.New.Err, nw.Thr+p.New.Thr
		old.Dur = append(old.Dur, p.Old.Dur...)
		nw.Dur = append(nw.Dur, p.New.Dur...)
	}
	slices.Sort(old.Dur)
	slices.Sort(nw.Dur)
	return old, nw
}

func baselineAgg(s *Sim) Agg {
	var a Agg
	for _, p := range s.Periods[:s.DeployIndex()] {
		al := p.Alias()
		a.Inv, a.Err, a.Thr = a.Inv+al.Inv, a.Err+al.Err, a.Thr+al.Thr
		a.Dur = append(a.Dur, al.Dur...)
	}
	slices.Sort(a.Dur)
	return a
}

func errShare(a Agg) float64 { return float64(a.Err) / float64(a.Inv) }

func p99(xs []float64) float64 { return slices.Sorted(slices.Values(xs))[rank(99, len(xs))-1] }

// dispersion is the alias error counts' variance over the binomial
// expectation, periods weighted by their invocations.
func dispersion(s *Sim) float64 {
	var k, n float64
	for _, p := range s.Periods {
		a := p.Alias()
		k, n = k+float64(a.Err), n+float64(a.Inv)
	}
	rate := k / n
	var num, den float64
	for _, p := range s.Periods {
		a := p.Alias()
		e := float64(a.Inv) * rate
		num += (float64(a.Err) - e) * (float64(a.Err) - e)
		den += e * (1 - rate)
	}
	return num / den
}

func probeFailShare(s *Sim, from time.Time) float64 {
	var n, f float64
	for _, pr := range s.Probes {
		if !pr.At.Before(from) {
			n++
			if !pr.OK {
				f++
			}
		}
	}
	return f / n
}

// olsSlope is the least-squares slope of y on x.
func olsSlope(x, y []float64) float64 {
	var mx, my float64
	for i := range x {
		mx, my = mx+x[i], my+y[i]
	}
	mx, my = mx/float64(len(x)), my/float64(len(x))
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	return sxy / sxx
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[(len(xs)-1)/2]
}

// Each kind has the property it claims.
func TestKindProperties(t *testing.T) {
	t.Parallel()
	within := func(t *testing.T, what string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi || math.IsNaN(got) {
			t.Errorf("%s = %.4g, want within [%g, %g]", what, got, lo, hi)
		}
	}
	tests := []struct {
		kind  Kind
		check func(t *testing.T, ss []*Sim)
	}{
		{GoodBursty, func(t *testing.T, ss []*Sim) {
			var d []float64
			for _, s := range ss {
				d = append(d, dispersion(s))
			}
			within(t, "median error-count variance / binomial", median(d), 3, math.Inf(1))
		}},
		{GoodSteady, func(t *testing.T, ss []*Sim) {
			var d []float64
			for _, s := range ss {
				d = append(d, dispersion(s))
			}
			within(t, "median error-count variance / binomial", median(d), 0.8, 3)
		}},
		{GoodColdStart, func(t *testing.T, ss []*Sim) {
			raised := 0
			for _, s := range ss {
				first := s.Periods[s.DeployIndex()+1].New.Dur
				_, late := after(s, 10)
				if p99(first) > 1.5*p99(late.Dur) {
					raised++
				}
			}
			within(t, "share of seeds whose first full minute has a p99 1.5x the later ones", float64(raised)/float64(len(ss)), 0.8, 1)
		}},
		{GoodCanary, func(t *testing.T, ss []*Sim) {
			var o, n float64
			for _, s := range ss {
				old, nw := after(s, 1)
				o, n = o+float64(old.Inv), n+float64(nw.Inv)
			}
			within(t, "new version's share of invocations", n/(o+n), 0.095, 0.105)
		}},
		{GoodLow, func(t *testing.T, ss []*Sim) {
			for _, s := range ss {
				a := baselineAgg(s)
				within(t, "invocations a minute", float64(a.Inv)/baselineN, 1, 13)
			}
		}},
		{GoodTrickle, func(t *testing.T, ss []*Sim) {
			var cold, inv float64
			for _, s := range ss {
				_, nw := after(s, 0)
				within(t, "invocations in the half hour after the deploy", float64(nw.Inv), 0, 15)
				for _, p := range s.Periods {
					for _, a := range []Agg{p.Old, p.New} {
						cold, inv = cold+a.ScaleCold*float64(a.Inv), inv+float64(a.Inv)
					}
				}
			}
			// Idle for minutes between requests, the environments are
			// reclaimed: many requests start one.
			within(t, "share of a trickle's invocations that find no warm environment", cold/inv, 0.2, 0.8)
		}},
		{GoodSpikes, func(t *testing.T, ss []*Sim) {
			for _, s := range ss {
				var inv []float64
				for _, p := range s.Periods {
					inv = append(inv, float64(p.Old.Inv+p.New.Inv))
				}
				within(t, "busiest minute over the median minute", slices.Max(inv)/median(inv), 2.5, math.Inf(1))
			}
		}},
		{GoodScaleOut, func(t *testing.T, ss []*Sim) {
			// Cold first invocations come with rises in traffic, to
			// whichever version serves, and make those minutes slower.
			oldCold, newCold := 0, 0
			var allMass, riseMass float64 // expected cold invocations, and those in minutes whose traffic rose 1.5x
			// Slow invocations in the minutes with scale-out cold starts
			// (and none of the deploy's): seen, and expected from the
			// minute's latency noise with and without them.
			var seen, withCold, warm float64
			for _, s := range ss {
				sc := s.Sc
				thr := sc.Old.Latency.steady().quantile(0.99)
				for i, p := range s.Periods {
					at := p.Start.Sub(sc.Deploy)
					for _, a := range []struct {
						agg Agg
						v   *Version
					}{{p.Old, &sc.Old}, {p.New, &sc.New}} {
						if a.agg.ScaleCold <= 0.002 || a.v.Cold.share(at) > 0 {
							continue
						}
						for _, d := range a.agg.Dur {
							if d > thr {
								seen++
							}
						}
						scale, n := p.Scale*sc.latScale(at+period/2), float64(len(a.agg.Dur))
						withCold += n * a.v.Latency.mix(scale, p.Tail, a.agg.ScaleCold, a.v.Cold).sf(thr)
						warm += n * a.v.Latency.mix(scale, p.Tail, 0, a.v.Cold).sf(thr)
					}
					mass := p.Old.ScaleCold*float64(p.Old.Inv) + p.New.ScaleCold*float64(p.New.Inv)
					allMass += mass
					if prev := s.Periods[max(0, i-1)]; float64(p.Old.Inv+p.New.Inv) >= 1.5*float64(prev.Old.Inv+prev.New.Inv) {
						riseMass += mass
					}
					if p.Old.ScaleCold > 0 {
						oldCold++
					}
					if p.New.ScaleCold > 0 {
						newCold++
					}
				}
			}
			if allMass == 0 || warm == 0 {
				t.Fatal("no scale-out cold starts")
			}
			within(t, "share of the cold invocations in minutes whose traffic rose 1.5x", riseMass/allMass, 0.8, 1)
			within(t, "slow invocations in minutes of scale-out cold starts over those expected without them", seen/warm, 1.15, math.Inf(1))
			within(t, "slow invocations in those minutes over those expected with them", seen/withCold, 0.9, 1.1)
			if oldCold == 0 || newCold == 0 {
				t.Errorf("scale-out cold starts: %d minutes of the known-good's, %d of the new version's; want some of both", oldCold, newCold)
			}
		}},
		{GoodLoadErrors, func(t *testing.T, ss []*Sim) {
			// Errors rise with traffic in whichever version serves, to at
			// most 3 % in the largest spike.
			var busyErr, busyInv, restErr, restInv float64
			oldBusy, newBusy := false, false
			for _, s := range ss {
				var inv []float64
				for _, p := range s.Periods {
					inv = append(inv, float64(p.Old.Inv+p.New.Inv))
				}
				med := median(inv)
				for _, p := range s.Periods {
					e, n := float64(p.Old.Err+p.New.Err), float64(p.Old.Inv+p.New.Inv)
					if n >= 2*med {
						busyErr, busyInv = busyErr+e, busyInv+n
						oldBusy, newBusy = oldBusy || p.Old.Inv > 0, newBusy || p.New.Inv > 0
					} else {
						restErr, restInv = restErr+e, restInv+n
					}
					if mid := p.Start.Sub(s.Sc.Deploy) + period/2; s.Sc.Old.errRate(s.Sc, mid) > 0.031 {
						t.Errorf("seed %d: error rate %.4g at %s", s.Sc.Seed, s.Sc.Old.errRate(s.Sc, mid), mid)
					}
				}
			}
			within(t, "error rate in minutes of twice the median traffic over the others'", (busyErr/busyInv)/(restErr/restInv), 1.3, math.Inf(1))
			if !oldBusy || !newBusy {
				t.Errorf("busy minutes served by the known-good %v, by the new version %v; want both", oldBusy, newBusy)
			}
		}},
		{GoodLoadLatency, func(t *testing.T, ss []*Sim) {
			within(t, "median over seeds of the log median duration's slope on the log load, less LatLoad", loadLatencyOff(ss), -0.03, 0.03)
		}},
		{GoodRamp, func(t *testing.T, ss []*Sim) {
			// The traffic's log rate falls or rises at the ramp's slope
			// while the ramp lasts, and is flat before it.
			var off, flat []float64
			up := 0
			for _, s := range ss {
				rp := s.Sc.Traffic.Ramp
				if rp.PerHour > 0 {
					up++
				}
				var x, y, fx, fy []float64
				for _, p := range s.Periods {
					at := p.Start.Sub(s.Sc.Deploy)
					n := math.Log(float64(p.Old.Inv + p.New.Inv))
					switch {
					case at >= rp.Start && at+period <= rp.End:
						x, y = append(x, at.Hours()), append(y, n)
					case at+period <= rp.Start:
						fx, fy = append(fx, at.Hours()), append(fy, n)
					}
				}
				off = append(off, olsSlope(x, y)-rp.PerHour)
				if len(fx) >= 15 {
					flat = append(flat, olsSlope(fx, fy))
				}
			}
			within(t, "median over seeds of the log rate's slope an hour during the ramp, less the ramp's", median(off), -0.1, 0.1)
			within(t, "median over seeds of the log rate's slope an hour before the ramp", median(flat), -0.15, 0.15)
			if up == 0 || up == len(ss) {
				t.Errorf("%d of %d ramps rise; want rising and falling ones", up, len(ss))
			}
		}},
		{GoodRampLoad, func(t *testing.T, ss []*Sim) {
			// good/load-latency's relation, over a ramp's rise instead of
			// spikes; and the errors rise with it.
			within(t, "median over seeds of the log median duration's slope on the log load, less LatLoad", loadLatencyOff(ss), -0.03, 0.03)
			var early, late Agg
			for _, s := range ss {
				for i, p := range s.Periods {
					a := p.Alias()
					if at := p.Start.Sub(s.Sc.Deploy); at+period <= s.Sc.Traffic.Ramp.Start || i < 10 {
						early.Inv, early.Err = early.Inv+a.Inv, early.Err+a.Err
					} else if at >= s.Sc.Traffic.Ramp.Start+30*time.Minute {
						late.Inv, late.Err = late.Inv+a.Inv, late.Err+a.Err
					}
				}
			}
			within(t, "error share from 30 min into the ramp over that before it or in the first 10 minutes", errShare(late)/errShare(early), 1.2, math.Inf(1))
		}},
		{GoodFlaky, func(t *testing.T, ss []*Sim) {
			var f []float64
			for _, s := range ss {
				f = append(f, probeFailShare(s, s.First))
			}
			within(t, "median probe failure share", median(f), 0.015, 0.09)
		}},
		{GoodIncident, func(t *testing.T, ss []*Sim) {
			for _, s := range ss {
				old, nw := after(s, 1)
				_ = old
				within(t, "new version's errors over the incident's rate", errShare(nw)/s.Sc.Old.IncErrRate, 0.7, 1.3)
				within(t, "probe failures before the deploy", probeFailShare(s, s.Sc.Deploy.Add(s.Sc.Incident.Start)), 0.2, 1)
			}
		}},
		{BadErrors2x, func(t *testing.T, ss []*Sim) {
			var ratios []float64
			for _, s := range ss {
				_, nw := after(s, 1)
				ratios = append(ratios, errShare(nw)/errShare(baselineAgg(s)))
			}
			within(t, "median error share after over before", median(ratios), 1.6, 2.4)
		}},
		{BadP99x2, func(t *testing.T, ss []*Sim) {
			var ratios []float64
			for _, s := range ss {
				_, nw := after(s, 5)
				ratios = append(ratios, p99(nw.Dur)/p99(baselineAgg(s).Dur))
			}
			within(t, "median p99 after over before", median(ratios), 1.7, 2.3)
		}},
		{BadHardFailure, func(t *testing.T, ss []*Sim) {
			for _, s := range ss {
				_, nw := after(s, 1)
				within(t, "new version's error share", errShare(nw), 1, 1)
				within(t, "probe failures after the deploy", probeFailShare(s, s.Sc.Deploy), 1, 1)
			}
		}},
		{BadHealthOnly, func(t *testing.T, ss []*Sim) {
			for _, s := range ss {
				_, nw := after(s, 1)
				within(t, "error share after over before", errShare(nw)/errShare(baselineAgg(s)), 0.5, 2)
				within(t, "probe failures after the deploy", probeFailShare(s, s.Sc.Deploy), 0.35, 1)
			}
		}},
		{BadThrottling, func(t *testing.T, ss []*Sim) {
			for _, s := range ss {
				_, nw := after(s, 1)
				within(t, "throttled share of requests", float64(nw.Thr)/float64(nw.Thr+nw.Inv), 0.03, 0.35)
			}
		}},
		{BadErrorRamp, func(t *testing.T, ss []*Sim) {
			early, late := Agg{}, Agg{}
			for _, s := range ss {
				for i, p := range s.Periods[s.DeployIndex()+1:] {
					a := &late
					if i < 5 {
						a = &early
					}
					a.Inv, a.Err = a.Inv+p.New.Inv, a.Err+p.New.Err
				}
			}
			within(t, "error share from minute 6 over minutes 1-5 (all seeds)", errShare(late)/errShare(early), 2, math.Inf(1))
		}},
		{BadIncidentWorse, func(t *testing.T, ss []*Sim) {
			for _, s := range ss {
				_, nw := after(s, 1)
				within(t, "new error share over the incident's", errShare(nw)/s.Sc.Old.IncErrRate, 2.5, math.Inf(1))
			}
		}},
		{BadCanary, func(t *testing.T, ss []*Sim) {
			for _, s := range ss {
				old, nw := after(s, 1)
				within(t, "new over old error share", errShare(nw)/errShare(old), 2, 15)
			}
		}},
		{BadDuringRamp, func(t *testing.T, ss []*Sim) {
			// Each seed's regression is one of the three, and shows in
			// the new version's first 10 minutes against the baseline;
			// every ramp rises.
			modes := map[string]int{}
			for _, s := range ss {
				if s.Sc.Traffic.Ramp.PerHour <= 0 {
					t.Errorf("seed %d: a ramp of %.3g an hour; want a rise", s.Sc.Seed, s.Sc.Traffic.Ramp.PerHour)
				}
				base := baselineAgg(s)
				var nw Agg
				for _, p := range s.Periods[s.DeployIndex()+1 : s.DeployIndex()+11] {
					nw.Inv, nw.Err, nw.Thr = nw.Inv+p.New.Inv, nw.Err+p.New.Err, nw.Thr+p.New.Thr
					nw.Dur = append(nw.Dur, p.New.Dur...)
				}
				switch {
				case s.Sc.New.ErrRate > s.Sc.Old.ErrRate:
					modes["errors"]++
					within(t, "new version's error share over the baseline's", errShare(nw)/errShare(base), 2, 4.5)
				case s.Sc.New.ThrRate > 0.01:
					modes["throttles"]++
					within(t, "new version's throttled share", float64(nw.Thr)/float64(nw.Inv+nw.Thr), 0.04, 0.35)
				default:
					modes["p99"]++
					within(t, "new version's p99 over the baseline's", p99(nw.Dur)/p99(base.Dur), 1.5, 3)
				}
			}
			if len(modes) != 3 {
				t.Errorf("regressions drawn: %v; want all three", modes)
			}
		}},
	}
	for _, tc := range tests {
		n := 5
		if tc.kind == GoodRamp || tc.kind == BadDuringRamp {
			n = 20 // a slope's estimate, and three regressions to draw
		}
		t.Run(string(tc.kind), func(t *testing.T) { tc.check(t, sims(t, tc.kind, n)) })
	}
}

// loadLatencyOff is the median over the seeds of (the slope of a minute's
// log median duration, its latency noise taken out, on the log of its
// load) less LatLoad: 0 when every version's durations follow the
// traffic's level to the power LatLoad.
func loadLatencyOff(ss []*Sim) float64 {
	var off []float64
	for _, s := range ss {
		var x, y []float64
		for _, p := range s.Periods {
			if d := p.Alias().Dur; len(d) >= 50 {
				x = append(x, math.Log(s.Sc.load(p.Start.Sub(s.Sc.Deploy)+period/2)))
				y = append(y, math.Log(median(d)/p.Scale))
			}
		}
		off = append(off, olsSlope(x, y)-s.Sc.LatLoad)
	}
	return median(off)
}

// Parameters vary with the seed.
func TestScenariosVary(t *testing.T) {
	seen := map[float64]bool{}
	offsets := map[time.Duration]bool{}
	for seed := uint64(1); seed <= 20; seed++ {
		sc, _ := NewScenario(BadErrors2x, seed)
		seen[sc.Traffic.PerMinute] = true
		offsets[sc.Deploy.Sub(epoch)] = true
		if sc.Deploy.Sub(epoch) < 0 || sc.Deploy.Sub(epoch) >= time.Minute {
			t.Errorf("seed %d: deploy %s outside the minute", seed, sc.Deploy)
		}
	}
	if len(seen) != 20 || len(offsets) != 20 {
		t.Errorf("20 seeds gave %d traffic levels and %d deploy instants", len(seen), len(offsets))
	}
	if _, err := NewScenario("good/nope", 1); err == nil {
		t.Error("unknown kind accepted")
	}
}
