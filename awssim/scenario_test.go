package awssim

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

func lambdaQ(id, metric, stat string, dims map[string]string, period int32) types.MetricDataQuery {
	return metricStat(id, "AWS/Lambda", metric, dims, period, stat)
}

func aliasDims(fn, alias string) map[string]string {
	return map[string]string{"FunctionName": fn, "Resource": fn + ":" + alias}
}

func versionDims(fn, alias, v string) map[string]string {
	d := aliasDims(fn, alias)
	d["ExecutedVersion"] = v
	return d
}

func sum(s series) float64 {
	var t float64
	for _, v := range s {
		t += v
	}
	return t
}

func TestLambdaTrafficDimensionsAndDeterminism(t *testing.T) {
	p := Profile{InvocationsPerMin: 200, ErrorRate: 0.05, DurationMs: 100, DurationJitterMs: 10, Seed: 7}
	read := func(seed int64) map[string]series {
		s, c, _ := start(t, Options{})
		pp := p
		pp.Seed = seed
		s.LambdaTraffic("fn", "live", "3", t0, t0.Add(10*time.Minute), pp)
		return getData(t, c.CloudWatch, 0, 10*time.Minute,
			lambdaQ("fnlevel", "Invocations", "Sum", map[string]string{"FunctionName": "fn"}, 60),
			lambdaQ("alias", "Invocations", "Sum", aliasDims("fn", "live"), 60),
			lambdaQ("ver", "Invocations", "Sum", versionDims("fn", "live", "3"), 60),
			lambdaQ("other", "Invocations", "Sum", versionDims("fn", "live", "4"), 60),
			lambdaQ("err", "Errors", "Sum", aliasDims("fn", "live"), 60),
			lambdaQ("rate", "Errors", "Average", aliasDims("fn", "live"), 60),
			lambdaQ("thr", "Throttles", "Sum", aliasDims("fn", "live"), 60),
			lambdaQ("p99", "Duration", "p99", aliasDims("fn", "live"), 60),
			lambdaQ("avg", "Duration", "Average", aliasDims("fn", "live"), 60),
			lambdaQ("n", "Duration", "SampleCount", aliasDims("fn", "live"), 60),
		)
	}
	a, b, other := read(7), read(7), read(8)
	for id := range a {
		if !equalSeries(a[id], b[id]) {
			t.Fatalf("%s differs for the same seed: %v vs %v", id, a[id], b[id])
		}
	}
	if equalSeries(a["alias"], other["alias"]) {
		t.Fatalf("different seeds gave identical invocations %v", a["alias"])
	}
	if len(a["alias"]) != 10 || !equalSeries(a["alias"], a["fnlevel"]) || !equalSeries(a["alias"], a["ver"]) || len(a["other"]) != 0 {
		t.Fatalf("dimension sets: fn %v alias %v ver %v other %v", a["fnlevel"], a["alias"], a["ver"], a["other"])
	}
	inv := sum(a["alias"])
	if inv < 1800 || inv > 2200 {
		t.Fatalf("invocations over 10 min = %v, want ~2000", inv)
	}
	if r := sum(a["err"]) / inv; r < 0.03 || r > 0.07 {
		t.Fatalf("error rate %v, want ~0.05", r)
	}
	for m, v := range a["rate"] {
		if !near(v, a["err"][m]/a["alias"][m]) {
			t.Fatalf("Errors Average %v != Errors/Invocations at minute %d", v, m)
		}
	}
	if sum(a["thr"]) != 0 || len(a["thr"]) != 10 {
		t.Fatalf("throttles %v, want ten zero datapoints", a["thr"])
	}
	for m := range a["p99"] {
		if a["p99"][m] < a["avg"][m] || a["avg"][m] < 70 || a["avg"][m] > 130 || a["n"][m] != a["alias"][m] {
			t.Fatalf("minute %d: p99 %v avg %v samples %v invocations %v", m, a["p99"][m], a["avg"][m], a["n"][m], a["alias"][m])
		}
	}
}

func TestScenarios(t *testing.T) {
	at := t0.Add(time.Hour)
	cases := []struct {
		name                     string
		sc                       Scenario
		minErrRate, maxErrRate   float64
		minP99Ratio, maxP99Ratio float64
	}{
		{"good deploy", GoodDeploy("fn", "live", at), 0, 0.01, 0.7, 1.5},
		{"bad deploy", BadDeploy("fn", "live", at), 0.2, 0.3, 3, 6},
		{"slow deploy", SlowDeploy("fn", "live", at), 0, 0.01, 3, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c, _ := start(t, Options{})
			res := s.Play(tc.sc)
			if v, w, rev := s.Alias("fn", "live"); v != res.New || w != nil || rev != res.RevisionID || res.Known == res.New {
				t.Fatalf("alias %s %v %s after %+v", v, w, rev, res)
			}
			d := aliasDims("fn", "live")
			before := getData(t, c.CloudWatch, 0, time.Hour, lambdaQ("e", "Errors", "Sum", d, 3600), lambdaQ("n", "Invocations", "Sum", d, 3600), lambdaQ("p", "Duration", "p99", d, 3600))
			after := getData(t, c.CloudWatch, time.Hour, 2*time.Hour, lambdaQ("e", "Errors", "Sum", d, 3600), lambdaQ("n", "Invocations", "Sum", d, 3600), lambdaQ("p", "Duration", "p99", d, 3600))
			if r := before["e"][0] / before["n"][0]; r > 0.01 {
				t.Fatalf("baseline error rate %v", r)
			}
			if r := after["e"][60] / after["n"][60]; r < tc.minErrRate || r > tc.maxErrRate {
				t.Fatalf("error rate after deploy %v, want [%v, %v]", r, tc.minErrRate, tc.maxErrRate)
			}
			if r := after["p"][60] / before["p"][0]; r < tc.minP99Ratio || r > tc.maxP99Ratio {
				t.Fatalf("p99 after/before %v, want [%v, %v]", r, tc.minP99Ratio, tc.maxP99Ratio)
			}
		})
	}
}

func TestScenarioCanarySplitsTraffic(t *testing.T) {
	s, c, _ := start(t, Options{})
	res := s.Play(BadDeploy("fn", "live", t0).Canary(0.2))
	v, w, _ := s.Alias("fn", "live")
	if v != res.Known || w[res.New] != 0.2 {
		t.Fatalf("alias %s %v, want %s with %s at 0.2", v, w, res.Known, res.New)
	}
	got := getData(t, c.CloudWatch, 0, time.Hour,
		lambdaQ("all", "Invocations", "Sum", aliasDims("fn", "live"), 3600),
		lambdaQ("old", "Invocations", "Sum", versionDims("fn", "live", res.Known), 3600),
		lambdaQ("new", "Invocations", "Sum", versionDims("fn", "live", res.New), 3600),
		lambdaQ("newErr", "Errors", "Sum", versionDims("fn", "live", res.New), 3600),
		lambdaQ("oldErr", "Errors", "Sum", versionDims("fn", "live", res.Known), 3600),
	)
	all, old, nw := got["all"][0], got["old"][0], got["new"][0]
	if all != old+nw || nw/all < 0.15 || nw/all > 0.25 {
		t.Fatalf("alias %v = old %v + new %v, new share should be ~0.2", all, old, nw)
	}
	if got["newErr"][0]/nw < 0.2 || got["oldErr"][0]/old > 0.01 {
		t.Fatalf("per-version errors: new %v/%v old %v/%v", got["newErr"][0], nw, got["oldErr"][0], old)
	}
}

func TestLowTrafficAndMissingPeriods(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.Play(LowTrafficBadDeploy("fn", "live", t0))
	got := getData(t, c.CloudWatch, 0, time.Hour, lambdaQ("n", "Invocations", "Sum", aliasDims("fn", "live"), 60))
	if len(got["n"]) < 10 || len(got["n"]) > 50 {
		t.Fatalf("%d of 60 low-traffic minutes have data, want roughly half", len(got["n"]))
	}
	s2, c2, _ := start(t, Options{})
	p := HealthyProfile(3)
	p.DropRate = 0.5
	s2.LambdaTraffic("fn", "live", "1", t0, t0.Add(time.Hour), p)
	got = getData(t, c2.CloudWatch, 0, time.Hour, lambdaQ("n", "Invocations", "Sum", aliasDims("fn", "live"), 60))
	if len(got["n"]) < 15 || len(got["n"]) > 45 {
		t.Fatalf("%d of 60 minutes with DropRate 0.5", len(got["n"]))
	}
}

func TestErrorRamp(t *testing.T) {
	s, c, _ := start(t, Options{})
	p := HealthyProfile(4)
	p.InvocationsPerMin, p.ErrorRate, p.ErrorRampTo = 1000, 0, 0.5
	s.LambdaTraffic("fn", "live", "1", t0, t0.Add(time.Hour), p)
	got := getData(t, c.CloudWatch, 0, time.Hour, lambdaQ("r", "Errors", "Average", aliasDims("fn", "live"), 600))
	prev := -1.0
	for m := 0; m < 60; m += 10 {
		if got["r"][m] <= prev {
			t.Fatalf("error rate not ramping: %v", got["r"])
		}
		prev = got["r"][m]
	}
	if got["r"][0] > 0.06 || got["r"][50] < 0.4 {
		t.Fatalf("ramp endpoints %v .. %v", got["r"][0], got["r"][50])
	}
}
