package quality

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/policy"
)

// drawPeriods simulates n steady periods (20 minutes after the deploy)
// with the new version behaving as v.
func drawPeriods(sc *Scenario, v *Version, n int) []Period {
	r := newRNG(sc.Kind, sc.Seed, "test")
	scales, tails := sc.Old.Latency.scaleNodes(), sc.Old.Latency.tailNodes()
	out := make([]Period, n)
	for i := range out {
		p := &out[i]
		p.Start = sc.Deploy.Add(20 * time.Minute)
		m := minute{sc: sc, r: r, start: 20 * time.Minute}
		m.scale, m.tail = scales[r.IntN(len(scales))], tails[r.IntN(len(tails))]
		uErr, uThr := r.Float64(), r.Float64()
		m.old, m.new = m.versionMinute(&sc.Old, uErr, uThr), m.versionMinute(v, uErr, uThr)
		m.run(p)
	}
	return out
}

// The model the ideal test uses is the simulator's: binned durations
// occur as often as it predicts.
func TestLikelihoodMatchesSimulation(t *testing.T) {
	t.Parallel()
	for _, k := range []Kind{GoodHeavyTail, BadP99x2} {
		t.Run(string(k), func(t *testing.T) {
			sc, _ := NewScenario(k, 4)
			sc.Traffic.PerMinute = 300
			m := newModel(sc)
			predicted := make([]float64, len(m.thresholds)+1)
			nodes := float64(len(m.scales) * len(m.tail))
			for _, s := range m.scales {
				for _, h := range m.tail {
					mix, prev := sc.New.Latency.mix(s, h, 0, sc.New.Cold), 0.0
					for j, x := range m.thresholds {
						cdf := 1 - mix.sf(x)
						predicted[j] += (cdf - prev) / nodes
						prev = cdf
					}
					predicted[len(m.thresholds)] += (1 - prev) / nodes
				}
			}
			seen := make([]float64, len(predicted))
			total := 0.0
			for _, p := range drawPeriods(sc, &sc.New, 1000) {
				o := m.observe(&p)
				for j, c := range o.bins {
					seen[j] += float64(c)
				}
				total += float64(o.inv)
			}
			for j := range seen {
				got := seen[j] / total
				if sd := math.Sqrt(predicted[j] / total); math.Abs(got-predicted[j]) > 0.05*predicted[j]+5*sd {
					t.Errorf("bin %d: %.5f of durations, model %.5f", j, got, predicted[j])
				}
			}
		})
	}
}

// Under H0 the likelihood ratio of a period has expectation 1 (it is a
// martingale increment, so Ville's inequality bounds the false-rollback
// probability by alpha). Checked by simulation against mild alternatives,
// where the ratio's distribution is not too skewed to average.
func TestLikelihoodRatioMeanOneUnderNull(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		kind  Kind
		alter func(v *Version)
	}{
		{"bursty errors 1.3x", GoodBursty, func(v *Version) { v.ErrRate *= 1.3 }},
		{"heavy tail p99 1.05x", GoodHeavyTail, func(v *Version) { v.Latency = regress(v.Latency, 1.05, 2) }},
		{"throttles 1.5x", GoodSteady, func(v *Version) { v.ThrRate *= 1.5 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc, _ := NewScenario(tc.kind, 2)
			sc.Traffic.PerMinute = 150
			m := newModel(sc)
			h0, _ := hypotheses(sc)
			alt := *h0.v
			tc.alter(&alt)
			periods := drawPeriods(sc, h0.v, 2500)
			var sum, sumSq float64
			for i := range periods {
				o := m.observe(&periods[i])
				lr := math.Exp(m.periodLLR(h0, hypothesis{v: &alt}, &o))
				sum, sumSq = sum+lr, sumSq+lr*lr
			}
			n := float64(len(periods))
			mean := sum / n
			se := math.Sqrt((sumSq/n - mean*mean) / n)
			if math.Abs(mean-1) > 4*se+0.01 || se > 0.1 {
				t.Errorf("E[LR] = %.4f +- %.4f, want 1", mean, se)
			}
		})
	}
}

func TestIdealDecisions(t *testing.T) {
	t.Parallel()
	id := &Ideal{Alpha: 1e-3}
	for _, k := range Kinds() {
		t.Run(string(k.Kind), func(t *testing.T) {
			caught := 0
			const seeds = 3
			for seed := uint64(1); seed <= seeds; seed++ {
				c, err := Generate(k.Kind, seed, Options{})
				if err != nil {
					t.Fatal(err)
				}
				d, err := id.Judge(context.Background(), c)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case !k.Bad && d.Rollback():
					t.Errorf("seed %d: good deploy rolled back at +%s: %s", seed, d.At, d.Note)
				case k.Bad && d.Rollback() && d.At <= k.Deadline:
					caught++
				}
			}
			if k.Bad && caught < seeds-1 {
				t.Errorf("caught %d of %d in time", caught, seeds)
			}
		})
	}
}

// Where no test could make it, the calculation says so.
func TestEvidenceBeyondAnyTest(t *testing.T) {
	sc, _ := NewScenario(BadErrors2x, 1)
	sc.Traffic.PerMinute, sc.Old.ErrRate, sc.New.ErrRate = 100, 0.001, 0.002 // 0.1 -> 0.2 errors a minute
	s := Simulate(sc)
	c := &Case{Scenario: sc, Sim: s, Delivery: plan(s)}
	id := &Ideal{Alpha: 1e-3}
	ev := id.Evidence(c)
	if !ev.Beyond() || ev.Expected > 2 || ev.PerMinute <= 0 || ev.Periods < 8 {
		t.Errorf("0.1 -> 0.2 errors a minute: %s", ev)
	}
	if ev.ErrPerMin0 < 0.05 || ev.ErrPerMin0 > 0.2 || math.Abs(ev.ErrPerMin1/ev.ErrPerMin0-2) > 1e-9 {
		t.Errorf("errors a minute %v -> %v", ev.ErrPerMin0, ev.ErrPerMin1)
	}
	hard, _ := Generate(BadHardFailure, 1, Options{})
	if ev := id.Evidence(hard); ev.Beyond() || ev.Expected < 100 {
		t.Errorf("hard failure: %s", ev)
	}
}

// ideal-cold is the ideal test blind to the cold starts: never earlier
// than the ideal, later where the cold starts could hide the regression
// for a while, and still a rollback of a p99 regression in time on most
// seeds; as soon as the ideal where the probes decide; a good deploy with
// strong cold starts is never rolled back.
func TestIdealColdUnknown(t *testing.T) {
	t.Parallel()
	id, blind := &Ideal{Alpha: 1e-3}, &Ideal{Alpha: 1e-3, Blind: BlindCold}
	if blind.Name() != "ideal-cold" || id.Name() != "ideal" {
		t.Fatalf("names %q %q", id.Name(), blind.Name())
	}
	const seeds = 12
	later, inTime := 0, 0
	for seed := uint64(1); seed <= seeds; seed++ {
		d, b := judgeBoth(t, BadP99x2, seed, id, blind)
		switch {
		case b.Rollback() && (!d.Rollback() || b.At < d.At):
			t.Errorf("seed %d: blind at +%s, before the ideal (%v at +%s)", seed, b.At, d.Rollback(), d.At)
		case b.Rollback() && b.At > d.At:
			later++
		}
		if b.Rollback() && b.At <= 5*time.Minute {
			inTime++
		}
	}
	if later == 0 || inTime < seeds*2/3 {
		t.Errorf("blind to cold starts: %d of %d seeds later than the ideal, %d in time", later, seeds, inTime)
	}
	// The probes know nothing of cold starts: a health-only failure is
	// caught as soon as by the ideal.
	for seed := uint64(1); seed <= 3; seed++ {
		if d, b := judgeBoth(t, BadHealthOnly, seed, id, blind); !d.Rollback() || !b.Rollback() || b.At != d.At {
			t.Errorf("bad/health-only seed %d: blind %v at +%s, ideal %v at +%s", seed, b.Rollback(), b.At, d.Rollback(), d.At)
		}
	}
	for seed := uint64(1); seed <= 5; seed++ {
		if d, _ := judgeBoth(t, GoodColdStart, seed, blind, blind); d.Rollback() {
			t.Errorf("good/cold-start seed %d rolled back at +%s: %s", seed, d.At, d.Note)
		}
	}
}

// ideal-bursts, blind to the errors' burst shape: later than the ideal
// on some 2x error regressions and never earlier; where only latency
// regressed, exactly the ideal (the error stream is not its evidence).
func TestIdealBurstsUnknown(t *testing.T) {
	t.Parallel()
	id, blind := &Ideal{Alpha: 1e-3}, &Ideal{Alpha: 1e-3, Blind: BlindBursts}
	if blind.Name() != "ideal-bursts" {
		t.Fatalf("name %q", blind.Name())
	}
	if b, err := ParseBlindness("bursts"); err != nil || b != BlindBursts {
		t.Fatalf("ParseBlindness(bursts) = %v, %v", b, err)
	}
	if _, err := ParseBlindness("rates"); err == nil || !strings.Contains(err.Error(), `"rates"`) {
		t.Fatalf("ParseBlindness(rates): %v", err)
	}
	if later := laterThanIdeal(t, BadErrors2x, id, blind); later == 0 {
		t.Error("blind to the bursts, no 2x error regression caught later than by the ideal")
	}
}

// ideal-rate, blind to the known-good's error rate, learns it from the
// baseline hour: never earlier than the ideal, later or not at all on some
// 3x regressions against a known-good measured for a few minutes, exactly
// the ideal where only latency regressed; and no good deploy of bursty
// errors is rolled back, blind to both the rate and the bursts.
func TestIdealRateUnknown(t *testing.T) {
	t.Parallel()
	id, blind := &Ideal{Alpha: 1e-3}, &Ideal{Alpha: 1e-3, Blind: BlindRate}
	if blind.Name() != "ideal-rate" {
		t.Fatalf("name %q", blind.Name())
	}
	both, err := ParseBlindness("rate+bursts")
	if err != nil || both != BlindRate|BlindBursts {
		t.Fatalf("ParseBlindness(rate+bursts) = %v, %v", both, err)
	}
	if n := (&Ideal{Blind: both}).Name(); n != "ideal-bursts+rate" {
		t.Fatalf("name %q", n)
	}
	if _, err := ParseBlindness("rate+tails"); err == nil || !strings.Contains(err.Error(), `"tails"`) {
		t.Fatalf("ParseBlindness(rate+tails): %v", err)
	}
	if later := laterThanIdeal(t, BadAfterFix, id, blind); later == 0 {
		t.Error("blind to the rate, no regression after a fix caught later than by the ideal")
	}
	blindBoth := &Ideal{Alpha: 1e-3, Blind: both}
	for seed := uint64(1); seed <= 4; seed++ {
		if d, _ := judgeBoth(t, GoodBursty, seed, blindBoth, blindBoth); d.Rollback() {
			t.Errorf("good/bursty-errors seed %d rolled back at +%s: %s", seed, d.At, d.Note)
		}
	}
}

// laterThanIdeal judges seeds 1-8 of the error kind k and of bad/p99-2x
// with the ideal id and its blind twin: on k the blind one is never
// earlier than the ideal (it returns on how many seeds it is later or
// misses), on p99-2x, whose evidence is latency, exactly the ideal.
func laterThanIdeal(t *testing.T, k Kind, id, blind *Ideal) (later int) {
	t.Helper()
	for seed := uint64(1); seed <= 8; seed++ {
		d, b := judgeBoth(t, k, seed, id, blind)
		switch {
		case b.Rollback() && (!d.Rollback() || b.At < d.At):
			t.Errorf("%s seed %d: blind at +%s, before the ideal (%v at +%s)", k, seed, b.At, d.Rollback(), d.At)
		case d.Rollback() && (!b.Rollback() || b.At > d.At):
			later++
		}
		if d, b := judgeBoth(t, BadP99x2, seed, id, blind); d.Rollback() != b.Rollback() || d.At != b.At {
			t.Errorf("p99-2x seed %d: blind %v at +%s, ideal %v at +%s", seed, b.Rollback(), b.At, d.Rollback(), d.At)
		}
	}
	return later
}

// judgeBoth is a's and b's decisions on kind k's scenario of seed.
func judgeBoth(t *testing.T, k Kind, seed uint64, a, b Judge) (Decision, Decision) {
	t.Helper()
	c, err := Generate(k, seed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out [2]Decision
	for i, j := range []Judge{a, b} {
		if out[i], err = j.Judge(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return out[0], out[1]
}

// ideal-effect, blind to what regressed, tests against a mixture of sizes
// (effectAlternatives) at a quarter of alpha (not knowing the kind of
// regression): later than the ideal on some 2x error regressions; the
// truth stays H1 where the size is not the question (a hard failure: a few
// seconds later than the ideal); a good deploy's generic alternatives are
// unchanged (exactly the ideal).
func TestIdealEffectUnknown(t *testing.T) {
	t.Parallel()
	id, blind := &Ideal{Alpha: 1e-3}, &Ideal{Alpha: 1e-3, Blind: BlindEffect}
	if blind.Name() != "ideal-effect" {
		t.Fatalf("name %q", blind.Name())
	}
	all, err := ParseBlindness("rate+bursts+effect")
	if err != nil || all != BlindRate|BlindBursts|BlindEffect {
		t.Fatalf("ParseBlindness(rate+bursts+effect) = %v, %v", all, err)
	}
	if n := (&Ideal{Blind: all}).Name(); n != "ideal-bursts+rate+effect" {
		t.Fatalf("name %q", n)
	}
	later, caught := 0, 0
	for seed := uint64(1); seed <= 8; seed++ {
		d, b := judgeBoth(t, BadErrors2x, seed, id, blind)
		if d.Rollback() && (!b.Rollback() || b.At > d.At) {
			later++
		}
		if b.Rollback() && b.At <= 10*time.Minute {
			caught++
		}
		if b.Rollback() && (!strings.Contains(b.Note, "9 sizes of the regression") || !strings.Contains(b.Note, "log(4/alpha)")) {
			t.Errorf("errors-2x seed %d: note %q", seed, b.Note)
		}
		if d, b := judgeBoth(t, GoodSteady, seed, id, blind); d.Rollback() != b.Rollback() || d.At != b.At {
			t.Errorf("good/steady seed %d: blind %v at +%s, ideal %v at +%s", seed, b.Rollback(), b.At, d.Rollback(), d.At)
		}
		// Not knowing it is a hard failure costs it log 4 nats: a
		// few seconds' probes and errors.
		if d, b := judgeBoth(t, BadHardFailure, seed, id, blind); !b.Rollback() || b.At < d.At || b.At > d.At+10*time.Second ||
			!strings.Contains(b.Note, "log(4/alpha)") {
			t.Errorf("bad/hard-failure seed %d: blind %v at +%s (%s), ideal at +%s", seed, b.Rollback(), b.At, b.Note, d.At)
		}
	}
	if later == 0 || caught < 4 {
		t.Errorf("blind to the size of a 2x error rate: %d of 8 seeds later than the ideal, %d caught in time", later, caught)
	}
}

// effectAlternatives spans each kind of regression's size around the
// known-good, on the benchmark's range, and keeps the truth where the
// size is not the question.
func TestEffectAlternatives(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind  Kind
		n     int
		check func(h0, v *Version) bool
	}{
		{BadErrors2x, 9, func(h0, v *Version) bool {
			r := v.ErrRate / h0.ErrRate
			return r >= 2*(1-1e-9) && r <= 10*(1+1e-9) && v.Latency == h0.Latency
		}},
		{BadIncidentWorse, 9, func(h0, v *Version) bool { return v.IncErrRate > h0.IncErrRate && v.ErrRate == h0.ErrRate }},
		{BadP99x2, 15, func(h0, v *Version) bool {
			return v.Latency != h0.Latency && v.ErrRate == h0.ErrRate && v.Latency.steady().quantile(0.99) > 1.35*h0.Latency.steady().quantile(0.99)
		}},
		{BadErrorRamp, 12, func(h0, v *Version) bool {
			return v.RampTo >= 5 && v.RampOver >= 15*time.Minute && v.ErrRate == h0.ErrRate
		}},
		{BadHardFailure, 0, nil},
		{BadThrottling, 0, nil},
		{BadHealthOnly, 0, nil},
	} {
		sc, err := NewScenario(tc.kind, 3)
		if err != nil {
			t.Fatal(err)
		}
		h0, alts := hypotheses(sc)
		got := effectAlternatives(h0, alts[0])
		if len(got) != tc.n {
			t.Errorf("%s: %d alternatives, want %d", tc.kind, len(got), tc.n)
			continue
		}
		for i, h := range got {
			if h.kg != nil || !tc.check(h0.v, h.v) {
				t.Errorf("%s alternative %d: %+v", tc.kind, i, *h.v)
			}
		}
	}
}

// warmUpCase is good/steady seed with a warm-up no good deploy of the
// benchmark draws: every first invocation 2.5x slower, fading with a
// 30 s time constant (an empty cache), materialised for the shipped rules.
func warmUpCase(t *testing.T, seed uint64, o Options) *Case {
	t.Helper()
	sc, err := NewScenario(GoodSteady, seed)
	if err != nil {
		t.Fatal(err)
	}
	sc.New.Cold = ColdStart{Share: 1, Tau: 30 * time.Second, Factor: 2.5, Sigma: 0.3}
	c, err := build(sc, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ideal-cold+warmup is blind to strong warm-ups too (warmupNullFamily):
// on p99 regressions it is never earlier than ideal-cold and later on
// some (a regression could be a warm-up for a minute or two); neither it
// nor canaryd's shipped rules (whose cold-start model allows any factor)
// roll back a good deploy with such a warm-up.
func TestIdealWarmupUnknown(t *testing.T) {
	t.Parallel()
	cold := &Ideal{Alpha: 1e-3, Blind: BlindCold | BlindEffect}
	warm := &Ideal{Alpha: 1e-3, Blind: BlindCold | BlindEffect | BlindWarmup}
	if warm.Name() != "ideal-cold+effect+warmup" {
		t.Fatalf("name %q", warm.Name())
	}
	if b, err := ParseBlindness("cold+warmup"); err != nil || b != BlindCold|BlindWarmup {
		t.Fatalf("ParseBlindness: %v, %v", b, err)
	}
	cd := &Canaryd{Target: shippedTarget(t)}
	o := shippedOptions(t)
	pol, err := policy.Compile(cd.Target)
	if err != nil {
		t.Fatal(err)
	}
	// The trimmed counts the daemon reads, as quality's command writes them.
	o.DurationStats, o.HistoryStats = pol.DurationStatsSince, pol.HistoryStatsSince
	for seed := uint64(1); seed <= 3; seed++ {
		c := warmUpCase(t, seed, o)
		for _, j := range []Judge{warm, cd} {
			d, err := j.Judge(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if d.Rollback() {
				t.Errorf("seed %d: %s rolled back a warm-up at +%s: %s", seed, j.Name(), d.At, d.Note)
			}
		}
	}
	later := 0
	for seed := uint64(1); seed <= 6; seed++ {
		a, b := judgeBoth(t, BadP99x15, seed, cold, warm)
		switch {
		case b.Rollback() && (!a.Rollback() || b.At < a.At):
			t.Errorf("bad/p99-1.5x seed %d: blind to warm-ups at +%s, before ideal-cold (%v at +%s)", seed, b.At, a.Rollback(), a.At)
		case a.Rollback() && (!b.Rollback() || b.At > a.At):
			later++
		}
	}
	if later == 0 {
		t.Error("blind to warm-ups: never later than ideal-cold on 6 p99 regressions")
	}
}
