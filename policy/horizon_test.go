package policy

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// TestBaselineHorizon: hours into the rollback window, a trip that rests
// only on the pre-deploy baseline alerts instead of rolling back (the
// known-good's rate moves with the time of day too); within the horizon it
// rolls back, and an absolute rule rolls back at any time.
func TestBaselineHorizon(t *testing.T) {
	base := vary(-60, 0, 1000, 0.01)
	// 70 minutes of 2x errors: the epoch that began at 226 minutes has
	// enough of them at 250 (compare_errors tempers at its bound on 1/k,
	// a little above these steady minutes' estimate of 0).
	steadyThenDouble := append(vary(0, 180, 1000, 0.01), vary(180, 250, 1000, 0.02)...)
	doubleAtOnce := vary(0, 50, 1000, 0.02)
	steadyThenDown := append(vary(0, 180, 1000, 0.01), vary(180, 240, 1000, 0.4)...)
	cases := []struct {
		name      string
		horizon   time.Duration
		samples   []sample.Sample
		now       int
		breached  []string
		alertOnly bool
	}{
		{"2x errors 3h in, horizon 1h: alert only", time.Hour, steadyThenDouble, 250, []string{"cmp-err"}, true},
		{"the same with the horizon off: roll back", 0, steadyThenDouble, 250, []string{"cmp-err"}, false},
		{"2x errors from the deploy, inside the horizon: roll back", time.Hour, doubleAtOnce, 50, []string{"cmp-err"}, false},
		{"40% errors 3h in: the absolute rule rolls back", time.Hour, steadyThenDown, 240, []string{"err", "cmp-err"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := target(10*time.Minute, errRate, cmpErr)
			tg.BaselineHorizon = dur(c.horizon)
			p, err := Compile(tg)
			if err != nil {
				t.Fatal(err)
			}
			v := p.Evaluate(Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Promoted: c.now > 10,
				Samples: c.samples, Baseline: base}, at(c.now))
			if v.Kind != Failing {
				t.Fatalf("kind %s, want failing: %s", v.Kind, v.Summary)
			}
			checkBreached(t, v, c.breached)
			if v.AlertOnly != c.alertOnly {
				t.Errorf("alert_only %v, want %v: %s", v.AlertOnly, c.alertOnly, v.Summary)
			}
			if c.alertOnly && !strings.Contains(v.AlertWhy, "baseline_horizon") {
				t.Errorf("alert_why %q does not name baseline_horizon", v.AlertWhy)
			}
			if !c.alertOnly && v.AlertWhy != "" {
				t.Errorf("alert_why %q on a verdict that rolls back", v.AlertWhy)
			}
		})
	}
}

// TestDiurnalDriftAlertsNotRollsBack: the known-good's error rate rises
// with the time of day, 10% an hour (1% at the deploy, 1.6% six hours
// later), and the new version is exactly as good. Against the pre-deploy
// baseline compare_errors (α = 5e-4, min_effect 0.1, 3,000 invocations a
// minute) trips on most watches within the rollback window; with
// baseline_horizon = 1h those trips only alert. (At 8% an hour, tempered
// at the baseline's upper bound on 1/k, 16 of 40 rolled back without a
// horizon: too few to show what the horizon does.)
func TestDiurnalDriftAlertsNotRollsBack(t *testing.T) {
	rule := cmpErr
	rule.MinEffect, rule.Confidence = 0.1, 0.9995
	minute := errorMinute(flat(3000), func(m int) float64 { return 0.01 * (1 + 0.10*float64(max(m, 0))/60) }, 0)
	n := simN(40)
	for _, horizon := range []time.Duration{0, time.Hour} {
		tg := target(10*time.Minute, rule)
		tg.MetricLag, tg.BaselineHorizon = 3, dur(horizon)
		p, err := Compile(tg)
		if err != nil {
			t.Fatal(err)
		}
		r := rng{rand.New(rand.NewPCG(7, 99))}
		rollbacks, alerts := 0, 0
		for range n {
			switch driftWatch(p, r, minute, 6*60) {
			case Failing:
				rollbacks++
			case Kind("alert"):
				alerts++
			}
		}
		t.Logf("baseline_horizon %s: %d of %d watches rolled back, %d alerted", horizon, rollbacks, n, alerts)
		switch {
		case horizon == 0 && rollbacks < n/2:
			t.Errorf("without a horizon only %d of %d drifting watches rolled back: the drift is too weak to show anything", rollbacks, n)
		case horizon > 0 && rollbacks > 0:
			t.Errorf("with baseline_horizon %s, %d of %d good watches rolled back on the time of day", horizon, rollbacks, n)
		}
	}
}

// driftWatch runs one watch of periods minutes and returns Failing at
// its first rollback, "alert" when it only ever alerted, "" otherwise.
func driftWatch(p *Policy, r rng, minute func(r rng, m int, v string) []sample.Sample, periods int) Kind {
	var base []sample.Sample
	for m := -60; m < 0; m++ {
		base = append(base, minute(r, m, "")...)
	}
	pb := p.PrepareBaseline(base)
	h := p.NewHistory(Watch{Start: t0, KnownGood: "1", NewVersion: "2"})
	h.SetBaseline(pb)
	in := Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Prepared: pb}
	alerted := false
	for m := 0; m < periods; m++ {
		for _, x := range minute(r, m, "") {
			h.Add(x)
		}
		now := at(m + 1).Add(5 * time.Second)
		in.Evidence, in.Samples = h.Evidence(), h.samples
		in.Promoted = now.After(t0.Add(p.bake))
		v := p.Evaluate(in, now)
		if v.Kind == Failing && !v.AlertOnly {
			return Failing
		}
		alerted = alerted || v.Kind == Failing
	}
	if alerted {
		return Kind("alert")
	}
	return ""
}
