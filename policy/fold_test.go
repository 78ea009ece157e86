package policy

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// delivery is one CloudWatch cycle or probe result: what reaches the
// History at one instant.
type delivery struct {
	at      time.Time
	samples []sample.Sample
}

// watchFeed simulates a watch as the daemon sees it: every minute a cycle
// re-reads the last three periods (late data: a period's first read holds
// 90% of its invocations and errors), probes every 10 s; errors at rate
// errRate(minute), split per version while split(minute).
func watchFeed(seed uint64, minutes int, errRate func(int) float64, split func(int) bool) []delivery {
	rng := rand.New(rand.NewPCG(seed, 3))
	type counts struct{ inv, errs, slow float64 }
	final := map[int]map[string]counts{}
	for m := -1; m < minutes; m++ {
		c := map[string]counts{}
		vers := []string{""}
		if split(m) {
			vers = []string{"2", "1"}
		}
		for _, v := range vers {
			n := 1000.0
			if v == "2" {
				n = 100
			}
			e := 0.0
			p := errRate(m)
			if v == "1" {
				p = 0.01
			}
			for range int(n) {
				if rng.Float64() < p {
					e++
				}
			}
			c[v] = counts{n, e, math.Round(n * 0.005)}
		}
		final[m] = c
	}
	var out []delivery
	for m := 0; m <= minutes; m++ {
		cycle := delivery{at: at(m).Add(5 * time.Second)}
		for back := 1; back <= 3; back++ {
			pm := m - back
			c, ok := final[pm]
			if !ok {
				continue
			}
			share := 1.0
			if back == 1 {
				share = 0.9
			}
			for v, x := range c {
				cycle.samples = append(cycle.samples,
					met("Invocations", v, pm, math.Round(x.inv*share)), met("Errors", v, pm, math.Round(x.errs*share)),
					met("Duration.p99", v, pm, 400), met("Duration.TC(800:)", v, pm, x.slow))
			}
		}
		out = append(out, cycle)
		for s := 0; s < 6 && m < minutes; s++ {
			ts := at(m).Add(time.Duration(s)*10*time.Second + 7*time.Second)
			o := sample.OutcomeOK
			if rng.Float64() < 0.02 {
				o = sample.OutcomeFail
			}
			out = append(out, delivery{at: ts, samples: []sample.Sample{{Kind: sample.KindProbe, Source: "health", Time: ts, Outcome: o}}})
		}
	}
	return out
}

func foldTarget(t *testing.T) (*Policy, []sample.Sample) {
	t.Helper()
	tg := target(10*time.Minute, errRate, cmpErr, lat, health, thr)
	tg.MetricLag = 3
	p, err := Compile(tg)
	if err != nil {
		t.Fatal(err)
	}
	var base []sample.Sample
	for i := -30; i < 0; i++ {
		base = append(base, met("Invocations", "", i, 1000), met("Errors", "", i, 10),
			met("Duration.p99", "", i, 400+float64(i%5)), met("Duration.TC(800:)", "", i, 5), met("Throttles", "", i, 0))
	}
	return p, base
}

// Folded evidence weighs what the raw samples weigh: a watch evaluated
// from a folding History (bounded memory) reaches the same e-values and
// verdicts as one evaluated from every raw sample it ever received.
func TestFoldingMatchesRawSamples(t *testing.T) {
	p, base := foldTarget(t)
	pb := p.PrepareBaseline(base)
	feed := watchFeed(1, 180, func(m int) float64 {
		if m >= 120 {
			return 0.05 // a regression two hours in
		}
		return 0.01
	}, func(m int) bool { return m < 20 })
	w := Watch{Start: t0, KnownGood: "1", NewVersion: "2"}
	folding := p.NewHistory(w)
	folding.SetBaseline(pb)
	raw := NewHistory(0)
	evals := 0
	for _, d := range feed {
		for _, s := range d.samples {
			folding.Add(s)
			raw.Add(s)
		}
		in := Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Split: d.at.Before(at(20)), Prepared: pb}
		a := in
		a.Evidence, a.Samples = folding.Evidence(), folding.Samples()
		b := in
		b.Samples = raw.Samples()
		va, vb := p.Evaluate(a, d.at), p.Evaluate(b, d.at)
		evals++
		if va.Kind != vb.Kind {
			t.Fatalf("at +%s: folded %s, raw %s\n%s\n%s", d.at.Sub(t0), va.Kind, vb.Kind, dump(va), dump(vb))
		}
		for i := range va.Findings {
			fa, fb := va.Findings[i], vb.Findings[i]
			if !near(fa.EValue, fb.EValue) || fa.Evidence != fb.Evidence {
				t.Fatalf("at +%s rule %s: folded e=%g evidence %g, raw e=%g evidence %g", d.at.Sub(t0), fa.Rule, fa.EValue, fa.Evidence, fb.EValue, fb.Evidence)
			}
		}
		if va.Kind == Failing {
			if d.at.Before(at(120)) {
				t.Fatalf("failing before the regression at +%s: %s", d.at.Sub(t0), va.Summary)
			}
			t.Logf("regression two hours in tripped at +%s: %s", d.at.Sub(t0), va.Summary)
			break
		}
	}
	if folding.Len() > 400 || raw.Len() < 1000 {
		t.Fatalf("folding History holds %d samples, raw %d", folding.Len(), raw.Len())
	}
}

func near(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), math.Abs(b))
}

// Folding depends on the samples and their times only: calling Evidence
// after every delivery, every tenth, or once at the end folds the same.
func TestFoldingIndependentOfEvaluationTimes(t *testing.T) {
	p, base := foldTarget(t)
	pb := p.PrepareBaseline(base)
	feed := watchFeed(2, 90, func(int) float64 { return 0.01 }, func(m int) bool { return m >= 30 && m < 40 })
	run := func(every int) *Evidence {
		h := p.NewHistory(Watch{Start: t0, KnownGood: "1", NewVersion: "2"})
		h.SetBaseline(pb)
		for i, d := range feed {
			for _, s := range d.samples {
				h.Add(s)
			}
			if every > 0 && i%every == 0 {
				h.Evidence()
			}
		}
		return h.Evidence()
	}
	a, b, c := run(1), run(10), run(0)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) {
		t.Fatalf("evidence depends on when it was folded")
	}
	if a.through <= at(80).UnixNano() {
		t.Fatalf("folded through %s only", time.Unix(0, a.through).Sub(t0))
	}
}

// A watch of a day keeps bounded memory: samples of the last few periods
// and at most maxEpochs accumulators per rule.
func TestFoldingBoundedMemory(t *testing.T) {
	p, base := foldTarget(t)
	h := p.NewHistory(Watch{Start: t0, KnownGood: "1", NewVersion: "2"})
	h.SetBaseline(p.PrepareBaseline(base))
	maxLen := 0
	for _, d := range watchFeed(3, 24*60, func(int) float64 { return 0.01 }, func(int) bool { return false }) {
		for _, s := range d.samples {
			h.Add(s)
		}
		h.Evidence()
		maxLen = max(maxLen, h.Len())
	}
	ev := h.Evidence()
	for i, accs := range ev.rules {
		if len(accs) > maxEpochs {
			t.Fatalf("rule %d: %d epochs", i, len(accs))
		}
	}
	if maxLen > 200 {
		t.Fatalf("History held up to %d samples over a day", maxLen)
	}
	t.Logf("a day: at most %d samples held, %d epochs per rule", maxLen, len(ev.rules[0]))
}

// Folding waits for the baseline (relative rules need it), but not
// forever.
func TestFoldingWaitsForTheBaseline(t *testing.T) {
	p, base := foldTarget(t)
	h := p.NewHistory(Watch{Start: t0, KnownGood: "1", NewVersion: "2"})
	feed := watchFeed(4, 100, func(int) float64 { return 0.01 }, func(int) bool { return false })
	for _, d := range feed[:60] {
		for _, s := range d.samples {
			h.Add(s)
		}
	}
	if ev := h.Evidence(); ev.through != math.MinInt64 {
		t.Fatalf("folded before the baseline was set")
	}
	h.SetBaseline(p.PrepareBaseline(base))
	if ev := h.Evidence(); ev.through == math.MinInt64 {
		t.Fatalf("did not fold once the baseline was set")
	}
	// Without SetBaseline, after maxUnfoldedPeriods it folds without one.
	h2 := p.NewHistory(Watch{Start: t0, KnownGood: "1", NewVersion: "2"})
	for _, d := range feed {
		for _, s := range d.samples {
			h2.Add(s)
		}
		h2.Evidence()
	}
	if ev := h2.Evidence(); ev.through == math.MinInt64 || h2.Len() > 300 {
		t.Fatalf("never folded without a baseline: %d samples held", h2.Len())
	}
}

// A provisional baseline (the known-good's probe results while the daemon
// waits for CloudWatch) does not end the wait: folding waits for
// SetBaseline and then folds with the full baseline; a wait that runs out
// folds with the provisional one, which Evaluate was given meanwhile, not
// with none; set after the full baseline it changes nothing.
func TestFoldingProvisionalBaseline(t *testing.T) {
	p, base := foldTarget(t)
	kg := probes("health", -20, strings.Repeat("x", 40))
	prov, full := p.PrepareBaseline(kg), p.PrepareBaseline(append(base, kg...))
	feed := watchFeed(4, 100, func(int) float64 { return 0.01 }, func(int) bool { return false })
	w := Watch{Start: t0, KnownGood: "1", NewVersion: "2"}

	h := p.NewHistory(w)
	h.SetProvisionalBaseline(prov)
	for _, d := range feed[:60] {
		for _, s := range d.samples {
			h.Add(s)
		}
		h.Evidence()
	}
	if ev := h.Evidence(); ev.through != math.MinInt64 || ev.probeThrough != math.MinInt64 {
		t.Fatalf("folded with the provisional baseline before the full one was set")
	}
	h.SetBaseline(full)
	if ev := h.Evidence(); ev.through == math.MinInt64 || h.pb != full {
		t.Fatalf("did not fold with the full baseline once it was set")
	}

	h2 := p.NewHistory(w)
	h2.SetProvisionalBaseline(prov)
	for _, d := range feed {
		for _, s := range d.samples {
			h2.Add(s)
		}
		h2.Evidence()
	}
	if ev := h2.Evidence(); ev.through == math.MinInt64 || h2.pb != prov {
		t.Fatalf("a wait that ran out folded with %p, want the provisional baseline %p (the empty one is %p)", h2.pb, prov, p.empty)
	}

	h3 := p.NewHistory(w)
	h3.SetBaseline(full)
	h3.SetProvisionalBaseline(prov)
	if h3.pb != full || h3.provisional != nil {
		t.Fatal("a provisional baseline set after the full one replaced it")
	}
}

// A late sample for a period already folded changes nothing.
func TestFoldingIgnoresLateSamples(t *testing.T) {
	p, base := foldTarget(t)
	h := p.NewHistory(Watch{Start: t0, KnownGood: "1", NewVersion: "2"})
	h.SetBaseline(p.PrepareBaseline(base))
	for _, d := range watchFeed(5, 30, func(int) float64 { return 0.01 }, func(int) bool { return false }) {
		for _, s := range d.samples {
			h.Add(s)
		}
	}
	before := h.Evidence()
	h.Add(met("Errors", "", 2, 900))
	if after := h.Evidence(); !reflect.DeepEqual(before, after) {
		t.Fatal("a late sample of a folded period changed the evidence")
	}
}

var _ = config.RuleErrorRate

// A failed read (source_error samples for the newest period) is no
// delivery: the periods before it stay open, so the read after the outage,
// which goes back for them (watch.ReadStart), still counts. A History that
// folded behind failed reads judged the watch as if they had never come.
func TestFoldingWaitsOutFailedReads(t *testing.T) {
	p, base := foldTarget(t)
	h := p.NewHistory(Watch{Start: t0, KnownGood: "1", NewVersion: "2"})
	h.SetBaseline(p.PrepareBaseline(base))
	srcErr := func(m int) sample.Sample {
		s := met("Errors", "", m, 0)
		s.Outcome, s.Reason = sample.OutcomeSourceError, "GetMetricData failed"
		return s
	}
	h.Add(met("Invocations", "", 0, 1000))
	h.Add(met("Errors", "", 0, 10))
	for m := 1; m <= 10; m++ { // ten failed cycles, each for its newest period, each evaluated
		h.Add(srcErr(m))
		h.Evidence()
	}
	for m := 1; m <= 10; m++ { // the catch-up read
		h.Add(met("Invocations", "", m, 1000))
		h.Add(met("Errors", "", m, 10))
	}
	in := Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Prepared: h.pb, Evidence: h.Evidence(), Samples: h.Samples()}
	v := p.Evaluate(in, at(11).Add(5*time.Second))
	judged := -1.0
	for _, f := range v.Findings {
		if f.Rule == errRate.Name {
			judged = f.Evidence
		}
	}
	if judged != 11000 {
		t.Fatalf("the error rule judged %v invocations, want all 11 periods' 11000", judged)
	}
}
