package quality

import (
	"strings"
	"testing"
	"time"
)

// Targets reads each of issue #11's targets off the report, and the
// proposed ones against the fair limit: each is checked on a report
// built to meet or miss it.
func TestTargets(t *testing.T) {
	rb := func(at time.Duration) Decision { return Decision{Failing: true, At: at} }
	miss := Decision{Promoted: true, At: 10 * time.Minute}
	// Judges: canaryd, static, ideal, fair. errors-10x: canaryd catches
	// 3 of 4 (fair 4), p99-2x 4 of 4 (fair 4): 7 of 8 against 8, one
	// kind 25 points short.
	judges := []string{"canaryd", "static", "ideal", "fair"}
	var outs []Outcome
	add := func(k Kind, ds ...Decision) { outs = append(outs, Outcome{Kind: k, Decisions: ds}) }
	for i := range 4 {
		c := rb(time.Duration(40+i) * time.Second)
		if i == 3 {
			c = miss
		}
		add(BadErrors10x, c, rb(2*time.Minute), rb(20*time.Second), rb(30*time.Second))
		add(BadP99x2, rb(time.Duration(60+i)*time.Second), miss, rb(50*time.Second), rb(55*time.Second))
	}
	add(GoodSteady, miss, rb(time.Minute), miss, miss)
	rep := &Report{Judges: judges, Kinds: []Kind{GoodSteady, BadErrors10x, BadP99x2}, Outcomes: outs}
	got := map[string]Target{}
	for _, tg := range rep.Targets() {
		got[tg.Goal] = tg
	}
	want := []struct {
		goal   string
		met    bool
		detail string
	}{
		{"0 false rollbacks", true, "0 of 1 good deploys"},
		{">= 98% caught in time", false, "7 of 8, 87.5%; the ideal test 100.0%, the fair limit 100.0%"},
		{"median detection <= 1m30s", true, "1m0s; the ideal test 20s, the fair limit 30s"},
		{"better than the static alarm on every column", true, "false rollbacks 0 against 1, caught in time 7 against 4, median 1m0s against 2m0s, p90 1m3s against 2m0s"},
		{"caught in time within 1 point of the fair limit", false, "87.5% against 100.0% (-12.5 points)"},
		{"within 5 points of it on every bad kind", false, "not on bad/errors-10x 75.0% against 100.0%"},
		{"median within 30s of the fair limit's on the bad deploys both catch in time", true, "1m0s against 55s on 7"},
	}
	if len(got) != len(want) {
		t.Errorf("%d targets, want %d: %+v", len(got), len(want), got)
	}
	for _, w := range want {
		g, ok := got[w.goal]
		if !ok || g.Met != w.met || g.Detail != w.detail {
			t.Errorf("%s: got %+v, want met %v, %q", w.goal, g, w.met, w.detail)
		}
	}

	// Flipped: canaryd rolls the good deploy back, is slower than static,
	// and catches the fourth errors-10x: every kind within 5 points.
	outs[6].Decisions[0] = rb(50 * time.Second)
	for i := range outs {
		if spec, _ := Spec(outs[i].Kind); spec.Bad {
			outs[i].Decisions[0].At += 2 * time.Minute
			outs[i].Decisions[1] = rb(10 * time.Second)
		}
	}
	outs[8].Decisions[0] = rb(time.Minute)
	got = map[string]Target{}
	for _, tg := range rep.Targets() {
		got[tg.Goal] = tg
	}
	for goal, met := range map[string]bool{"0 false rollbacks": false, "within 5 points of it on every bad kind": true,
		"better than the static alarm on every column": false, "median detection <= 1m30s": false,
		"median within 30s of the fair limit's on the bad deploys both catch in time": false} {
		if got[goal].Met != met {
			t.Errorf("flipped: %s met %v, want %v (%s)", goal, got[goal].Met, met, got[goal].Detail)
		}
	}
	if d := got["better than the static alarm on every column"].Detail; !strings.Contains(d, "false rollbacks 1 against 1") || !strings.Contains(d, "median 2m50s against 10s") {
		t.Errorf("flipped: static detail %q", d)
	}

	// Without a fair judge only the issue's own targets are checked;
	// without canaryd none.
	rep.Judges, rep.Outcomes = judges[:3], outs
	for i := range outs {
		outs[i].Decisions = outs[i].Decisions[:3]
	}
	if n := len(rep.Targets()); n != 4 {
		t.Errorf("without fair: %d targets, want 4", n)
	}
	rep.Judges = []string{"static", "ideal", "fair"}
	if ts := rep.Targets(); ts != nil {
		t.Errorf("without canaryd: %+v", ts)
	}
}
