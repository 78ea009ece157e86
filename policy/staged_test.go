package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// TestStagedRefSlices: the baseline's minutes go to the first ten periods
// after the deploy newest first, each minute to exactly one period, and
// none to a period outside them.
func TestStagedRefSlices(t *testing.T) {
	var x, n []float64
	for i := range 25 { // oldest first: minute i has i events in 100+i trials
		x, n = append(x, float64(i)), append(n, float64(100+i))
	}
	s := newStagedRef(x, n)
	seen := make([]int, 25)
	prevTop := 25.0
	for j := 1; j <= stagedPeriods; j++ {
		xo, no := s.slice(j)
		// The minutes given to period j: every one of them newer than
		// those of the periods after it.
		lo := int(s.per * float64(j-1))
		hi := int(s.per * float64(j))
		want := 0.0
		for i := lo; i < hi; i++ {
			seen[24-i]++
			want += float64(24 - i)
		}
		if xo != want || no != want+100*float64(hi-lo) {
			t.Errorf("period %d: %g events in %g trials, want %g in %g", j, xo, no, want, want+100*float64(hi-lo))
		}
		if hi > lo && float64(24-lo) > prevTop {
			t.Errorf("period %d starts at minute %d, newer than the period before's", j, 24-lo)
		}
		if hi > lo {
			prevTop = float64(24 - lo)
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("baseline minute %d given to %d periods, want 1", i, c)
		}
	}
	for _, j := range []int{0, -1, stagedPeriods + 1, 100} {
		if xo, no := s.slice(j); xo != 0 || no != 0 {
			t.Errorf("period %d: %g events in %g trials, want none", j, xo, no)
		}
	}
	if newStagedRef(nil, nil) != nil {
		t.Error("no baseline minutes: want no staged test")
	}
}

// TestStagedBaselineAfterAFix: the known-good replaced a failing version
// twenty minutes before the deploy and failed 40 of its 20,000
// invocations since. A 3x regression at 1,000 invocations a minute
// (6 errors a minute) is rolled back in the eighth minute: against the
// baseline's minutes in turn the known-good's rate costs nothing. The
// test against the whole baseline alone, which integrates the rate under
// its prior, had not tripped by the tenth (before staged.go). A version
// like the known-good is not rolled back in the hour.
func TestStagedBaselineAfterAFix(t *testing.T) {
	p := stagedPolicy(t)
	kg := []float64{2, 1, 3, 2, 2, 1, 2, 3, 2, 2, 1, 2, 3, 2, 2, 2, 1, 3, 2, 2} // minutes -20 .. -1: 40 errors
	base := cat(rate("", -60, -20, 1000, 80), vals("Invocations", "", -20, repeat(1000, 20)...), vals("Errors", "", -20, kg...))
	judge := func(errs []float64, now int) Verdict {
		in := Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Baseline: base, BaselineSince: at(-20).Add(-20 * time.Second),
			Samples: cat(vals("Invocations", "", 0, repeat(1000, len(errs))...), vals("Errors", "", 0, errs...))}
		return p.Evaluate(in, at(now))
	}
	regression := []float64{6, 5, 7, 6, 6, 5, 7, 6, 6, 6}
	tripped, why := stagedTrip(t, len(regression), func(m int) Verdict { return judge(regression[:m], m) })
	if strings.Contains(why, "alongside (") {
		t.Errorf("no split periods, but the finding names the known-good's alongside: %s", why)
	}
	if tripped < 0 || tripped > 8 {
		t.Errorf("3x the known-good after a fix: tripped at minute %d, want by the eighth", tripped)
	}
	same := slices.Concat(kg, kg, kg)
	if v := judge(same, len(same)); v.Kind == Failing {
		t.Errorf("a version like the known-good was rolled back: %s", v.Summary)
	}
}

// TestStagedCanary: a 10% canary at about 6x the known-good's 0.15%
// error rate, 240 invocations a minute (two errors a minute) beside the
// known-good's 2,160 (three or four). The split periods alone compare the
// canary's few errors with the known-good's few alongside (e = 1,700 by
// the sixth minute); paired also with the baseline hour's minutes in turn
// (216 errors, six minutes to a period), the known-good's side is seven
// times larger (e = 13,900) and the canary trips in the sixth minute, half
// the level's 1/α = 2,000 paid. Before the split periods had the
// baseline's minutes it tripped in the seventh. A canary like the
// known-good is not rolled back in the hour.
func TestStagedCanary(t *testing.T) {
	p := stagedPolicy(t)
	var baseErrs []float64
	for i := range 60 { // 216 errors: 3 or 4 a minute
		baseErrs = append(baseErrs, float64(3+(i%5+1)/3))
	}
	base := cat(vals("Invocations", "", -60, repeat(2400, 60)...), vals("Errors", "", -60, baseErrs...))
	judge := func(newErrs, kgErrs []float64, now int) Verdict {
		return p.Evaluate(splitInput(base, 240, newErrs, 2160, kgErrs), at(now))
	}
	kg := []float64{3, 4, 3, 3, 3, 4, 3, 3, 4, 3}
	canary := []float64{2, 2, 2, 2, 2, 3, 2, 2, 2, 2}
	tripped, why := stagedTrip(t, len(canary), func(m int) Verdict { return judge(canary[:m], kg[:m], m) })
	if tripped > 0 && !strings.Contains(why, "in turn and the known-good's alongside (") {
		t.Errorf("the finding does not say the known-good's concurrent counts were in the test: %s", why)
	}
	if tripped < 0 || tripped > 6 {
		t.Errorf("a 10%% canary at about 6x: tripped at minute %d, want by the sixth", tripped)
	}
	var same, kgs []float64
	for i := range 60 {
		same = append(same, float64((i%3+1)/3)) // 0.33 a minute: 240 at 0.14%
		kgs = append(kgs, kg[i%len(kg)])
	}
	if v := judge(same, kgs, len(same)); v.Kind == Failing {
		t.Errorf("a canary like the known-good was rolled back: %s", v.Summary)
	}
}

// stagedTrip is the first of minutes 1..n whose verdict (judge(m)) is
// Failing and its summary (-1 when none is); a trip must say that the
// baseline's minutes in turn decided.
func stagedTrip(t *testing.T, n int, judge func(m int) Verdict) (int, string) {
	t.Helper()
	for m := 1; m <= n; m++ {
		if v := judge(m); v.Kind == Failing {
			if !strings.Contains(v.Summary, "against the baseline's in turn") {
				t.Errorf("minute %d: the trip does not say which test decided: %s", m, v.Summary)
			}
			return m, v.Summary
		}
	}
	return -1, ""
}

// TestStagedCanaryOutage: a dependency fails both versions alike, three
// times the errors on the canary and on the known-good alongside from
// the canary's third minute. The canary's share of the concurrent errors
// is as before, but against the baseline's minutes both look three times
// worse: with the minutes in turn the canary was rolled back in the eighth
// minute (before the known-good alongside set them aside). It is not
// rolled back in the hour, and the finding says why the minutes do not
// count. At 1.5x and 2x it never tripped.
func TestStagedCanaryOutage(t *testing.T) {
	p := stagedPolicy(t)
	base := cat(vals("Invocations", "", -60, repeat(2400, 60)...), vals("Errors", "", -60, repeat(24, 60)...))
	newE, kgE := []float64{2, 3}, []float64{22, 21}
	for len(newE) < 60 {
		newE, kgE = append(newE, 7, 8, 7), append(kgE, 65, 64, 66)
	}
	stagedOutage(t, p, base, newE, kgE)
	// An outage that passes: the minutes stay aside, the periods of the
	// outage being in their product.
	newE, kgE = []float64{2, 3, 7, 8, 7}, []float64{22, 21, 65, 64, 66}
	for len(newE) < 60 {
		newE, kgE = append(newE, 2, 3, 2), append(kgE, 22, 21, 22)
	}
	stagedOutage(t, p, base, newE, kgE)
}

// stagedOutage judges a 10% canary's newE and the known-good's kgE errors
// a minute (240 and 2,160 invocations) for an hour: never rolled back,
// and the finding says the known-good left its baseline rate.
func stagedOutage(t *testing.T, p *Policy, base []sample.Sample, newE, kgE []float64) {
	t.Helper()
	var last Verdict
	for m := 1; m <= 60; m++ {
		last = p.Evaluate(splitInput(base, 240, newE[:m], 2160, kgE[:m]), at(m))
		if last.Kind == Failing {
			t.Fatalf("minute %d: a canary as good as the known-good during an outage of both was rolled back: %s", m, last.Summary)
		}
	}
	if len(last.Findings) != 1 || !strings.Contains(last.Findings[0].Note, "the known-good alongside has left its baseline rate") {
		t.Errorf("the finding does not say why the baseline's minutes were set aside: %+v", last.Findings)
	}
}

// TestStagedSplitBusy: a 50% rollout step whose alias serves twice the
// baseline's traffic is busy (load.go): its errors may rise with the
// load whichever version runs, so the step is not judged against the
// baseline's minutes. The busy gate reads the alias's invocations, both
// versions' (it read the new version's alone, half of them, and judged
// the step). At the baseline's traffic the step is judged against them.
func TestStagedSplitBusy(t *testing.T) {
	p := stagedPolicy(t)
	base := cat(vals("Invocations", "", -60, repeat(1000, 60)...), vals("Errors", "", -60, repeat(10, 60)...))
	note := func(each, errNew, errKG float64) string {
		v := p.Evaluate(splitInput(base, each, repeat(errNew, 5), each, repeat(errKG, 5)), at(5))
		if v.Kind == Failing || len(v.Findings) != 1 {
			t.Fatalf("%g invocations a version: %s", each, v.Summary)
		}
		return v.Findings[0].Note
	}
	// The new version a little worse than the known-good alongside, so
	// that the finding shows the test against the minutes when it counts.
	if n := note(1000, 16, 13); strings.Contains(n, "known-good's alongside (") {
		t.Errorf("busy split periods (2,000 a minute against 1,000) judged against the baseline's minutes: %s", n)
	}
	if n := note(500, 8, 5); !strings.Contains(n, "in turn and the known-good's alongside (") {
		t.Errorf("split periods at the baseline's traffic not judged against the baseline's minutes: %s", n)
	}
}

// stagedPolicy is the staged tests' policy: compare_errors at α = 5e-4,
// min_effect 0.05, an hour's baseline and no history beyond it.
func stagedPolicy(t *testing.T) *Policy {
	t.Helper()
	tg := target(10*time.Minute, config.Rule{Name: "cmp-err", Kind: config.RuleCompareErrors, MinEffect: 0.05, Confidence: 0.9995})
	tg.BaselineWindow, tg.ShapeWindow = dur(time.Hour), dur(time.Hour)
	p, err := Compile(tg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// splitInput is a split watch from t0 on: the new version's newErrs and
// the known-good's kgErrs errors a minute in newInv and kgInv invocations.
func splitInput(base []sample.Sample, newInv float64, newErrs []float64, kgInv float64, kgErrs []float64) Input {
	return Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Split: true, Baseline: base,
		Samples: cat(vals("Invocations", "2", 0, repeat(newInv, len(newErrs))...), vals("Errors", "2", 0, newErrs...),
			vals("Invocations", "1", 0, repeat(kgInv, len(kgErrs))...), vals("Errors", "1", 0, kgErrs...))}
}
