package policy

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// Without a split, the new version's own counts of the deploy's period
// (the watcher reads them around the deploy) stand for the alias's, which
// mix in the known-good's invocations from before the deploy: a 10x error
// rate deployed 50 s into the minute is 17 of the new version's 167
// invocations, but only 25 of the alias's 1,000.
func TestDeployPeriodOwnCounts(t *testing.T) {
	p, err := Compile(target(10*time.Minute, cmpErr))
	if err != nil {
		t.Fatal(err)
	}
	start := at(0).Add(50 * time.Second)
	alias := rate("", 0, 1, 1000, 25)
	own := rate("2", 0, 1, 167, 17)
	now := at(1).Add(10 * time.Second)
	eval := func(samples []sample.Sample) Verdict {
		return p.Evaluate(Input{WatchStart: start, NewVersion: "2", KnownGood: "1", Samples: samples, Baseline: baseRate(1000, 10)}, now)
	}
	if v := eval(cat(alias, own)); v.Kind != Failing {
		t.Errorf("the new version's own counts: %s", dump(v))
	}
	if v := eval(alias); v.Kind == Failing {
		t.Errorf("the alias's counts alone carry too little: %s", dump(v))
	}
	// Its own series could not be read (a source error): the alias's
	// counts are judged.
	failed := []sample.Sample{metOut("Invocations", "2", 0, sample.OutcomeSourceError), metOut("Errors", "2", 0, sample.OutcomeSourceError)}
	v := eval(cat(alias, failed))
	if v.Kind == Failing {
		t.Errorf("own counts unreadable: %s", dump(v))
	}
	if f := finding(t, v, cmpErr.Name); f.Evidence != 1000 {
		t.Errorf("own counts unreadable: judged %v invocations, want the alias's 1000", f.Evidence)
	}
	// No data for its own series where the alias's counts say it should
	// have had some 167 invocations: not yet delivered when the watcher
	// last read them, and the alias's counts are judged.
	late := []sample.Sample{metOut("Invocations", "2", 0, sample.OutcomeNoData), metOut("Errors", "2", 0, sample.OutcomeNoData)}
	if f := finding(t, eval(cat(alias, late)), cmpErr.Name); f.Evidence != 1000 {
		t.Errorf("own counts not yet delivered: judged %v invocations, want the alias's 1000", f.Evidence)
	}
}

// A hard failure at low traffic deployed in the last seconds of a minute:
// the new version has no invocations in the deploy's period (no data for
// its own counts, where the alias's 15 in the minute let it expect 0.5),
// whose 15 are the known-good's, all fine. Judged as the new version's, they told the
// mixture over effects that nothing fails, and the 12-of-12 failing
// minutes after it waited for evidence against that (TestDeployPeriodOwnCounts).
func TestDeployPeriodWithoutNewInvocations(t *testing.T) {
	p, err := Compile(target(10*time.Minute, errRate))
	if err != nil {
		t.Fatal(err)
	}
	start := at(0).Add(58 * time.Second)
	samples := cat(rate("", 0, 1, 15, 0),
		[]sample.Sample{metOut("Invocations", "2", 0, sample.OutcomeNoData), metOut("Errors", "2", 0, sample.OutcomeNoData)},
		rate("", 1, 4, 12, 12), rate("2", 1, 4, 12, 12))
	v := p.Evaluate(Input{WatchStart: start, NewVersion: "2", KnownGood: "1", Samples: samples, Baseline: baseRate(12, 0)}, at(4).Add(10*time.Second))
	if f := finding(t, v, errRate.Name); f.Evidence != 36 {
		t.Errorf("judged %v invocations, want the 36 after the deploy's period", f.Evidence)
	}
	if v.Kind != Failing {
		t.Errorf("36 of 36 failing after the deploy: %s", dump(v))
	}
}
