package awssim

import (
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func noRetry(o *lambda.Options) { o.RetryMaxAttempts = 1 }

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestLambdaSetupThroughAPI(t *testing.T) {
	_, c, _ := start(t, Options{})
	cx := ctx(t)
	fc, err := c.Lambda.CreateFunction(cx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("checkout"), Role: aws.String("arn:aws:iam::123456789012:role/x"),
		Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code: &types.FunctionCode{ZipFile: []byte("zip")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(fc.Version) != "$LATEST" || aws.ToString(fc.FunctionName) != "checkout" {
		t.Fatalf("CreateFunction = %+v", fc)
	}
	_, err = c.Lambda.CreateFunction(cx, &lambda.CreateFunctionInput{FunctionName: aws.String("checkout"),
		Role: aws.String("r"), Code: &types.FunctionCode{ZipFile: []byte("zip")}})
	var conflict *types.ResourceConflictException
	if !errors.As(err, &conflict) {
		t.Fatalf("duplicate CreateFunction: %v, want ResourceConflictException", err)
	}
	for want := 1; want <= 2; want++ {
		pv, err := c.Lambda.PublishVersion(cx, &lambda.PublishVersionInput{FunctionName: aws.String("checkout")})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(pv.Version); got != string(rune('0'+want)) {
			t.Fatalf("PublishVersion #%d = %q", want, got)
		}
	}
	ca, err := c.Lambda.CreateAlias(cx, &lambda.CreateAliasInput{FunctionName: aws.String("checkout"),
		Name: aws.String("live"), FunctionVersion: aws.String("1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(ca.AliasArn) != "arn:aws:lambda:us-east-1:123456789012:function:checkout:live" || aws.ToString(ca.RevisionId) == "" {
		t.Fatalf("CreateAlias = %+v", ca)
	}
}

func TestLambdaUpdateAliasRouting(t *testing.T) {
	s, c, _ := start(t, Options{})
	cx := ctx(t)
	rev0 := s.CreateAlias("fn", "live", "1")
	s.PublishVersion("fn") // "2"
	s.PublishVersion("fn") // "3"
	fn, live := aws.String("fn"), aws.String("live")

	steps := []struct {
		name        string
		in          lambda.UpdateAliasInput
		wantVersion string
		wantWeights map[string]float64
	}{
		{"set weights", lambda.UpdateAliasInput{RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1}}}, "1", map[string]float64{"2": 0.1}},
		{"change weight", lambda.UpdateAliasInput{RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.5}}}, "1", map[string]float64{"2": 0.5}},
		{"version only keeps routing", lambda.UpdateAliasInput{FunctionVersion: aws.String("3")}, "3", map[string]float64{"2": 0.5}},
		{"clear with empty map", lambda.UpdateAliasInput{FunctionVersion: aws.String("2"), RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}}, "2", nil},
	}
	prevRev := rev0
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			in := st.in
			in.FunctionName, in.Name, in.RevisionId = fn, live, aws.String(prevRev)
			out, err := c.Lambda.UpdateAlias(cx, &in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Lambda.GetAlias(cx, &lambda.GetAliasInput{FunctionName: fn, Name: live})
			if err != nil {
				t.Fatal(err)
			}
			var weights map[string]float64
			if got.RoutingConfig != nil {
				weights = got.RoutingConfig.AdditionalVersionWeights
			}
			if aws.ToString(got.FunctionVersion) != st.wantVersion || !equalWeights(weights, st.wantWeights) {
				t.Fatalf("alias = %s %v, want %s %v", aws.ToString(got.FunctionVersion), weights, st.wantVersion, st.wantWeights)
			}
			if r := aws.ToString(out.RevisionId); r == prevRev || r != aws.ToString(got.RevisionId) {
				t.Fatalf("RevisionId %q after update (previous %q, GetAlias %q)", r, prevRev, aws.ToString(got.RevisionId))
			}
			v, w, r := s.Alias("fn", "live")
			if v != st.wantVersion || !equalWeights(w, st.wantWeights) || r != aws.ToString(out.RevisionId) {
				t.Fatalf("Sim.Alias = %s %v %s", v, w, r)
			}
			prevRev = r
		})
	}
	calls := s.Calls("UpdateAlias")
	if len(calls) != len(steps) || calls[0].Params["RevisionId"] != rev0 {
		t.Fatalf("UpdateAlias calls = %+v", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Params["RevisionId"] != calls[i-1].Result["RevisionId"] || calls[i].Status != 200 {
			t.Fatalf("call %d: %+v does not chain on %+v", i, calls[i], calls[i-1])
		}
	}
	if _, _, rev := s.Alias("fn", "live"); calls[len(calls)-1].Result["RevisionId"] != rev {
		t.Fatalf("last Result %v, alias revision %s", calls[len(calls)-1].Result, rev)
	}
}

func equalWeights(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestLambdaStaleRevisionFails(t *testing.T) {
	s, c, _ := start(t, Options{})
	old := s.CreateAlias("fn", "live", "1")
	s.Deploy("fn", "live", "2", nil) // a pipeline moved the alias meanwhile
	_, err := c.Lambda.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"),
		FunctionVersion: aws.String("1"), RevisionId: aws.String(old)})
	var pf *types.PreconditionFailedException
	if !errors.As(err, &pf) || httpStatus(err) != http.StatusPreconditionFailed {
		t.Fatalf("stale UpdateAlias: %v (status %d), want PreconditionFailedException 412", err, httpStatus(err))
	}
	if v, _, _ := s.Alias("fn", "live"); v != "2" {
		t.Fatalf("alias moved to %s by a stale update", v)
	}
	if calls := s.Calls("UpdateAlias"); len(calls) != 1 || calls[0].Err != "PreconditionFailedException" || calls[0].Params["RevisionId"] != old {
		t.Fatalf("calls = %+v", calls)
	}
}

func TestFaultedCallKeepsParams(t *testing.T) {
	s, c, _ := start(t, Options{})
	rev := s.CreateAlias("fn", "live", "1")
	s.PublishVersion("fn")
	s.InjectFault(Fault{API: "UpdateAlias", Kind: FaultThrottle, Count: 1})
	_, err := c.Lambda.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"),
		RevisionId: aws.String(rev), RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.3}}}, noRetry)
	if apiCode(err) != "TooManyRequestsException" {
		t.Fatalf("err %v", err)
	}
	calls := s.Calls("UpdateAlias")
	if len(calls) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	p := calls[0].Params
	w, _ := p["AdditionalVersionWeights"].(map[string]float64)
	if p["FunctionName"] != "fn" || p["Name"] != "live" || p["RevisionId"] != rev || w["2"] != 0.3 || p["Fault"] != "throttle" {
		t.Fatalf("params %+v", p)
	}
	if _, _, now := s.Alias("fn", "live"); now != rev {
		t.Fatalf("a throttled update changed the alias")
	}
}

func TestLambdaErrors(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateAlias("fn", "live", "2") // versions 1 and 2
	fn, live := aws.String("fn"), aws.String("live")
	weights := func(w map[string]float64) *types.AliasRoutingConfiguration {
		return &types.AliasRoutingConfiguration{AdditionalVersionWeights: w}
	}
	cases := []struct {
		name       string
		call       func() error
		wantCode   string
		wantStatus int
	}{
		{"unknown function", func() error {
			_, err := c.Lambda.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("nope"), Name: live})
			return err
		}, "ResourceNotFoundException", 404},
		{"unknown alias", func() error {
			_, err := c.Lambda.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: fn, Name: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", 404},
		{"unknown version", func() error {
			_, err := c.Lambda.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: fn, Name: live, FunctionVersion: aws.String("9")})
			return err
		}, "ResourceNotFoundException", 404},
		{"unknown qualifier", func() error {
			_, err := c.Lambda.GetFunctionConfiguration(ctx(t), &lambda.GetFunctionConfigurationInput{FunctionName: fn, Qualifier: aws.String("7")})
			return err
		}, "ResourceNotFoundException", 404},
		{"weight above 1", func() error {
			_, err := c.Lambda.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: fn, Name: live, RoutingConfig: weights(map[string]float64{"1": 1.5})})
			return err
		}, "InvalidParameterValueException", 400},
		{"two extra versions", func() error {
			s.PublishVersion("fn")
			_, err := c.Lambda.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: fn, Name: live, RoutingConfig: weights(map[string]float64{"1": 0.1, "3": 0.1})})
			return err
		}, "InvalidParameterValueException", 400},
		{"primary in weights", func() error {
			_, err := c.Lambda.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: fn, Name: live, RoutingConfig: weights(map[string]float64{"2": 0.1})})
			return err
		}, "InvalidParameterValueException", 400},
		{"bad marker", func() error {
			_, err := c.Lambda.ListVersionsByFunction(ctx(t), &lambda.ListVersionsByFunctionInput{FunctionName: fn, Marker: aws.String("!!")})
			return err
		}, "InvalidParameterValueException", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if apiCode(err) != tc.wantCode || httpStatus(err) != tc.wantStatus {
				t.Fatalf("err = %v (code %q, status %d), want %s %d", err, apiCode(err), httpStatus(err), tc.wantCode, tc.wantStatus)
			}
		})
	}
	if v, w, _ := s.Alias("fn", "live"); v != "2" || w != nil {
		t.Fatalf("failed updates changed the alias: %s %v", v, w)
	}
}

func TestLambdaThrottleShape(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateAlias("fn", "live", "1")
	s.InjectFault(Fault{API: "GetAlias", Kind: FaultThrottle, Count: 1})
	_, err := c.Lambda.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}, noRetry)
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || httpStatus(err) != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want TooManyRequestsException 429", err)
	}
	if tm.Reason != types.ThrottleReasonCallerRateLimitExceeded || aws.ToString(tm.RetryAfterSeconds) != "1" {
		t.Fatalf("throttle = reason %q retry-after %q", tm.Reason, aws.ToString(tm.RetryAfterSeconds))
	}
}

func TestLambdaListPagination(t *testing.T) {
	s, c, _ := start(t, Options{})
	for range 5 {
		s.PublishVersion("fn")
	}
	for _, a := range []string{"e", "a", "d", "b", "c"} {
		s.CreateAlias("fn", a, "1")
	}
	s.Deploy("fn", "c", "2", nil)
	var versions []string
	p := lambda.NewListVersionsByFunctionPaginator(c.Lambda, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String("fn"), MaxItems: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.Versions) > 2 {
			t.Fatalf("page of %d > MaxItems", len(out.Versions))
		}
		for _, v := range out.Versions {
			versions = append(versions, aws.ToString(v.Version))
		}
	}
	if want := []string{"$LATEST", "1", "2", "3", "4", "5"}; !equalStrings(versions, want) || pages != 3 {
		t.Fatalf("versions %v in %d pages, want %v in 3", versions, pages, want)
	}
	var aliases []string
	ap := lambda.NewListAliasesPaginator(c.Lambda, &lambda.ListAliasesInput{FunctionName: aws.String("fn"), MaxItems: aws.Int32(3)})
	for ap.HasMorePages() {
		out, err := ap.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range out.Aliases {
			aliases = append(aliases, aws.ToString(a.Name))
		}
	}
	if want := []string{"a", "b", "c", "d", "e"}; !equalStrings(aliases, want) {
		t.Fatalf("aliases %v, want %v", aliases, want)
	}
	out, err := c.Lambda.ListAliases(ctx(t), &lambda.ListAliasesInput{FunctionName: aws.String("fn"), FunctionVersion: aws.String("2")})
	if err != nil || len(out.Aliases) != 1 || aws.ToString(out.Aliases[0].Name) != "c" {
		t.Fatalf("ListAliases(FunctionVersion=2) = %+v, %v", out, err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLambdaGetFunctionConfiguration(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateAlias("fn", "live", "2")
	cases := []struct{ qualifier, name, want string }{
		{"", "fn", "$LATEST"},
		{"1", "fn", "1"},
		{"live", "fn", "2"},
		{"", "arn:aws:lambda:us-east-1:123456789012:function:fn:1", "1"},
	}
	for _, tc := range cases {
		in := &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(tc.name)}
		if tc.qualifier != "" {
			in.Qualifier = aws.String(tc.qualifier)
		}
		out, err := c.Lambda.GetFunctionConfiguration(ctx(t), in)
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.name, tc.qualifier, err)
		}
		if got := aws.ToString(out.Version); got != tc.want {
			t.Fatalf("%s/%s: version %s, want %s", tc.name, tc.qualifier, got, tc.want)
		}
	}
}

func TestUnimplementedOperationIsAnAPIError(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.CreateFunction("fn")
	_, err := c.Lambda.GetFunction(ctx(t), &lambda.GetFunctionInput{FunctionName: aws.String("fn")}, noRetry)
	if apiCode(err) != "UnknownOperationException" {
		t.Fatalf("GetFunction: %v, want UnknownOperationException", err)
	}
	if calls := s.Calls("Unknown"); len(calls) != 1 || calls[0].Params["Method"] != "GET" {
		t.Fatalf("calls %+v", calls)
	}
}

func TestLambdaCreateAliasValidation(t *testing.T) {
	s, c, _ := start(t, Options{})
	s.PublishVersion("fn")
	cases := []struct{ name, alias, version, want string }{
		{"numeric alias name", "7", "1", "InvalidParameterValueException"},
		{"unknown version", "live", "9", "ResourceNotFoundException"},
		{"duplicate", "dup", "1", "ResourceConflictException"},
	}
	s.CreateAlias("fn", "dup", "1")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Lambda.CreateAlias(ctx(t), &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String(tc.alias), FunctionVersion: aws.String(tc.version)})
			if apiCode(err) != tc.want {
				t.Fatalf("err %v, want %s", err, tc.want)
			}
		})
	}
}

// TestLambdaConditionalUpdateIsAtomic: of concurrent updates conditioned on
// the same RevisionId exactly one wins.
func TestLambdaConditionalUpdateIsAtomic(t *testing.T) {
	s, c, _ := start(t, Options{})
	rev := s.CreateAlias("fn", "live", "1")
	s.PublishVersion("fn")
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.Lambda.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"),
				FunctionVersion: aws.String("2"), RevisionId: aws.String(rev)}, noRetry)
			errs <- err
		}()
	}
	ok, stale := 0, 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case apiCode(err) == "PreconditionFailedException":
			stale++
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	if ok != 1 || stale != n-1 {
		t.Fatalf("%d succeeded, %d stale; want 1 and %d", ok, stale, n-1)
	}
}
