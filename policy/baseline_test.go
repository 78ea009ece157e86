package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
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
