package policy

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// Test helpers: samples on a one-minute grid from t0.

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func dur(d time.Duration) config.Duration { return config.Duration{Duration: d} }

func met(metric, ver string, min int, v float64) sample.Sample {
	return sample.Sample{Kind: sample.KindMetric, Source: "cloudwatch", Metric: metric, Version: ver,
		Time: at(min), Period: time.Minute, Outcome: sample.OutcomeOK, Value: v}
}

func metOut(metric, ver string, min int, o sample.Outcome) sample.Sample {
	s := met(metric, ver, min, 0)
	s.Outcome = o
	return s
}

// rate is Invocations and Errors for minutes [from, to).
func rate(ver string, from, to int, inv, errs float64) []sample.Sample {
	var out []sample.Sample
	for i := from; i < to; i++ {
		out = append(out, met("Invocations", ver, i, inv), met("Errors", ver, i, errs))
	}
	return out
}

// rateOut is Invocations and Errors with one outcome for minutes [from, to).
func rateOut(ver string, from, to int, o sample.Outcome) []sample.Sample {
	var out []sample.Sample
	for i := from; i < to; i++ {
		out = append(out, metOut("Invocations", ver, i, o), metOut("Errors", ver, i, o))
	}
	return out
}

// vals is one value per minute from `from` on.
func vals(metric, ver string, from int, v ...float64) []sample.Sample {
	var out []sample.Sample
	for i, x := range v {
		out = append(out, met(metric, ver, from+i, x))
	}
	return out
}

// probes are results every 30s from minute `from`: '.' ok, 'x' fail, 'e' source error.
func probes(name string, from int, results string) []sample.Sample {
	var out []sample.Sample
	for i, c := range results {
		s := sample.Sample{Kind: sample.KindProbe, Source: name, Time: at(from).Add(time.Duration(i) * 30 * time.Second), Outcome: sample.OutcomeOK, Status: 200}
		switch c {
		case 'x':
			s.Outcome, s.Status = sample.OutcomeFail, 503
		case 'e':
			s.Outcome, s.Status = sample.OutcomeSourceError, 0
		}
		out = append(out, s)
	}
	return out
}

func cat(parts ...[]sample.Sample) []sample.Sample {
	var out []sample.Sample
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// target builds a target the way config.Load would (defaults applied).
func target(bake time.Duration, rules ...config.Rule) config.Target {
	t := config.Target{Name: "t", BakeTime: dur(bake), MetricPeriod: dur(time.Minute),
		Probes: []config.Probe{{Name: "health"}}, Rules: append([]config.Rule(nil), rules...)}
	config.ApplyTargetDefaults(&t)
	// No shape history unless a test asks for one (simPolicyHistory): the
	// fixtures' baselines often reach past the baseline_window, and the
	// default day would read those minutes as history.
	t.ShapeWindow = t.BaselineWindow
	return t
}

// rollbackMinute feeds a watch its minutes' invocations n and errors x
// against the prepared baseline pb, evaluating after each, and returns
// the first minute (1-based) whose verdict fails with its first finding's
// note, or 0.
func rollbackMinute(p *Policy, pb *PreparedBaseline, x, n []float64) (int, string) {
	h := p.NewHistory(Watch{Start: t0, KnownGood: "1", NewVersion: "2"})
	h.SetBaseline(pb)
	for m := range n {
		h.Add(met("Invocations", "", m, n[m]))
		h.Add(met("Errors", "", m, x[m]))
		v := p.Evaluate(Input{WatchStart: t0, KnownGood: "1", NewVersion: "2", Prepared: pb, Evidence: h.Evidence(), Samples: h.samples}, at(m+1).Add(5*time.Second))
		if v.Kind == Failing {
			return m + 1, v.Findings[0].Note
		}
	}
	return 0, ""
}

// wantRollbackBy fails t unless the watch of rollbackMinute is rolled back
// by minute by (what names the watch in the message).
func wantRollbackBy(t *testing.T, p *Policy, pb *PreparedBaseline, x, n []float64, by int, what string) {
	t.Helper()
	m, note := rollbackMinute(p, pb, x, n)
	switch {
	case m == 0:
		t.Errorf("%s for %d minutes: not rolled back", what, len(n))
	case m > by:
		t.Errorf("%s: rolled back in minute %d, want by minute %d", what, m, by)
	default:
		t.Logf("%s: rolled back in minute %d: %s", what, m, note)
	}
}
