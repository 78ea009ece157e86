package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// A finding names the bound on the bursts its rule used and where it came
// from: the baseline's minutes, the shape history, or the baseline's
// because its minutes rule the history's out; and a compare rule shows the
// k its test against the whole baseline tempers at (the upper bound), not
// the estimate. Before, every bound read "the baseline's bound" and
// compare_errors printed the estimate, a k the test did not use.
func TestFindingNamesTheBurstBound(t *testing.T) {
	cmp := config.Rule{Name: "cmp", Kind: config.RuleCompareErrors}
	steady := func(m int) float64 { return 40 }
	burstier := func(m int) float64 { // the day at shape 40, the hour at 3
		if m < -30 {
			return 40
		}
		return 3
	}
	cases := []struct {
		name    string
		rule    config.Rule
		minute  func(r rng, m int, v string) []sample.Sample
		history int
		from    burstSource
		says    string
	}{
		{"error_rate, sparse errors, a day of history", errRate,
			errorMinuteK(flat(200), flat(0.01), steady), day, burstFromHistory, "(the shape history's bound)"},
		{"error_rate, no history", errRate,
			errorMinuteK(flat(200), flat(0.01), steady), 0, burstFromBaseline, "(the baseline's bound)"},
		{"compare_errors, no history", cmp,
			errorMinuteK(flat(1000), flat(0.01), steady), 0, burstFromBaseline, ", the baseline's bound)"},
		{"compare_errors, a day of history", cmp,
			errorMinuteK(flat(1000), flat(0.01), steady), day, burstFromHistory, ", the shape history's bound"},
		{"compare_errors, the hour burstier than the day", cmp,
			errorMinuteK(flat(1000), flat(0.01), burstier), day, burstHistoryRuledOut,
			"the baseline's bound: its minutes are burstier than the shape history allows"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := simPolicyHistory(t, c.rule, config.DefaultConfidence, c.history)
			r := watchRNG(c.name, 7, 0)
			var base []sample.Sample
			for m := -30 - c.history; m < 0; m++ {
				base = append(base, c.minute(r, m, "")...)
			}
			pb := p.PrepareBaseline(base)
			rb := &pb.rules[0]
			if rb.kFrom != c.from {
				t.Fatalf("bound from %v, want %v", rb.kFrom, c.from)
			}
			h := p.NewHistory(Watch{Start: t0, KnownGood: "1", NewVersion: "2"})
			h.SetBaseline(pb)
			for m := range 3 {
				for _, s := range c.minute(r, m, "") {
					h.Add(s)
				}
			}
			now := at(3).Add(5 * time.Second)
			v := p.Evaluate(Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Prepared: pb,
				Evidence: h.Evidence(), Samples: h.samples}, now)
			got := v.Findings[0].String()
			t.Log(got)
			if !strings.Contains(got, c.says) {
				t.Fatalf("finding %q does not say %q", got, c.says)
			}
			if c.rule.Kind != config.RuleCompareErrors {
				return
			}
			// The k shown is the one the test tempers at, the bound, and
			// the estimate is shown beside it when the bound is higher.
			tk := rb.temperInvK()
			if tk <= rb.invK {
				t.Fatalf("want a case tempered at a bound above the estimate: 1/k %.3g, estimate %.3g", tk, rb.invK)
			}
			want := "tempered (k=" + (&noteBuf{}).num(1/tk, 3).String()
			if !strings.Contains(got, want) {
				t.Fatalf("finding %q does not show the tempering's k: want %q (estimate k=%.3g)", got, want, 1/rb.invK)
			}
			if rb.invK > 0 && !strings.Contains(got, "estimate k="+(&noteBuf{}).num(1/rb.invK, 3).String()) {
				t.Fatalf("finding %q does not show the estimate k=%.3g", got, 1/rb.invK)
			}
		})
	}
}
