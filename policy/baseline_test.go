package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy/seqtest"
	"github.com/canaryd/canaryd/sample"
)

// findingText is everything a finding says, pointers followed (NaN reads
// as NaN, so equal findings give equal texts).
func findingText(f Finding) string {
	base, pv := "none", "none"
	if f.Baseline != nil {
		base = fmt.Sprint(*f.Baseline)
	}
	if f.PValue != nil {
		pv = fmt.Sprint(*f.PValue)
	}
	f.Baseline, f.PValue = nil, nil
	return fmt.Sprintf("%+v baseline=%s p=%s", f, base, pv)
}

func verdictText(v Verdict) string {
	s := fmt.Sprintf("%s %v %q %q", v.Kind, v.AlertOnly, v.AlertWhy, v.Summary)
	for _, f := range v.Findings {
		s += " || " + findingText(f)
	}
	return s
}

// The daemon judges a watch on its known-good's probe results alone until
// CloudWatch answers (or for good when the read fails): a baseline prepared
// from probe results only must leave every metric rule exactly as without
// a baseline (relative rules inconclusive, absolute ones judged on their
// threshold), whatever the probe results say, folded or not; only probe
// rules may differ.
func TestProbeOnlyBaselineIsNoMetricBaseline(t *testing.T) {
	ratio := func(r config.Rule, th float64) config.Rule {
		return with(r, func(r *config.Rule) { r.Name, r.Baseline, r.Threshold = r.Name+"-"+"ratio", "ratio", th })
	}
	delta := with(errRate, func(r *config.Rule) { r.Name, r.Baseline, r.Threshold = "err-delta", "delta", 0.03 })
	warm := with(cmpLat, func(r *config.Rule) { r.Name, r.Warmup = "cmp-lat-warm", dur(2*time.Minute) })
	metricRules := []config.Rule{errRate, ratio(errRate, 2), delta, cmpErr, lat, ratio(lat, 1.5), cmpLat, warm, thr, queue}
	probeBaselines := map[string][]sample.Sample{
		"passing":         probes("health", -20, strings.Repeat(".", 40)),
		"failing":         probes("health", -20, strings.Repeat("x", 40)),
		"failing lately":  probes("health", -20, strings.Repeat(".", 28)+strings.Repeat("x", 12)), // a step: an incident began
		"source errors":   probes("health", -20, strings.Repeat("e", 40)),
		"another probe's": probes("ready", -20, strings.Repeat("x", 40)),
	}
	feed := watchFeed(7, 40, func(m int) float64 {
		if m >= 20 {
			return 0.2 // a regression: absolute and (were there a baseline) relative rules trip
		}
		return 0.01
	}, func(m int) bool { return m >= 10 && m < 15 })
	for _, withProbeRule := range []bool{true, false} {
		rules := metricRules
		if withProbeRule {
			rules = append(append([]config.Rule(nil), metricRules...), health)
		}
		tg := target(10*time.Minute, rules...)
		tg.Probes = append(tg.Probes, config.Probe{Name: "ready"})
		tg.ShapeWindow = dur(24 * time.Hour) // a target that reads a shape history too
		p, err := Compile(tg)
		if err != nil {
			t.Fatal(err)
		}
		for name, base := range probeBaselines {
			t.Run(fmt.Sprintf("%s/probe rule %v", name, withProbeRule), func(t *testing.T) {
				compareProbeOnly(t, p, base, feed, withProbeRule)
			})
		}
	}
}

// compareProbeOnly feeds one watch to two folding Histories, one with
// the baseline prepared from probe results alone, one with none, and
// compares the verdicts at every delivery: every metric rule's finding
// the same, and with no probe rule the whole verdict.
func compareProbeOnly(t *testing.T, p *Policy, base []sample.Sample, feed []delivery, probeRule bool) {
	t.Helper()
	w := Watch{Start: t0, KnownGood: "1", NewVersion: "2"}
	probeOnly, none := p.PrepareBaseline(base), p.PrepareBaseline(nil)
	hp, hn := p.NewHistory(w), p.NewHistory(w)
	hp.SetBaseline(probeOnly)
	hn.SetBaseline(none)
	tripped, judged := 0, 0
	for _, d := range feed {
		for _, s := range d.samples {
			hp.Add(s)
			hn.Add(s)
		}
		in := Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Split: !d.at.Before(at(10)) && d.at.Before(at(15))}
		a, b := in, in
		a.Evidence, a.Samples, a.Prepared = hp.Evidence(), hp.Samples(), probeOnly
		b.Evidence, b.Samples, b.Prepared = hn.Evidence(), hn.Samples(), none
		va, vb := p.Evaluate(a, d.at), p.Evaluate(b, d.at)
		for i, fa := range va.Findings {
			if fa.RuleKind == config.RuleProbe {
				continue
			}
			if ta, tb := findingText(fa), findingText(vb.Findings[i]); ta != tb {
				t.Fatalf("at +%s rule %s:\nprobe-only baseline: %s\nno baseline:         %s", d.at.Sub(t0), fa.Rule, ta, tb)
			}
			if fa.Breached {
				tripped++
			}
			if fa.Enough {
				judged++
			}
		}
		if ta, tb := verdictText(va), verdictText(vb); !probeRule && ta != tb {
			t.Fatalf("at +%s, without a probe rule:\nprobe-only baseline: %s\nno baseline:         %s", d.at.Sub(t0), ta, tb)
		}
	}
	if tripped == 0 || judged == 0 {
		t.Fatalf("the feed tripped %d and judged %d metric findings: it tests nothing", tripped, judged)
	}
	for _, f := range p.Evaluate(Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Prepared: probeOnly}, at(1)).Findings {
		relative := f.RuleKind == config.RuleCompareErrors || f.RuleKind == config.RuleCompareLatency || strings.HasSuffix(f.Rule, "-ratio") || f.Rule == "err-delta"
		if relative && !strings.Contains(f.Note, "no pre-deploy baseline") {
			t.Errorf("relative rule %s with probe results only: %q, want it to say it has no pre-deploy baseline", f.Rule, f.Note)
		}
	}
}

// compare_latency's prior on the known-good's slow share learns from the
// trimmed counts of the shape history's stretch before the baseline, as
// compare_errors' does from its errors (historyPrior): against the same
// reference block and a regression's counts its e-value is larger than
// with the baseline's first quarter alone, on average by about what a
// prior five times as informed saves, ½·log(1 + 23/7) - ½·log(1 + 23/37)
// ≈ 0.5 nats (0.4 measured: the tempering and the vague component).
func TestCompareLatencyPriorLearnsFromHistory(t *testing.T) {
	rule := config.Rule{Name: "cmp-lat", Kind: config.RuleCompareLatency, MinEffect: 0.1, Warmup: dur(40 * time.Second)}
	p := simPolicyHistory(t, rule, config.DefaultConfidence, 30)
	r := rng{rand.New(rand.NewPCG(7, 7))}
	const watches = 200
	var gain float64
	for range watches {
		var in []sample.Sample
		for m := -60; m < 0; m++ {
			inv := r.poisson(1000)
			x0 := r.events(inv, 0.01, 0)
			in = append(in, met("Invocations", "", m, inv), met("Duration.TC(400:)", "", m, x0),
				met("Duration.TC(440:)", "", m, math.Min(x0, r.events(inv, 0.006, 0))), met("Duration.p99", "", m, 400))
		}
		pb := p.PrepareBaseline(in)
		pr, rb := &p.rules[0], &pb.rules[0]
		if !pb.hasHistory(pr, rb) {
			t.Fatal("the shape history holds no slow counts for the rule")
		}
		_, x, n := pb.blockSeries(pr, rb.eventsKg)
		cut := priorPeriods(len(x))
		early := rb.tempered(x[:cut], n[:cut])
		quarterOnly := newTwoSample(pr, twoSampleNull(pr)).WithInformedPrior(early.X, early.N, informedWeight)
		// Five minutes of a version twice as slow at the tail, drawn.
		cur := seqtest.Block{X: float64(r.poisson(2 * rb.rate * 5000)), N: 5000}
		gain += rb.two.LogE(rb.ref, cur, nil) - quarterOnly.LogE(rb.ref, cur, nil)
	}
	gain /= watches
	t.Logf("the history adds %.2f nats on average (%d watches)", gain, watches)
	if gain < 0.3 {
		t.Errorf("the history before the baseline added %.2f nats to compare_latency's e-value on average, want about 0.4", gain)
	}
}
