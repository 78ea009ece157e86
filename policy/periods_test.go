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
	// Its own series read before CloudWatch had them (no_data) and not read
	// again: the alias's counts are judged.
	late := []sample.Sample{metOut("Invocations", "2", 0, sample.OutcomeNoData), metOut("Errors", "2", 0, sample.OutcomeNoData)}
	v := eval(cat(alias, late))
	if v.Kind == Failing {
		t.Errorf("own counts missing: %s", dump(v))
	}
	for _, f := range v.Findings {
		if f.Rule == cmpErr.Name && f.Evidence != 1000 {
			t.Errorf("own counts missing: judged %v invocations, want the alias's 1000", f.Evidence)
		}
	}
}
