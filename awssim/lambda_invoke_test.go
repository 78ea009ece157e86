package awssim

import (
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestInvoke: through the real SDK client, a RequestResponse invoke gets
// the handler's result and the executed version; a function error is
// X-Amz-Function-Error Unhandled with {"errorMessage","errorType"}; the
// call log holds the payload; qualifiers resolve to versions and aliases.
func TestInvoke(t *testing.T) {
	s, c, _ := start(t, Options{})
	cx := ctx(t)
	s.CreateAlias("smoke", "live", "2")
	var seen atomic.Int32
	s.SetInvokeHandler("smoke", func(p []byte) ([]byte, string) {
		seen.Add(1)
		var in struct{ Fail string }
		_ = json.Unmarshal(p, &in)
		if in.Fail != "" {
			return nil, in.Fail
		}
		return []byte(`{"status":"Succeeded"}`), ""
	})
	out, err := c.Lambda.Invoke(cx, &lambda.InvokeInput{FunctionName: aws.String("smoke:live"), InvocationType: types.InvocationTypeRequestResponse,
		Payload: []byte(`{"event":"pre_traffic"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Payload) != `{"status":"Succeeded"}` || out.FunctionError != nil || out.StatusCode != 200 || aws.ToString(out.ExecutedVersion) != "2" {
		t.Fatalf("Invoke = %+v (%s)", out, out.Payload)
	}
	out, err = c.Lambda.Invoke(cx, &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:smoke"),
		Qualifier: aws.String("1"), Payload: []byte(`{"Fail":"smoke test failed"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var fe struct{ ErrorMessage, ErrorType string }
	if aws.ToString(out.FunctionError) != "Unhandled" || json.Unmarshal(out.Payload, &fe) != nil || fe.ErrorMessage != "smoke test failed" || fe.ErrorType == "" ||
		aws.ToString(out.ExecutedVersion) != "1" {
		t.Fatalf("function error: %+v (%s)", out, out.Payload)
	}
	calls := s.Calls("Invoke")
	if len(calls) != 2 || calls[0].Params["FunctionName"] != "smoke" || calls[0].Params["Qualifier"] != "live" ||
		calls[0].Params["InvocationType"] != "RequestResponse" || calls[0].Params["Payload"] != `{"event":"pre_traffic"}` ||
		calls[1].Params["Qualifier"] != "1" || calls[1].Result["FunctionError"] != "Unhandled" || seen.Load() != 2 {
		t.Fatalf("calls %+v", calls)
	}
	// A function without a handler returns null; DryRun runs nothing.
	s.CreateFunction("plain")
	if out, err := c.Lambda.Invoke(cx, &lambda.InvokeInput{FunctionName: aws.String("plain")}); err != nil || string(out.Payload) != "null" {
		t.Fatalf("plain: %v %+v", err, out)
	}
	if out, err := c.Lambda.Invoke(cx, &lambda.InvokeInput{FunctionName: aws.String("smoke"), InvocationType: types.InvocationTypeDryRun}); err != nil || out.StatusCode != 204 || seen.Load() != 2 {
		t.Fatalf("dry run: %v %+v (handler ran %d times)", err, out, seen.Load())
	}
}

// TestInvokeErrors: unknown functions and qualifiers are
// ResourceNotFoundException 404, a payload that is not JSON is refused;
// Deny("lambda:InvokeFunction") and an injected throttle answer as for
// any other Lambda API, and are recorded.
func TestInvokeErrors(t *testing.T) {
	s, c, _ := start(t, Options{})
	cx := ctx(t)
	s.SetInvokeHandler("smoke", func([]byte) ([]byte, string) { return []byte(`{}`), "" })
	for _, in := range []*lambda.InvokeInput{
		{FunctionName: aws.String("nope")},
		{FunctionName: aws.String("smoke"), Qualifier: aws.String("missing")},
	} {
		_, err := c.Lambda.Invoke(cx, in, noRetry)
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) || httpStatus(err) != 404 {
			t.Fatalf("%s: %v, want ResourceNotFoundException 404", aws.ToString(in.FunctionName), err)
		}
	}
	_, err := c.Lambda.Invoke(cx, &lambda.InvokeInput{FunctionName: aws.String("smoke"), Payload: []byte("not json")}, noRetry)
	var bad *types.InvalidRequestContentException
	if !errors.As(err, &bad) {
		t.Fatalf("bad payload: %v", err)
	}
	s.Deny("lambda:InvokeFunction")
	_, err = c.Lambda.Invoke(cx, &lambda.InvokeInput{FunctionName: aws.String("smoke")}, noRetry)
	if apiCode(err) != "AccessDeniedException" || httpStatus(err) != 403 {
		t.Fatalf("denied: %v", err)
	}
	s.Allow("lambda:InvokeFunction")
	s.InjectFault(Fault{API: "Invoke", Kind: FaultThrottle, Count: 1})
	_, err = c.Lambda.Invoke(cx, &lambda.InvokeInput{FunctionName: aws.String("smoke")}, noRetry)
	if apiCode(err) != "TooManyRequestsException" {
		t.Fatalf("throttled: %v", err)
	}
	calls := s.Calls("Invoke")
	if len(calls) != 5 || calls[0].Err != "ResourceNotFoundException" || calls[2].Err != "InvalidRequestContentException" ||
		calls[3].Err != "AccessDeniedException" || calls[4].Params["Fault"] != "throttle" || calls[4].Params["FunctionName"] != "smoke" {
		t.Fatalf("calls %+v", calls)
	}
	if out, err := c.Lambda.Invoke(cx, &lambda.InvokeInput{FunctionName: aws.String("smoke")}); err != nil || string(out.Payload) != "{}" {
		t.Fatalf("after the fault: %v", err)
	}
}
