package awssim

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

func getConcurrency(t *testing.T, c *lambda.Client, fn string) *int32 {
	t.Helper()
	out, err := c.GetFunctionConcurrency(ctx(t), &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(fn)})
	if err != nil {
		t.Fatal(err)
	}
	return out.ReservedConcurrentExecutions
}

func TestLambdaFunctionConcurrencyRoundTrip(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateFunction("fn")
	if got := getConcurrency(t, c.Lambda, "fn"); got != nil {
		t.Fatalf("GetFunctionConcurrency before any Put = %d, want none", *got)
	}
	put, err := c.Lambda.PutFunctionConcurrency(ctx(t), &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("fn"), ReservedConcurrentExecutions: aws.Int32(50)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(put.ReservedConcurrentExecutions) != 50 {
		t.Fatalf("PutFunctionConcurrency = %v, want 50", put.ReservedConcurrentExecutions)
	}
	if got := getConcurrency(t, c.Lambda, "fn"); aws.ToInt32(got) != 50 {
		t.Fatalf("GetFunctionConcurrency = %v, want 50", got)
	}
	// a full ARN names the same function; a new Put replaces the value
	arn := "arn:aws:lambda:us-east-1:123456789012:function:fn"
	if _, err := c.Lambda.PutFunctionConcurrency(ctx(t), &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String(arn), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	if got := getConcurrency(t, c.Lambda, arn); got == nil || *got != 0 {
		t.Fatalf("GetFunctionConcurrency after Put 0 = %v, want 0 (a reservation of 0 is not none)", got)
	}
	if n, ok := s.ReservedConcurrency("fn"); n != 0 || !ok {
		t.Fatalf("Sim.ReservedConcurrency = %d %v, want 0 true", n, ok)
	}
	if _, err := c.Lambda.DeleteFunctionConcurrency(ctx(t), &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	if got := getConcurrency(t, c.Lambda, "fn"); got != nil {
		t.Fatalf("GetFunctionConcurrency after Delete = %d, want none", *got)
	}
	if _, ok := s.ReservedConcurrency("fn"); ok {
		t.Fatal("Sim.ReservedConcurrency still set after Delete")
	}
	puts := s.Calls("PutFunctionConcurrency")
	if len(puts) != 2 || puts[0].Params["FunctionName"] != "fn" || puts[0].Params["ReservedConcurrentExecutions"] != 50 ||
		puts[1].Params["FunctionName"] != "fn" || puts[0].Result["ReservedConcurrentExecutions"] != 50 {
		t.Fatalf("PutFunctionConcurrency calls = %+v", puts)
	}
	if dels := s.Calls("DeleteFunctionConcurrency"); len(dels) != 1 || dels[0].Status != 204 {
		t.Fatalf("DeleteFunctionConcurrency calls = %+v, want one answered 204", dels)
	}
	if n := len(s.Calls("GetFunctionConcurrency")); n != 4 {
		t.Fatalf("%d GetFunctionConcurrency calls recorded, want 4", n)
	}
}

func accountSettings(t *testing.T, c *lambda.Client) *lambda.GetAccountSettingsOutput {
	t.Helper()
	out, err := c.GetAccountSettings(ctx(t), &lambda.GetAccountSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if out.AccountLimit == nil || out.AccountUsage == nil {
		t.Fatalf("GetAccountSettings = %+v, want AccountLimit and AccountUsage", out)
	}
	return out
}

func TestLambdaGetAccountSettings(t *testing.T) {
	s, c, _ := start(t, Options{})
	check := func(step string, limit, unreserved int32, functions int64) {
		t.Helper()
		out := accountSettings(t, c.Lambda)
		l := out.AccountLimit
		if l.ConcurrentExecutions != limit || aws.ToInt32(l.UnreservedConcurrentExecutions) != unreserved ||
			out.AccountUsage.FunctionCount != functions {
			t.Fatalf("%s: limit %d, unreserved %v, functions %d; want %d, %d, %d", step,
				l.ConcurrentExecutions, l.UnreservedConcurrentExecutions, out.AccountUsage.FunctionCount, limit, unreserved, functions)
		}
		if l.CodeSizeZipped != 52428800 || l.CodeSizeUnzipped != 262144000 || l.TotalCodeSize != 80530636800 {
			t.Fatalf("%s: code size limits %+v", step, l)
		}
	}
	check("empty account", 1000, 1000, 0)
	s.CreateFunction("a")
	s.CreateFunction("b")
	s.CreateFunction("c")
	for fn, n := range map[string]int32{"a": 300, "b": 200} {
		if _, err := c.Lambda.PutFunctionConcurrency(ctx(t), &lambda.PutFunctionConcurrencyInput{
			FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(n)}); err != nil {
			t.Fatal(err)
		}
	}
	check("a=300 b=200", 1000, 500, 3)
	if _, err := c.Lambda.PutFunctionConcurrency(ctx(t), &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("a"), ReservedConcurrentExecutions: aws.Int32(100)}); err != nil {
		t.Fatal(err)
	}
	check("a lowered to 100", 1000, 700, 3)
	if _, err := c.Lambda.DeleteFunctionConcurrency(ctx(t), &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("b")}); err != nil {
		t.Fatal(err)
	}
	check("b deleted", 1000, 900, 3)
	s.SetAccountConcurrency(3000)
	check("limit 3000", 3000, 2900, 3)
	s.SetAccountConcurrency(0)
	check("default restored", 1000, 900, 3)
}

func TestLambdaFunctionConcurrencyErrors(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateFunction("a")
	s.CreateFunction("b")
	put := func(fn string, n int32) error {
		_, err := c.Lambda.PutFunctionConcurrency(ctx(t), &lambda.PutFunctionConcurrencyInput{
			FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(n)})
		return err
	}
	cases := []struct {
		name       string
		call       func() error
		wantCode   string
		wantStatus int
		wantIn     string // in the message
	}{
		{"put unknown function", func() error { return put("nope", 10) }, "ResourceNotFoundException", 404, "function:nope"},
		{"get unknown function", func() error {
			_, err := c.Lambda.GetFunctionConcurrency(ctx(t), &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", 404, "function:nope"},
		{"delete unknown function", func() error {
			_, err := c.Lambda.DeleteFunctionConcurrency(ctx(t), &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", 404, "function:nope"},
		{"above limit-100", func() error { return put("a", 901) }, "InvalidParameterValueException", 400, "minimum value of [100]"},
		{"negative", func() error { return put("a", -1) }, "InvalidParameterValueException", 400, "greater than or equal to 0"},
		{"qualified name", func() error { return put("a:live", 1) }, "InvalidParameterValueException", 400, "unqualified"},
		{"at limit-100 is fine", func() error { return put("a", 900) }, "", 0, ""},
		{"other functions' reservations count", func() error { return put("b", 1) }, "InvalidParameterValueException", 400, "reserved by other functions 900"},
		{"replacing one's own reservation does not count it twice", func() error { return put("a", 850) }, "", 0, ""},
		{"the rest fits", func() error { return put("b", 50) }, "", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			var ae smithy.APIError
			if apiCode(err) != tc.wantCode || httpStatus(err) != tc.wantStatus || !errors.As(err, &ae) || !strings.Contains(ae.ErrorMessage(), tc.wantIn) {
				t.Fatalf("err = %v (code %q, status %d), want %s %d with %q", err, apiCode(err), httpStatus(err), tc.wantCode, tc.wantStatus, tc.wantIn)
			}
		})
	}
	if out := accountSettings(t, c.Lambda); aws.ToInt32(out.AccountLimit.UnreservedConcurrentExecutions) != 100 {
		t.Fatalf("unreserved = %v after a=850 b=50, want 100 (failed Puts change nothing)", out.AccountLimit.UnreservedConcurrentExecutions)
	}
	var ipv *types.InvalidParameterValueException
	if err := put("a", 1000); !errors.As(err, &ipv) {
		t.Fatalf("err %v, want the modeled InvalidParameterValueException", err)
	}
	if n, _ := s.ReservedConcurrency("a"); n != 850 {
		t.Fatalf("a = %d after a refused Put, want 850", n)
	}
}

// TestLambdaInvokeHeldToReservedConcurrency: synchronous invokes beyond
// the reservation are throttled as Lambda throttles them.
func TestLambdaInvokeHeldToReservedConcurrency(t *testing.T) {
	s, c, _ := start(t, Options{FastRetries: true}) // no adaptive client-side rate limiting after the throttles
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the server closes, even when the test fails early
	s.SetInvokeHandler("fn", func(p []byte) ([]byte, string) {
		if string(p) == `"block"` {
			entered <- struct{}{}
			<-release
		}
		return []byte(`"ok"`), ""
	})
	s.SetReservedConcurrency("fn", 1)
	cx := ctx(t)
	invoke := func(payload string) error {
		_, err := c.Lambda.Invoke(cx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(payload)}, noRetry)
		return err
	}
	first := make(chan error, 1)
	go func() { first <- invoke(`"block"`) }()
	<-entered // the first invoke holds the only slot
	err := invoke(`"x"`)
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Fatalf("second invoke: %v, want TooManyRequestsException ReservedFunctionConcurrentInvocationLimitExceeded", err)
	}
	unblock()
	if err := <-first; err != nil {
		t.Fatalf("first invoke: %v", err)
	}
	if err := invoke(`"x"`); err != nil {
		t.Fatalf("invoke after the slot freed: %v", err)
	}
	s.SetReservedConcurrency("fn", 0)
	if err := invoke(`"x"`); apiCode(err) != "TooManyRequestsException" {
		t.Fatalf("invoke with reservation 0: %v, want TooManyRequestsException", err)
	}
	s.SetReservedConcurrency("fn", -1)
	if err := invoke(`"x"`); err != nil {
		t.Fatalf("invoke without reservation: %v", err)
	}
}

// wantPeak is the model: ceil(1.2 * Σ invocations * mean duration / 60000).
func wantPeak(invAndAvg ...float64) float64 {
	var c float64
	for i := 0; i+1 < len(invAndAvg); i += 2 {
		c += invAndAvg[i] * invAndAvg[i+1] / 60000
	}
	return math.Max(1, math.Ceil(1.2*c))
}

var busyProfile = Profile{InvocationsPerMin: 3000, ErrorRate: 0.01, DurationMs: 200, DurationJitterMs: 30, Seed: 7} // peak ~12

func fnDims(fn string) map[string]string { return map[string]string{"FunctionName": fn} }

func TestLambdaTrafficConcurrentExecutions(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.LambdaTraffic("api", "live", "1", t0, t0.Add(10*time.Minute), busyProfile)
	got := getData(t, c.CloudWatch, 0, 10*time.Minute,
		metricStat("inv", "AWS/Lambda", "Invocations", fnDims("api"), 60, "Sum"),
		metricStat("dur", "AWS/Lambda", "Duration", fnDims("api"), 60, "Average"),
		metricStat("conc", "AWS/Lambda", "ConcurrentExecutions", fnDims("api"), 60, "Maximum"),
		metricStat("acct", "AWS/Lambda", "ConcurrentExecutions", nil, 60, "Maximum"),
		metricStat("unres", "AWS/Lambda", "UnreservedConcurrentExecutions", nil, 60, "Maximum"),
		metricStat("alias", "AWS/Lambda", "ConcurrentExecutions", aliasDims("api", "live"), 60, "Maximum"))
	if len(got["conc"]) != 10 {
		t.Fatalf("ConcurrentExecutions has %d datapoints, want 10: %v", len(got["conc"]), got["conc"])
	}
	for m, v := range got["conc"] {
		want := wantPeak(got["inv"][m], got["dur"][m])
		if v != want || v < 10 || v > 14 {
			t.Errorf("minute %d: ConcurrentExecutions %v, want %v = ceil(1.2 * %v inv * %v ms / 60000), ~12", m, v, want, got["inv"][m], got["dur"][m])
		}
	}
	if !equalSeries(got["acct"], got["conc"]) || !equalSeries(got["unres"], got["conc"]) {
		t.Fatalf("one function without reservation: account %v, unreserved %v, want the function's %v", got["acct"], got["unres"], got["conc"])
	}
	if len(got["alias"]) != 0 {
		t.Fatalf("ConcurrentExecutions under {FunctionName, Resource} = %v, want none (FunctionName only)", got["alias"])
	}
	// a 5-minute period's Maximum is the peak of its minutes
	five := getData(t, c.CloudWatch, 0, 5*time.Minute, metricStat("c5", "AWS/Lambda", "ConcurrentExecutions", fnDims("api"), 300, "Maximum"))
	peak := 0.0
	for m := range 5 {
		peak = math.Max(peak, got["conc"][m])
	}
	if !equalSeries(five["c5"], series{0: peak}) {
		t.Fatalf("5-minute Maximum = %v, want %v", five["c5"], peak)
	}
}

// TestLambdaTrafficConcurrencyAddsUp: versions of one function run
// together; the account sums its functions, the unreserved aggregate only
// those without a reservation.
func TestLambdaTrafficConcurrencyAddsUp(t *testing.T) {
	s, c, _ := start(t, Options{})
	old, canary := busyProfile, busyProfile
	old.InvocationsPerMin, canary.DurationMs, canary.Seed = 2000, 600, 8
	canary.InvocationsPerMin = 1000
	s.LambdaTraffic("api", "live", "1", t0, t0.Add(5*time.Minute), old)
	s.LambdaTraffic("api", "live", "2", t0, t0.Add(5*time.Minute), canary)
	s.SetReservedConcurrency("jobs", 200) // far above its needs: no throttling
	s.LambdaTraffic("jobs", "live", "1", t0.Add(2*time.Minute), t0.Add(7*time.Minute), busyProfile)
	m := func(id, name string, dims map[string]string, stat string) cwtypes.MetricDataQuery {
		return metricStat(id, "AWS/Lambda", name, dims, 60, stat)
	}
	got := getData(t, c.CloudWatch, 0, 7*time.Minute,
		m("inv1", "Invocations", versionDims("api", "live", "1"), "Sum"), m("dur1", "Duration", versionDims("api", "live", "1"), "Average"),
		m("inv2", "Invocations", versionDims("api", "live", "2"), "Sum"), m("dur2", "Duration", versionDims("api", "live", "2"), "Average"),
		m("invj", "Invocations", fnDims("jobs"), "Sum"), m("durj", "Duration", fnDims("jobs"), "Average"),
		m("thrj", "Throttles", fnDims("jobs"), "Sum"),
		m("api", "ConcurrentExecutions", fnDims("api"), "Maximum"), m("jobs", "ConcurrentExecutions", fnDims("jobs"), "Maximum"),
		m("acct", "ConcurrentExecutions", nil, "Maximum"), m("unres", "UnreservedConcurrentExecutions", nil, "Maximum"))
	if len(got["api"]) != 5 || len(got["jobs"]) != 5 || len(got["acct"]) != 7 {
		t.Fatalf("datapoints: api %v, jobs %v, account %v", got["api"], got["jobs"], got["acct"])
	}
	for mi := range 7 {
		if mi < 5 {
			want := wantPeak(got["inv1"][mi], got["dur1"][mi], got["inv2"][mi], got["dur2"][mi])
			if got["api"][mi] != want || want < 20 {
				t.Errorf("minute %d: api %v, want %v (both versions together, ~24)", mi, got["api"][mi], want)
			}
		}
		if mi >= 2 {
			if want := wantPeak(got["invj"][mi], got["durj"][mi]); got["jobs"][mi] != want {
				t.Errorf("minute %d: jobs %v, want %v", mi, got["jobs"][mi], want)
			}
			if got["thrj"][mi] != 0 {
				t.Errorf("minute %d: jobs throttled %v under a reservation it never reaches", mi, got["thrj"][mi])
			}
		}
		if a := got["api"][mi] + got["jobs"][mi]; got["acct"][mi] != a {
			t.Errorf("minute %d: account %v, want api+jobs %v", mi, got["acct"][mi], a)
		}
	}
	if want := (series{0: got["api"][0], 1: got["api"][1], 2: got["api"][2], 3: got["api"][3], 4: got["api"][4]}); !equalSeries(got["unres"], want) {
		t.Fatalf("unreserved %v, want api's alone %v (jobs has a reservation)", got["unres"], want)
	}
}

// TestLambdaTrafficReservedConcurrencyThrottles: a reservation set through
// the API caps the traffic written afterwards; what it cannot serve is
// throttled. The same traffic without the reservation (another simulator,
// same seed) is the reference.
func TestLambdaTrafficReservedConcurrencyThrottles(t *testing.T) {
	s, c, _ := start(t, Options{})
	refSim, refClients, _ := start(t, Options{})
	s.CreateFunction("api")
	window := func(sim *Sim, k int) { // minutes [10k, 10k+10)
		sim.LambdaTraffic("api", "live", "1", t0.Add(time.Duration(10*k)*time.Minute), t0.Add(time.Duration(10*k+10)*time.Minute), busyProfile)
	}
	window(s, 0) // before the reservation: not capped
	if _, err := c.Lambda.PutFunctionConcurrency(ctx(t), &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("api"), ReservedConcurrentExecutions: aws.Int32(5)}); err != nil {
		t.Fatal(err)
	}
	window(s, 1) // capped at 5
	if _, err := c.Lambda.DeleteFunctionConcurrency(ctx(t), &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("api")}); err != nil {
		t.Fatal(err)
	}
	window(s, 2) // not capped again
	for k := range 3 {
		window(refSim, k)
	}
	queries := func() []cwtypes.MetricDataQuery {
		return []cwtypes.MetricDataQuery{
			metricStat("inv", "AWS/Lambda", "Invocations", fnDims("api"), 60, "Sum"),
			metricStat("thr", "AWS/Lambda", "Throttles", fnDims("api"), 60, "Sum"),
			metricStat("err", "AWS/Lambda", "Errors", fnDims("api"), 60, "Sum"),
			metricStat("dur", "AWS/Lambda", "Duration", fnDims("api"), 60, "Average"),
			metricStat("dn", "AWS/Lambda", "Duration", aliasDims("api", "live"), 60, "SampleCount"),
			metricStat("conc", "AWS/Lambda", "ConcurrentExecutions", fnDims("api"), 60, "Maximum"),
			metricStat("acct", "AWS/Lambda", "ConcurrentExecutions", nil, 60, "Maximum"),
			metricStat("unres", "AWS/Lambda", "UnreservedConcurrentExecutions", nil, 60, "Maximum"),
		}
	}
	got := getData(t, c.CloudWatch, 0, 30*time.Minute, queries()...)
	want := getData(t, refClients.CloudWatch, 0, 30*time.Minute, queries()...)
	for m := range 30 {
		capped := m >= 10 && m < 20
		if !capped {
			for _, id := range []string{"inv", "thr", "err", "conc", "acct", "unres"} {
				if got[id][m] != want[id][m] {
					t.Errorf("minute %d (no reservation): %s %v, want %v as without one", m, id, got[id][m], want[id][m])
				}
			}
			continue
		}
		inv, thr := got["inv"][m], got["thr"][m]
		if got["conc"][m] != 5 || want["conc"][m] <= 5 {
			t.Errorf("minute %d: ConcurrentExecutions %v (unreserved %v), want 5", m, got["conc"][m], want["conc"][m])
		}
		if thr <= 0 || inv+thr != want["inv"][m] || want["thr"][m] != 0 {
			t.Errorf("minute %d: %v invocations + %v throttles, want the %v requested", m, inv, thr, want["inv"][m])
		}
		// served: as many as 5 concurrent executions serve at this duration
		f := 5 / (1.2 * want["inv"][m] * want["dur"][m] / 60000)
		if math.Abs(inv-math.Floor(want["inv"][m]*f)) > 1 || wantPeak(inv, got["dur"][m]) > 5 {
			t.Errorf("minute %d: %v invocations served, want about %v", m, inv, math.Floor(want["inv"][m]*f))
		}
		if scaled := want["err"][m] * inv / want["inv"][m]; math.Abs(got["err"][m]-scaled) > 1 || want["err"][m] < 10 {
			t.Errorf("minute %d: %v errors, want %v of the %v unthrottled scaled to the invocations served", m, got["err"][m], scaled, want["err"][m])
		}
		if got["err"][m] > inv || got["dn"][m] != inv {
			t.Errorf("minute %d: %v errors, %v Duration samples for %v invocations", m, got["err"][m], got["dn"][m], inv)
		}
		if got["acct"][m] != 5 {
			t.Errorf("minute %d: account %v, want 5", m, got["acct"][m])
		}
		if _, ok := got["unres"][m]; ok {
			t.Errorf("minute %d: unreserved %v, want no datapoint (the only function is reserved)", m, got["unres"][m])
		}
	}
}
