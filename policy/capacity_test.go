package policy

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// demand is Invocations and Throttles for minutes [from, to), a throttle
// in every other minute when thr is 0 (the known-good's own rare ones).
func demand(from, to int, inv, thr float64) []sample.Sample {
	var out []sample.Sample
	for i := from; i < to; i++ {
		x := thr
		if x == 0 && i%2 == 0 {
			x = 1
		}
		out = append(out, met("Invocations", "", i, inv), met("Throttles", "", i, x))
	}
	return out
}

// use is ConcurrencyUse u for minutes [from, to) (a reservation's).
func use(from, to int, u float64) []sample.Sample {
	return useOf(sample.MetricConcurrencyUse, from, to, u)
}

// poolUse is PoolUse u for minutes [from, to) (the account's pool's).
func poolUse(from, to int, u float64) []sample.Sample {
	return useOf(sample.MetricPoolUse, from, to, u)
}

func useOf(metric string, from, to int, u float64) []sample.Sample {
	var out []sample.Sample
	for i := from; i < to; i++ {
		out = append(out, met(metric, "", i, u))
	}
	return out
}

// TestThrottlesBeyondCapacity: the throttles rule, as a share of requests,
// judges only the demand the known-good's capacity explains. A traffic
// spike beyond it throttles whichever version runs; a version that
// throttles at a demand the known-good served is judged on all of it.
func TestThrottlesBeyondCapacity(t *testing.T) {
	share := with(thr, func(r *config.Rule) { r.Threshold = 0.002 })
	steady := demand(-60, 0, 1000, 0)
	// The known-good's hour with a spike it could serve only 2,000 of a
	// minute: its capacity shows (1,600 with the margin).
	spiky := cat(demand(-60, -40, 1000, 0), demand(-40, -37, 2000, 2000), demand(-37, 0, 1000, 0))
	runEvalCases(t, []evalCase{
		{name: "a spike after the deploy beyond the known-good's capacity is not the new version's", rules: []config.Rule{share},
			in:  Input{Baseline: spiky, Samples: cat(demand(0, 3, 1000, 0), demand(3, 6, 2000, 3000), demand(6, 10, 1000, 0))},
			now: 10, want: Healthy, contains: "demand beyond 1600 requests a period not judged (0.8 of the fewest the known-good served in a period it throttled"},
		{name: "throttling at a demand the known-good served trips", rules: []config.Rule{share},
			in:  Input{Baseline: spiky, Samples: demand(0, 5, 800, 200)},
			now: 5, want: Failing, breached: []string{"thr"}},
		{name: "without capacity throttling before: demand beyond the most the known-good had is not judged", rules: []config.Rule{share},
			in:  Input{Baseline: steady, Samples: cat(demand(0, 3, 1000, 0), demand(3, 6, 1500, 1500), demand(6, 10, 1000, 0))},
			now: 10, want: Healthy, contains: "demand beyond 1001 requests a period not judged (the most the known-good had in a period)"},
		{name: "... and throttling within it is", rules: []config.Rule{share},
			in:  Input{Baseline: steady, Samples: demand(0, 5, 800, 200)},
			now: 5, want: Failing, breached: []string{"thr"}},
		// The known-good's 1,000 a minute used a tenth of its limit: its
		// concurrency could serve 10,000 (8,000 with the margin), and a
		// version throttling a tenth of a morning's 1,500 is judged on it.
		{name: "with the concurrency's use: throttling beyond the most the known-good had, within what its concurrency serves, trips", rules: []config.Rule{share},
			in:  Input{Baseline: cat(steady, use(-60, 0, 0.1)), Samples: cat(demand(0, 5, 1350, 150))},
			now: 5, want: Failing, breached: []string{"thr"}, contains: "demand beyond 8000 requests a period not judged (0.8 of what the known-good's concurrency could serve, by the share of its limit it used)"},
		{name: "... which without it is not judged", rules: []config.Rule{share},
			in:  Input{Baseline: steady, Samples: cat(demand(0, 5, 1350, 150))},
			now: 5, want: Healthy, contains: "the most the known-good had in a period"},
		{name: "... nor where the known-good used most of its limit (the most it had is more)", rules: []config.Rule{share},
			in:  Input{Baseline: cat(steady, use(-60, 0, 1)), Samples: cat(demand(0, 5, 1350, 150))},
			now: 5, want: Healthy, contains: "demand beyond 1001 requests a period not judged (the most the known-good had in a period)"},
		{name: "a spike beyond what the known-good's concurrency serves is not the new version's", rules: []config.Rule{share},
			in:  Input{Baseline: cat(steady, use(-60, 0, 0.5)), Samples: cat(demand(0, 3, 1000, 0), demand(3, 6, 1600, 2400), demand(6, 10, 1000, 0))},
			now: 10, want: Healthy, contains: "demand beyond 1600 requests"},
		{name: "the account's pool's use sets the capacity too", rules: []config.Rule{share},
			in:  Input{Baseline: cat(steady, poolUse(-60, 0, 0.25)), Samples: cat(demand(0, 5, 1350, 150))},
			now: 5, want: Failing, breached: []string{"thr"}, contains: "demand beyond 3200 requests"},
		// Another function exhausts the account's unreserved pool for
		// three minutes: a fifth of the requests are throttled,
		// whichever version runs.
		{name: "throttling while the account's pool is exhausted is not judged", rules: []config.Rule{share},
			in: Input{Baseline: cat(steady, poolUse(-60, 0, 0.25)),
				Samples: cat(demand(0, 3, 1000, 0), demand(3, 6, 800, 200), demand(6, 10, 1000, 0), poolUse(0, 3, 0.3), poolUse(3, 6, 1), poolUse(6, 10, 0.3))},
			now: 10, want: Healthy, contains: "3 period(s) with the account's unreserved concurrency 90% in use or more not judged"},
		{name: "... nor while it lasts", rules: []config.Rule{share},
			in: Input{Baseline: cat(steady, poolUse(-60, 0, 0.25)),
				Samples: cat(demand(0, 3, 1000, 0), demand(3, 6, 800, 200), poolUse(0, 3, 0.3), poolUse(3, 6, 1))},
			now: 6, want: Healthy},
		{name: "... nor before the pool's use is delivered (a neighbour's spike would read as the version's)", rules: []config.Rule{share},
			in: Input{Baseline: cat(steady, poolUse(-60, 0, 0.25)),
				Samples: cat(demand(0, 3, 1000, 0), demand(3, 6, 800, 200), poolUse(0, 3, 0.3))},
			now: 6, want: Healthy, contains: "over 3m0s (3 samples"},
		{name: "... the same throttling with the pool free trips", rules: []config.Rule{share},
			in: Input{Baseline: cat(steady, poolUse(-60, 0, 0.25)),
				Samples: cat(demand(0, 3, 1000, 0), demand(3, 6, 800, 200), poolUse(0, 6, 0.3))},
			now: 6, want: Failing, breached: []string{"thr"}},
		{name: "... and so does a reservation at its limit (the function's own doing)", rules: []config.Rule{share},
			in: Input{Baseline: cat(steady, use(-60, 0, 0.25)),
				Samples: cat(demand(0, 3, 1000, 0), demand(3, 6, 800, 200), use(0, 3, 0.3), use(3, 6, 1))},
			now: 6, want: Failing, breached: []string{"thr"}},
		{name: "the newest periods, partly delivered at the limit, wait", rules: []config.Rule{share},
			in:  Input{Baseline: spiky, Samples: cat(demand(0, 7, 1000, 0), demand(7, 10, 1000, 1000))},
			now: 10, want: Healthy, contains: "over 7m0s (7 samples"},
		{name: "the same counts once final are throttling below capacity", rules: []config.Rule{share},
			in:  Input{Baseline: spiky, Samples: demand(0, 10, 1000, 1000)},
			now: 10, want: Failing, breached: []string{"thr"}, contains: "over 7m0s (7 samples"},
	})
}

// A watch at a function that throttles at its capacity folds what the raw
// samples say: the newest periods, read partly delivered at the limit,
// wait for their final reads in both, and a period History folds is never
// left unread (another metric delivered a period ahead makes it fold a
// period the throttles' own series still calls open). Spikes beyond capacity after the deploy, and minutes
// with the account's pool exhausted, stay healthy; a version that then throttles at ordinary demand trips in both alike.
func TestThrottlesBeyondCapacityFolded(t *testing.T) {
	tg := target(10*time.Minute, with(thr, func(r *config.Rule) { r.Threshold = 0.002 }))
	tg.MetricLag = 3
	p, err := Compile(tg)
	if err != nil {
		t.Fatal(err)
	}
	base := cat(demand(-60, -40, 1000, 0), demand(-40, -37, 2000, 2000), demand(-37, 0, 1000, 0), poolUse(-60, 0, 0.3))
	pb := p.PrepareBaseline(base)
	// final counts per minute: spikes beyond capacity at 10-12 and 40-41,
	// another function exhausting the account's pool at 25-27, then from
	// minute 60 a version throttling a fifth at ordinary demand.
	final := func(m int) (inv, thr float64) {
		switch {
		case m >= 10 && m < 13, m >= 40 && m < 42:
			return 2000, 3000
		case m >= 25 && m < 28, m >= 60:
			return 800, 200
		}
		return 1000, float64(m % 2)
	}
	pool := func(m int) float64 {
		if m >= 25 && m < 28 {
			return 1
		}
		return 0.3
	}
	w := Watch{Start: t0, KnownGood: "1", NewVersion: "2"}
	folding := p.NewHistory(w)
	folding.SetBaseline(pb)
	raw := NewHistory(0)
	tripped := false
	for m := 1; m <= 90 && !tripped; m++ {
		now := at(m).Add(5 * time.Second)
		for back := 2; back <= 4; back++ {
			pm := m - back
			if pm < 0 {
				continue
			}
			inv, x := final(pm)
			if back == 2 { // the first read holds half of the period
				inv, x = math.Round(inv/2), math.Round(x/2)
			}
			for _, s := range []sample.Sample{met("Invocations", "", pm, inv), met("Throttles", "", pm, x), met(sample.MetricPoolUse, "", pm, pool(pm))} {
				folding.Add(s)
				raw.Add(s)
			}
		}
		// Another metric a period ahead of the throttles' (the newest
		// delivery decides what History folds as final).
		folding.Add(met("Errors", "", m-1, 0))
		raw.Add(met("Errors", "", m-1, 0))
		in := Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Prepared: pb}
		a, b := in, in
		a.Evidence, a.Samples = folding.Evidence(), folding.Samples()
		b.Samples = raw.Samples()
		va, vb := p.Evaluate(a, now), p.Evaluate(b, now)
		if va.Kind != vb.Kind || !near(va.Findings[0].EValue, vb.Findings[0].EValue) || va.Findings[0].Evidence != vb.Findings[0].Evidence {
			t.Fatalf("at +%dm: folded %s e=%g evidence %g, raw %s e=%g evidence %g", m, va.Kind, va.Findings[0].EValue, va.Findings[0].Evidence,
				vb.Kind, vb.Findings[0].EValue, vb.Findings[0].Evidence)
		}
		if va.Kind == Failing {
			if m < 60 {
				t.Fatalf("a spike beyond capacity or the pool exhausted tripped at +%dm: %s", m, va.Summary)
			}
			if !strings.Contains(va.Findings[0].Note, "3 period(s) with the account's unreserved concurrency") {
				t.Errorf("the finding does not count the pool's three minutes: %s", va.Findings[0].Note)
			}
			tripped = true
		}
	}
	if !tripped {
		t.Fatal("throttling at ordinary demand from minute 60 never tripped")
	}
}
