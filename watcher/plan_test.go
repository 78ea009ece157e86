package watcher

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

func TestCandidateVersion(t *testing.T) {
	cases := []struct {
		name      string
		alias     aliasView
		knownGood string
		want      string
	}{
		{"all traffic to new", aliasView{Version: "6"}, "5", "6"},
		{"canary on known-good primary", aliasView{Version: "5", Weights: map[string]float64{"6": 0.1}}, "5", "6"},
		{"new primary, old weighted", aliasView{Version: "6", Weights: map[string]float64{"5": 0.9}}, "5", "6"},
		{"heaviest of two canaries", aliasView{Version: "5", Weights: map[string]float64{"6": 0.1, "7": 0.2}}, "5", "7"},
		{"back on known-good", aliasView{Version: "5"}, "5", "5"},
		{"nothing known", aliasView{Version: "5", Weights: map[string]float64{"6": 0.1}}, "", "5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.alias.candidate(tc.knownGood); got != tc.want {
				t.Fatalf("candidate = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFunctionName(t *testing.T) {
	for in, want := range map[string]string{
		"api": "api",
		"arn:aws:lambda:us-east-1:123456789012:function:api":      "api",
		"arn:aws:lambda:us-east-1:123456789012:function:api:live": "api",
		"123456789012:function:api":                               "api",
		"xfunction:live":                                          "xfunction",
	} {
		if got := FunctionName(in); got != want {
			t.Errorf("FunctionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFloorTime(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 7, 31, 5, time.FixedZone("X", 3600))
	for _, tc := range []struct {
		period time.Duration
		want   time.Time
	}{
		{time.Minute, time.Date(2026, 3, 1, 11, 7, 0, 0, time.UTC)},
		{5 * time.Minute, time.Date(2026, 3, 1, 11, 5, 0, 0, time.UTC)},
		{7 * time.Minute, time.Unix(at.Unix()-at.Unix()%420, 0).UTC()},
	} {
		if got := floorTime(at, tc.period); !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("floorTime(%v) = %v, want %v", tc.period, got, tc.want)
		}
	}
}

func TestPlanWatchAndExpressions(t *testing.T) {
	tg := config.Target{Name: "api", Function: "api", Alias: "live", Rules: []config.Rule{
		{Name: "pct", Kind: config.RuleMetric, Expression: "100*errors/MAX([invocations, 1])"},
		{Name: "own", Kind: config.RuleMetric, Namespace: "N", MetricName: "M", Expression: "m1 + throttles"},
	}}
	config.ApplyTargetDefaults(&tg)
	p := planWatch(ActiveWatch{Target: tg, Watch: store.Watch{NewVersion: "6", KnownGood: "5"}}, false, 0)
	// 4 built-ins, pct, own's hidden metric, own's expression.
	if len(p.series) != 7 || !p.atomic || !p.series[5].hidden {
		t.Fatalf("plan: %d series, atomic %v", len(p.series), p.atomic)
	}
	c := &call{}
	for i := 0; i < 10; i++ { // another watch's queries first: ids shift
		c.add(1, &series{metric: "x", stat: p.series[0].stat}, 0)
	}
	base := len(c.refs)
	for j := range p.series {
		c.add(0, &p.series[j], base)
	}
	if got := aws.ToString(c.queries[base+4].Expression); got != "100*q11/MAX([q10, 1])" {
		t.Fatalf("pct expression = %q", got)
	}
	if got := aws.ToString(c.queries[base+6].Expression); got != "q15 + q12" {
		t.Fatalf("own expression = %q, want m1 and throttles rewritten to q15 + q12", got)
	}
	if *c.queries[base+5].ReturnData {
		t.Fatal("the expression's input is returned as data")
	}
}

func TestPackCallsKeepsExpressionWatchesWhole(t *testing.T) {
	var plans []*watchPlan
	var idx []int
	for i := 0; i < 300; i++ {
		tg := config.Target{Name: fmt.Sprintf("t%d", i), Function: "f", Alias: "a"}
		if i%3 == 0 {
			tg.Rules = []config.Rule{{Name: "r", Kind: config.RuleMetric, Expression: "errors/invocations"}}
		}
		config.ApplyTargetDefaults(&tg)
		p := planWatch(ActiveWatch{Target: tg}, false, 0)
		plans = append(plans, &p)
		idx = append(idx, i)
	}
	calls := packCalls(time.Time{}, time.Time{}, idx, plans)
	total := 0
	for _, c := range calls {
		if len(c.refs) > MaxQueriesPerCall {
			t.Fatalf("call with %d queries", len(c.refs))
		}
		total += len(c.refs)
		// Every expression's references resolve within its own call.
		ids := map[string]bool{}
		for _, q := range c.queries {
			ids[aws.ToString(q.Id)] = true
		}
		for _, q := range c.queries {
			if q.Expression == nil {
				continue
			}
			for _, f := range strings.FieldsFunc(*q.Expression, func(r rune) bool { return r == '/' }) {
				if !ids[f] {
					t.Fatalf("expression %q refers to %s, not in its call", *q.Expression, f)
				}
			}
		}
	}
	if want := 100*5 + 200*4; total != want {
		t.Fatalf("%d queries packed, want %d", total, want)
	}
	if want := (total + MaxQueriesPerCall - 1) / MaxQueriesPerCall; len(calls) != want {
		t.Fatalf("%d calls, want %d", len(calls), want)
	}
}

// Without a split, the reads that cover the deploy's period also read the
// new version's own series (its part of that period undiluted by the
// known-good's invocations before the deploy); later reads do not.
func TestPlanReadsTheNewVersionAroundTheDeploy(t *testing.T) {
	tg := config.Target{Name: "api", Function: "api", Alias: "live"}
	config.ApplyTargetDefaults(&tg)
	detected := time.Date(2026, 3, 2, 12, 0, 40, 0, time.UTC)
	aw := ActiveWatch{Target: tg, Watch: store.Watch{ID: "w", NewVersion: "6", KnownGood: "5", DetectedAt: detected}}
	versions := func(now time.Time, aw ActiveWatch) []string {
		k := keyOf(aw, now)
		var out []string
		for _, s := range planWatch(aw, k.deploy, k.pool).series {
			if s.version != "" && s.metric == "Invocations" {
				out = append(out, s.version)
			}
		}
		return out
	}
	lag := time.Duration(tg.MetricLag) * time.Minute
	for _, tc := range []struct {
		now  time.Time
		want []string
	}{
		{detected.Truncate(time.Minute).Add(time.Minute + 5*time.Second), []string{"6"}},
		{detected.Truncate(time.Minute).Add(lag + 25*time.Second), []string{"6"}},
		{detected.Truncate(time.Minute).Add(lag + time.Minute + 5*time.Second), nil},
	} {
		if got := versions(tc.now, aw); !slices.Equal(got, tc.want) {
			t.Errorf("read at %s: version series %v, want %v", tc.now.Format("15:04:05"), got, tc.want)
		}
	}
	aw.Watch.Weights = map[string]float64{"6": 0.1}
	if got := versions(detected.Add(time.Minute), aw); !slices.Equal(got, []string{"6", "5"}) {
		t.Errorf("split: version series %v, want both", got)
	}
}
