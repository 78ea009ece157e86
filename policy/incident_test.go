package policy

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy/seqtest"
	"github.com/canaryd/canaryd/sample"
)

// incidentBase is 30 baseline minutes at 1000 invocations: about 0.3%
// errors, and from minute -8 on an incident at about 8% (bursty), with
// probes (every 30 s) failing from then on.
func incidentBase(probeResults bool) []sample.Sample {
	var out []sample.Sample
	before := []float64{2, 4, 3, 1, 5, 3, 2, 4, 3, 3, 2, 5, 4, 1, 3, 2, 4, 3, 3, 2, 4, 3}
	during := []float64{70, 95, 62, 88, 81, 104, 66, 90}
	for i, e := range append(before, during...) {
		out = append(out, met("Invocations", "", i-30, 1000), met("Errors", "", i-30, e))
	}
	if probeResults {
		out = append(out, probes("health", -30, strings.Repeat(".", 44))...)
		out = append(out, probes("health", -8, "xxxxxxx.xxxxxxxx")...)
	}
	return out
}

func TestDeployDuringIncident(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "as bad as the known-good since the incident began: alert", rules: []config.Rule{errRate, cmpErr},
			in: Input{Samples: vary(0, 10, 1000, 0.08), Baseline: incidentBase(false)}, now: 10,
			want: Failing, breached: []string{"err", "cmp-err"}, alertOnly: true, contains: "as bad before the deploy: 0.082 over its last 8 periods"},
		{name: "an incident made worse rolls back", rules: []config.Rule{errRate, cmpErr},
			in: Input{Samples: vary(0, 6, 1000, 0.3), Baseline: incidentBase(false)}, now: 6,
			want: Failing, breached: []string{"err", "cmp-err"},
			contains: "known-good 1 failing too before the deploy: 656 of 8000 over its last 8 periods, but the new version is significantly worse (above 1.25 times that): rolling back helps"},
		{name: "probes: the incident shows in the errors", rules: []config.Rule{errRate, health},
			in: Input{Samples: cat(vary(0, 10, 1000, 0.08), probes("health", 0, "x.xxx.x.xx.xx.")),
				Baseline: append(incidentBase(false), probes("health", -30, strings.Repeat(".", 58)+"x.")...)}, now: 10,
			want: Failing, breached: []string{"err", "health"}, alertOnly: true, contains: "the incident shows in another rule"},
		{name: "probes: known-good's own step", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, "x.xxx.x.xx.xx."), Baseline: incidentBase(true)}, now: 6,
			want: Failing, breached: []string{"health"}, alertOnly: true, contains: "as bad before the deploy"},
		// Two clean minutes among the incident's: ranked by time (as count
		// rules rank ties), they rank below the whole head and hid it.
		{name: "probes: an incident with clean minutes", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, "x.xxx.x.xx.xx."),
				Baseline: cat(probes("health", -60, strings.Repeat(".", 104)), probes("health", -8, "x.xxx...xxx.xx.."))}, now: 6,
			want: Failing, breached: []string{"health"}, alertOnly: true, contains: "as bad before the deploy"},
		// Three failures in the known-good's last five minutes are no step
		// (p 0.014 by ranks), but above the tolerated 10%: the probe rule's
		// comparison with the whole hour does not say rolling back helps.
		{name: "probes: known-good's last minutes failing, no step", rules: []config.Rule{health},
			in: Input{Samples: probes("health", 0, strings.Repeat("x..x.xx..x.xx.x.x", 2)),
				Baseline: cat(probes("health", -30, strings.Repeat(".", 50)), probes("health", -5, "..x...xx.."))}, now: 18,
			want: Failing, breached: []string{"health"}, alertOnly: true, contains: "breaches too"},
		// An incident only the probes show, over a service whose rare
		// errors come in clumps: two errors in the hour leave the errors'
		// tail since the probes' step too quiet to say whether they rose,
		// so the errors rule follows the step, but its null must still
		// allow the clumps the hour does not rule out. Judged against the
		// quiet tail with no bursts allowed, a clump of 7 errors in two
		// minutes rolled back this good deploy (good/clumpy-errors seed
		// 41720, 600 invocations a minute, 2 errors in 41,841).
		{name: "probes: the errors' clump during an incident only the probes show", rules: []config.Rule{cmpErr, health},
			in: Input{Samples: cat(rate("", 0, 1, 600, 1), rate("", 1, 2, 600, 6), rate("", 2, 10, 600, 0),
				probes("health", 0, strings.Repeat("x.xx.", 4))),
				Baseline: cat(rate("", -60, -39, 600, 0), rate("", -39, -38, 600, 1), rate("", -38, -30, 600, 0),
					rate("", -30, -29, 600, 1), rate("", -29, 0, 600, 0),
					probes("health", -60, strings.Repeat(".", 104)), probes("health", -8, "x.xxx.xx.xx.xxx."))}, now: 2,
			want: Healthy, contains: "null bursts down to"},
		{name: "latency is not the incident", rules: []config.Rule{errRate, cmpLat},
			in: Input{Samples: cat(vary(0, 10, 1000, 0.08), latencyMinutes(0, 10, 1000, 900, 300, 300)),
				Baseline: append(incidentBase(false), latBase()...)}, now: 10,
			want: Failing, breached: []string{"err", "cmp-lat"}},
		{name: "latency is not the incident, a milder regression", rules: []config.Rule{errRate, cmpLat},
			in: Input{Samples: cat(vary(0, 10, 1000, 0.08), latencyMinutes(0, 10, 1000, 600, 22, 22)),
				Baseline: append(incidentBase(false), latBase()...)}, now: 10,
			want: Failing, breached: []string{"err", "cmp-lat"}},
	})
}

// vary is Invocations and Errors for minutes [from, to) at about rate
// p, varying from minute to minute.
func vary(from, to int, inv, p float64) []sample.Sample {
	f := []float64{1, 1.2, 0.85, 1.1, 0.95, 1.05, 0.9}
	var out []sample.Sample
	for i := from; i < to; i++ {
		out = append(out, met("Invocations", "", i, inv), met("Errors", "", i, math.Round(inv*p*f[(i-from)%len(f)])))
	}
	return out
}

// latencyMinutes is Invocations, Duration.p99 and the trimmed counts latBase
// names for minutes [from, to).
func latencyMinutes(from, to int, inv, p99, over400, over500 float64) []sample.Sample {
	var out []sample.Sample
	for i := from; i < to; i++ {
		out = append(out, met("Invocations", "", i, inv), met("Duration.p99", "", i, p99),
			met("Duration.TC(400:)", "", i, over400), met("Duration.TC(440:)", "", i, over400),
			met("Duration.TC(500:)", "", i, over500), met("Duration.TC(800:)", "", i, 0))
	}
	return out
}

// A deploy that fixes an ongoing incident: the minute containing the
// deploy is mostly the known-good's incident and is not held against the
// new version.
func TestDeployFixingIncident(t *testing.T) {
	p, err := Compile(target(5*time.Minute, errRate, cmpErr))
	if err != nil {
		t.Fatal(err)
	}
	start := at(0).Add(40 * time.Second)
	samples := cat(rate("", 0, 1, 1000, 60), rate("", 1, 8, 1000, 3))
	in := Input{WatchStart: start, NewVersion: "2", KnownGood: "1", Samples: samples, Baseline: incidentBase(false)}
	if v := p.Evaluate(in, at(8)); v.Kind != Promote {
		t.Fatalf("a fix deploy during an incident: %s", dump(v))
	}
	// Without an incident in the baseline the minute of the deploy counts.
	in.Baseline = baseRate(1000, 3)
	if v := p.Evaluate(in, at(8)); v.Kind != Failing || v.AlertOnly {
		t.Fatalf("60 errors in 1000 in the minute of the deploy: %s", dump(v))
	}
}

func TestChangepoint(t *testing.T) {
	// All of a tail of L above the whole head: p = 1/C(T, L).
	x := append(repeat(1, 24), repeat(50, 6)...)
	n := repeat(1000, 30)
	c, pv := changepoint(x, n, false)
	if want := 1 / 593775.0; c != 24 || math.Abs(pv-want) > 1e-12 {
		t.Fatalf("changepoint = %d, p %g; want 24, %g", c, pv, want)
	}
	// Ties rank the later period lower: a flat series has no step.
	if _, pv := changepoint(repeat(0, 30), n, false); pv < 0.5 {
		t.Fatalf("flat series: p %g", pv)
	}
	// Too short for a head and a tail.
	if _, pv := changepoint(repeat(1, 5), repeat(10, 5), false); pv != 1 {
		t.Fatalf("5 periods: p %g", pv)
	}
	// Steady but bursty baselines (gamma-multiplied rates, shape 0.5 to
	// 20) seldom show a step: the search over splits stays near shiftP.
	r := rand.New(rand.NewPCG(1, 2))
	for _, k := range []float64{0.5, 2, 20} {
		steps := 0
		const reps = 2000
		for range reps {
			for i := range x {
				x[i] = poisson(r, 5*gamma(r, k)/k)
			}
			if _, pv := changepoint(x, n, false); pv <= shiftP {
				steps++
			}
		}
		t.Logf("k=%g: %d of %d steady baselines show a step", k, steps, reps)
		if steps > reps/100 {
			t.Errorf("k=%g: %d of %d steady baselines show a step", k, steps, reps)
		}
	}
}

// A baseline that is mostly periods without a failure (a health probe's,
// a quiet service's errors): an incident's tail is the few periods with
// one, and every other period ties at zero.
func TestChangepointTies(t *testing.T) {
	// An hour of probes, 6 a minute: none failing for 54 minutes, then
	// 2, 2, 1, 3, 0, 4 (the incident's minutes, one by chance clean). The
	// tail's 5 failing minutes and one clean: 55 of the C(60, 6) tails
	// rank as high. Ranking tied periods by time (later lower) saw no
	// step here (p 0.004), as count rules still rank them.
	x := append(repeat(0, 54), 2, 2, 1, 3, 0, 4)
	n := repeat(6, 60)
	c, pv := changepoint(x, n, true)
	if want := 55 / 50063860.0; c != 54 || math.Abs(pv-want) > 1e-15 {
		t.Fatalf("changepoint = %d, p %g; want 54, %g", c, pv, want)
	}
	if _, pv := changepoint(x, n, false); pv <= shiftP {
		t.Fatalf("ranked by time: p %g", pv)
	}
	// A flat series, and one failure among zeros, are no step.
	if _, pv := changepoint(repeat(0, 30), repeat(6, 30), true); pv != 1 {
		t.Fatalf("flat series: p %g", pv)
	}
	if _, pv := changepoint(append(repeat(0, 29), 1), repeat(6, 30), true); pv <= shiftPLoose {
		t.Fatalf("one failure: p %g", pv)
	}
	// Steady sparse baselines (a few failures an hour, Poisson or bursty)
	// seldom show a step: ties do not make the search find more.
	r := rand.New(rand.NewPCG(3, 4))
	x = make([]float64, 60)
	means := []float64{0.05, 0.3, 1}
	if raceEnabled {
		means = means[1:2]
	}
	for _, mu := range means {
		for _, k := range []float64{0.5, 20} {
			steps := 0
			const reps = 1000
			for range reps {
				for i := range x {
					x[i] = poisson(r, mu*gamma(r, k)/k)
				}
				if _, pv := changepoint(x, n, true); pv <= shiftP {
					steps++
				}
			}
			t.Logf("mean %g, k=%g: %d of %d steady baselines show a step", mu, k, steps, reps)
			if steps > reps/100 {
				t.Errorf("mean %g, k=%g: %d of %d steady baselines show a step", mu, k, steps, reps)
			}
		}
	}
}

// rose: whether a rule's own counts rose at another rule's step. A tail
// too quiet to show a rise either way (under quietTail events expected at
// the head's rate) follows the step: at 7 invocations a minute 1 error in
// the known-good's 73 since a probe incident began says nothing about its
// incident error rate (quality good/low-traffic-incident seed 1190, rolled
// back on a new version at 17 of 177). A tail that could have shown a rise
// must.
func TestRose(t *testing.T) {
	n := repeat(100, 60)
	quiet := &kgShift{x: repeat(0, 60), n: repeat(4, 60)}
	if !rose(quiet, 54, 0) {
		t.Error("a quiet tail (0 expected): did not follow")
	}
	flat := &kgShift{x: append(repeat(0.5, 54), repeat(0, 6)...), n: n}
	if rose(flat, 54, 0) {
		t.Error("none of 600 after 27 of 5,400: rose")
	}
	up := &kgShift{x: append(repeat(0, 54), 1, 0, 2, 1, 0, 1), n: repeat(4, 60)}
	if !rose(up, 54, 0) {
		t.Error("5 of 24 after none of 216: did not rise")
	}
	down := &kgShift{x: append(repeat(1, 54), 0, 0, 0, 0, 0, 1), n: n}
	if rose(down, 54, 0) {
		t.Error("1 of 600 after 54 of 5,400: rose")
	}
}

// tiedRankSurvival counts exactly: against every subset of a small tied
// series.
func TestTiedRankSurvival(t *testing.T) {
	rank2 := []int{4, 4, 4, 9, 9, 12, 15, 15, 17, 20} // any values: the counting does not care what they mean
	T := len(rank2)
	for l := 1; l < T; l++ {
		for _, sum := range []int{0, l * 11, l*11 + 7, l * 17, l * 20} {
			var hit, all float64
			for m := 0; m < 1<<T; m++ {
				if bits.OnesCount(uint(m)) != l {
					continue
				}
				s := 0
				for i := range T {
					if m&(1<<i) != 0 {
						s += rank2[i]
					}
				}
				all++
				if s >= sum {
					hit++
				}
			}
			if got := tiedRankSurvival(rank2, l, sum); math.Abs(got-hit/all) > 1e-12 {
				t.Errorf("l=%d sum=%d: %g, enumeration %g", l, sum, got, hit/all)
			}
		}
	}
}

func TestRankSumSurvival(t *testing.T) {
	s := rankSumSurvival(6)
	// Sums of 2 ranks of 1..6: 15 pairs, 11 = 5+6 once, 10 = 4+6 once.
	if math.Abs(s[2][11]-1.0/15) > 1e-12 || math.Abs(s[2][10]-2.0/15) > 1e-12 || s[2][3] != 1 {
		t.Fatalf("survival %v", s[2][:12])
	}
}

func poisson(r *rand.Rand, mu float64) float64 {
	if mu > 50 {
		return math.Max(0, math.Round(mu+math.Sqrt(mu)*r.NormFloat64()))
	}
	l, k, p := math.Exp(-mu), 0.0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// gamma draws Gamma(k, 1) (Marsaglia-Tsang, boosted below shape 1).
func gamma(r *rand.Rand, k float64) float64 {
	if k < 1 {
		return gamma(r, k+1) * math.Pow(r.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		z := r.NormFloat64()
		v := 1 + c*z
		if v <= 0 {
			continue
		}
		v = v * v * v
		if u := r.Float64(); math.Log(u) < z*z/2+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

// The deploy's own minute during an incident: its alias-level counts are
// a third the known-good's (at the incident's ~8%) and two thirds the new
// version's. The known-good's part is allowed for, so an incident made
// worse trips on that minute alone, while a deploy that fixes the
// incident, or one as bad as the known-good, does not roll back on it.
func TestIncidentDeployMinute(t *testing.T) {
	p, err := Compile(target(5*time.Minute, cmpErr))
	if err != nil {
		t.Fatal(err)
	}
	start := at(0).Add(20 * time.Second)
	minute := func(newRate float64) Input {
		errs := math.Round(333*0.08 + 667*newRate)
		return Input{WatchStart: start, NewVersion: "2", KnownGood: "1",
			Samples: rate("", 0, 1, 1000, errs), Baseline: incidentBase(false)}
	}
	now := at(1).Add(10 * time.Second)
	if v := p.Evaluate(minute(0.4), now); v.Kind != Failing || v.AlertOnly {
		t.Errorf("the incident made 5x worse, in the deploy's minute: %s", dump(v))
	}
	if v := p.Evaluate(minute(0.003), now); v.Kind == Failing {
		t.Errorf("a deploy fixing the incident, its first minute: %s", dump(v))
	}
	if v := p.Evaluate(minute(0.08), now); v.Kind == Failing && !v.AlertOnly {
		t.Errorf("a deploy as bad as the known-good, its first minute: %s", dump(v))
	}
}

// A bursty incident: the known-good's last 8 minutes before the deploy
// failed 9-17% of 300 invocations (twice the binomial variance). The new
// version, as bad, fails 21 of its 69 invocations in the deploy's minute:
// a burst like the tail's own, not an incident made worse, so it does
// not roll back (tempered at the baseline's upper bound on 1/k, shape 6
// from these 8 minutes, it is not evidence enough to alert either; at
// the estimate it alerted). 45 of 69 is worse whatever the bursts: it
// rolls back.
func TestIncidentBurstyTail(t *testing.T) {
	p, err := Compile(target(10*time.Minute, errRate, cmpErr))
	if err != nil {
		t.Fatal(err)
	}
	var base []sample.Sample
	before := []float64{1, 0, 0, 1, 1, 0, 0, 0, 0, 2, 1, 0, 0, 1, 0, 0, 1, 2, 0, 1, 0, 1}
	during := []float64{33, 50, 47, 33, 36, 27, 28, 33}
	for i, e := range append(before, during...) {
		base = append(base, met("Invocations", "", i-30, 300), met("Errors", "", i-30, e))
	}
	start := at(0).Add(47 * time.Second)
	now := at(1).Add(15 * time.Second)
	for _, tc := range []struct {
		errs     float64
		rollback bool
	}{{21, false}, {45, true}} {
		in := Input{WatchStart: start, NewVersion: "2", KnownGood: "1", Baseline: base,
			Samples: cat(rate("", 0, 1, 300, 60), rate("2", 0, 1, 69, tc.errs))}
		v := p.Evaluate(in, now)
		if rollback := v.Kind == Failing && !v.AlertOnly; rollback != tc.rollback {
			t.Errorf("%v of 69 failing in the deploy's minute: rollback %v, want %v: %s", tc.errs, rollback, tc.rollback, dump(v))
		}
	}
}

// A new version as bad as the known-good during an incident, as bursty as
// the incident really is, when the incident's few minutes before the
// deploy read steadier than that by chance: a single bursty minute is not
// an incident made worse, because the new version's own minutes since the
// deploy show how bursty the incident makes the counts (kgShift.worse).
// A version whose minutes are steady and four times the incident's rate
// still is.
func TestIncidentBurstierThanItsTail(t *testing.T) {
	p, err := Compile(target(10*time.Minute, cmpErr))
	if err != nil {
		t.Fatal(err)
	}
	var base []sample.Sample
	before := []float64{6, 5, 7, 6, 4, 6, 8, 5, 6, 7, 5, 6, 7, 6, 5, 6, 4, 7, 6, 5}
	during := []float64{24, 25, 23, 26, 24, 25, 23, 24, 26, 24} // 4.1%, steady by chance
	for i, e := range append(before, during...) {
		base = append(base, met("Invocations", "", i-30, 600), met("Errors", "", i-30, e))
	}
	start := at(0)
	for _, tc := range []struct {
		name     string
		errs     []float64 // the new version's errors a minute, of 600
		rollback bool
	}{
		// 29 minutes at 3.8% (the incident's 4.1%) in gamma-like bursts, then a
		// minute at 17%: the epoch that decides is that minute alone.
		{"as bad, bursty", []float64{5, 60, 10, 45, 2, 30, 8, 50, 12, 3, 40, 20, 6, 55, 15, 4, 35, 9, 25, 30, 7, 48, 11, 3, 38, 22, 5, 52, 14, 102}, false},
		{"four times worse, steady", []float64{96, 100, 94, 98, 101, 97, 95, 99, 100, 96, 98, 97, 99, 95, 100, 96, 98, 97, 99, 101}, true},
	} {
		var s []sample.Sample
		for m, e := range tc.errs {
			s = append(s, met("Invocations", "", m, 600), met("Errors", "", m, e))
		}
		v := p.Evaluate(Input{WatchStart: start, NewVersion: "2", KnownGood: "1", Baseline: base, Samples: s}, at(len(tc.errs)).Add(5*time.Second))
		if v.Kind != Failing || v.AlertOnly == tc.rollback {
			t.Errorf("%s: rollback %v, want %v: %s", tc.name, v.Kind == Failing && !v.AlertOnly, tc.rollback, dump(v))
		}
	}
}

// An incident so bursty that one of its minutes ranks among the lowest of
// the baseline (2 errors of 600, after minutes of 16 to 43) is still a
// step: its ranks alone (p = 1.3e-4) are not extreme enough, but its rate,
// tempered for the burstiness on each side, is more than shiftZLoose
// standard errors above the minutes before. A milder rise whose ranks are
// as far from the strict cut-off (p = 4.5e-4) but whose rate is only 3.6
// standard errors up is not: the loose path asks for more of the rate.
func TestBurstyIncidentStep(t *testing.T) {
	p, err := Compile(target(10*time.Minute, cmpErr))
	if err != nil {
		t.Fatal(err)
	}
	before := []float64{3, 5, 6, 11, 1, 5, 8, 6, 4, 3, 4, 7, 4, 9, 3, 7, 2, 7, 4, 3, 3}
	for _, tc := range []struct {
		name string
		tail []float64
		step bool
	}{
		{"a bursty incident", []float64{24, 18, 18, 28, 16, 16, 29, 43, 2}, true},
		{"a milder rise", []float64{7, 9, 6, 10, 8, 9, 8, 12, 11}, false},
	} {
		var base []sample.Sample
		for i, e := range append(append([]float64(nil), before...), tc.tail...) {
			base = append(base, met("Invocations", "", i-30, 600), met("Errors", "", i-30, e))
		}
		x, n := make([]float64, 0, 30), make([]float64, 0, 30)
		for i := 0; i < len(base); i += 2 {
			n, x = append(n, base[i].Value), append(x, base[i+1].Value)
		}
		_, pv := changepoint(x, n, false)
		sh := p.PrepareBaseline(base).rules[0].shift
		t.Logf("%s: rank p %.2g, step %v", tc.name, pv, sh.on)
		if sh.on != tc.step {
			t.Errorf("%s: step %v, want %v (rank p %.2g)", tc.name, sh.on, tc.step, pv)
		}
	}
}

// During an incident the health probe shows all through the baseline, a
// low-traffic error_rate baseline that happened to catch few of the
// incident's errors (1 in 60, where the incident fails 10 %) cannot rule
// out a known-good above the 5 % ceiling: a new version failing 18 % trips
// the rule but only alerts. Without the probe's incident the same counts
// roll back, and a version failing every request rolls back during it.
func TestIncidentElsewhereDoubtsTheKnownGood(t *testing.T) {
	failing := probes("health", -30, strings.Repeat("..x", 40)) // a third failing, the whole baseline
	base := cat(rate("", -30, -29, 2, 1), rate("", -29, 0, 2, 0))
	// 18 % over 28 minutes at 4 a minute (21 of 112).
	newErr := cat(rate("", 0, 21, 4, 1), rate("", 21, 28, 4, 0))
	runEvalCases(t, []evalCase{
		{name: "the probe shows the incident: alert only", rules: []config.Rule{errRate, health},
			in:  Input{Samples: cat(newErr, probes("health", 0, strings.Repeat("..x", 56))), Baseline: cat(base, failing)},
			now: 28, want: Failing, breached: []string{"err"}, alertOnly: true,
			contains: "known-good 1 may breach too: its 1 of 60 before the deploy, during an incident another rule shows, do not rule out 0.05"},
		{name: "no incident elsewhere: rolls back", rules: []config.Rule{errRate, health},
			in:  Input{Samples: cat(newErr, probes("health", 0, strings.Repeat("...", 56))), Baseline: cat(base, probes("health", -30, strings.Repeat("...", 40)))},
			now: 28, want: Failing, breached: []string{"err"}},
		{name: "every request failing during the incident: rolls back", rules: []config.Rule{errRate, health},
			in:  Input{Samples: cat(rate("", 0, 28, 4, 4), probes("health", 0, strings.Repeat("..x", 56))), Baseline: cat(base, failing)},
			now: 28, want: Failing, breached: []string{"err"}},
	})
}

// TestFisherAbove: a version failing (nearly) every request is worse than
// a known-good whose last minutes failed one or two of theirs; one failing
// as often is not. And a version 1.25 times as bad as the known-good (the
// null's boundary), at rates from 5% to 70% and a few to a few dozen
// requests on each side, is called worse at most (1 + 1/fisherLooks)·shiftP1
// of the time.
func TestFisherAbove(t *testing.T) {
	for _, c := range []struct {
		b, ref seqtest.Block
		want   bool
	}{
		{seqtest.Block{X: 20, N: 20}, seqtest.Block{X: 1, N: 10}, true},
		{seqtest.Block{X: 9, N: 9}, seqtest.Block{X: 2, N: 18}, true},
		{seqtest.Block{X: 12, N: 12}, seqtest.Block{X: 2, N: 18}, true},
		{seqtest.Block{X: 14, N: 14}, seqtest.Block{X: 1, N: 10}, false}, // too few yet
		{seqtest.Block{X: 11, N: 17}, seqtest.Block{X: 3, N: 33}, false}, // p 7e-4
		{seqtest.Block{X: 2, N: 10}, seqtest.Block{X: 1, N: 10}, false},
		{seqtest.Block{X: 20, N: 100}, seqtest.Block{X: 10, N: 100}, false},
		{seqtest.Block{X: 0, N: 10}, seqtest.Block{X: 0, N: 10}, false},
		{seqtest.Block{X: 10, N: 10}, seqtest.Block{X: 8, N: 10}, false}, // 1.25 times 0.8 is every request
	} {
		if got := fisherAbove(c.b, c.ref, incidentWorse); got != c.want {
			t.Errorf("%v against %v: worse %v, want %v", c.b, c.ref, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(11, 12))
	binom := func(n int, p float64) float64 {
		x := 0
		for range n {
			if rng.Float64() < p {
				x++
			}
		}
		return float64(x)
	}
	const draws = 4000
	for _, p := range []float64{0.05, 0.2, 0.5, 0.7} {
		for _, n := range [][2]int{{5, 10}, {20, 10}, {30, 30}, {10, 40}} {
			hits := 0
			for range draws {
				b := seqtest.Block{X: binom(n[0], min(1, incidentWorse*p)), N: float64(n[0])}
				ref := seqtest.Block{X: binom(n[1], p), N: float64(n[1])}
				if fisherAbove(b, ref, incidentWorse) {
					hits++
				}
			}
			// 1.2·shiftP1 is 0.16%: 6.5 of 4,000; allow its Poisson spread.
			if m := (1 + 1.0/fisherLooks) * shiftP1 * draws; float64(hits) > m+3*math.Sqrt(m) {
				t.Errorf("rate %.2f, %d against %d requests: worse in %d of %d draws, more than %.1f expected", p, n[0], n[1], hits, draws, m)
			}
		}
	}
}

// A bursty incident's step measured against the day before it
// (dayStep). Ten minutes at 3% in bursts (2 to 34 errors of 600) after a
// day and twenty minutes steady at 1%: the best-ranked split (p 0.0014)
// starts three of the incident's minutes late, and its rate, tempered at
// the split's burstiness, which pools the incident's own bursts in, is
// only 3.3 standard errors up. Without a shape history that is no step,
// and a deploy as bad as the incident would roll back. Against the day's
// burstiness, which is what the tail would show were there no step, the
// split at the incident's start, fourth by its ranks (p 0.0026), is 9.1
// standard errors up: a step. A milder rise (1.5 times, 3 standard
// errors) is no step either way. Nor is an hour as bursty as the incident
// throughout, whose last ten minutes happen to run at twice its rate
// (p 1e-4): 5.9 standard errors up at the day's burstiness, but 2.4 at
// the hour's own, which is larger.
func TestBurstyIncidentStepAgainstTheDay(t *testing.T) {
	steady := []float64{6, 5, 7, 6, 4, 6, 8, 5, 6, 7}
	var before []float64
	for len(before) < 20 {
		before = append(before, steady...)
	}
	bursty := []float64{2, 15, 4, 9, 1, 12, 3, 8, 14, 2, 6, 11, 1, 7, 13, 3, 10, 2, 5, 9}
	for _, tc := range []struct {
		name       string
		head, tail []float64
		day        bool // a step with a day of shape history (none is without it)
	}{
		{"a bursty incident", before, []float64{25, 5, 18, 34, 2, 15, 22, 9, 30, 16}, true},
		{"a milder rise", before, []float64{7, 9, 6, 10, 8, 9, 8, 12, 11, 9}, false},
		{"bursty all hour", bursty, []float64{14, 11, 15, 13, 16, 12, 14, 15, 13, 16}, false},
	} {
		var day, base []sample.Sample
		for m := -24 * 60; m < -30; m++ {
			day = append(day, met("Invocations", "", m, 600), met("Errors", "", m, steady[(m+24*60)%len(steady)]))
		}
		for i, e := range append(append([]float64(nil), tc.head...), tc.tail...) {
			base = append(base, met("Invocations", "", i-30, 600), met("Errors", "", i-30, e))
		}
		for _, history := range []bool{false, true} {
			tg := target(10*time.Minute, cmpErr)
			tg.BaselineWindow = dur(30 * time.Minute)
			tg.ShapeWindow = tg.BaselineWindow
			if history {
				tg.ShapeWindow = dur(24 * time.Hour)
			}
			p, err := Compile(tg)
			if err != nil {
				t.Fatal(err)
			}
			want := history && tc.day
			in := base
			if history {
				in = cat(day, base)
			}
			sh := p.PrepareBaseline(in).rules[0].shift
			if sh.on != want {
				t.Errorf("%s, history %v: step %v, want %v", tc.name, history, sh.on, want)
			}
		}
	}
}
