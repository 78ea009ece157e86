package awssim

import (
	"encoding/json"
	"net/http"
)

// InvokeHandler is what a simulated function does when invoked: it gets
// the invoke's payload and returns its result, or a non-empty
// functionError (the errorMessage of an unhandled error), in which case
// result is ignored.
type InvokeHandler func(payload []byte) (result []byte, functionError string)

// maxInvokePayload is Lambda's synchronous request payload limit (6 MB).
const maxInvokePayload = 6 << 20

// SetInvokeHandler makes h answer every Invoke of fn (any qualifier),
// creating the function when it does not exist. A function without a
// handler returns null. h runs on the request's goroutine and may block (a
// slow function); a test that blocks it must unblock it before the
// simulator stops.
func (s *Sim) SetInvokeHandler(fn string, h InvokeHandler) {
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	if s.lambda.fns[fn] == nil {
		s.createFunctionLocked(fn, "")
	}
	if s.lambda.invoke == nil {
		s.lambda.invoke = map[string]InvokeHandler{}
	}
	s.lambda.invoke[fn] = h
}

// lambdaInvoke is Invoke (POST /2015-03-31/functions/{FunctionName}/invocations):
// InvocationType RequestResponse (default: 200, the result as the body;
// a function error adds X-Amz-Function-Error: Unhandled and answers
// {"errorMessage", "errorType"}), Event (202, empty body, the handler runs
// before the answer) or DryRun (204, the handler does not run). A function
// with reserved concurrency R runs at most R RequestResponse invokes at
// once; beyond, 429 TooManyRequestsException (Reason
// ReservedFunctionConcurrentInvocationLimitExceeded). Event invokes are
// not held to it (Lambda queues them).
func (s *Sim) lambdaInvoke(req *request) (*response, *apiError) {
	name, qualifier := parseFunctionName(req.vars[0])
	if q := req.r.URL.Query().Get("Qualifier"); q != "" {
		qualifier = q
	}
	itype := req.r.Header.Get("X-Amz-Invocation-Type")
	if itype == "" {
		itype = "RequestResponse"
	}
	req.params["FunctionName"], req.params["InvocationType"], req.params["Payload"] = name, itype, string(req.body)
	if qualifier != "" {
		req.params["Qualifier"] = qualifier
	}
	switch {
	case itype != "RequestResponse" && itype != "Event" && itype != "DryRun":
		return nil, invalidParam("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", itype)
	case len(req.body) > maxInvokePayload:
		return nil, &apiError{status: 413, code: "RequestTooLargeException", message: "Request must be smaller than 6291456 bytes for the InvokeFunction operation"}
	case len(req.body) > 0 && !json.Valid(req.body):
		return nil, &apiError{status: 400, code: "InvalidRequestContentException", message: "Could not parse request body into json: Could not parse payload into json"}
	}
	s.lambda.mu.Lock()
	fn, aerr := s.fnLocked(name)
	if aerr == nil && qualifier != "" {
		if fn.version(qualifier) == nil && fn.aliases[qualifier] == nil {
			aerr = notFound("Function not found: " + s.functionARN(name) + ":" + qualifier)
		}
	}
	executed := "$LATEST"
	if aerr == nil {
		if a := fn.aliases[qualifier]; a != nil {
			executed = a.version
		} else if qualifier != "" {
			executed = qualifier
		}
	}
	h := s.lambda.invoke[name]
	if aerr == nil && itype == "RequestResponse" {
		// A reserved concurrency bounds the synchronous invokes running
		// at once; 0 throttles every one.
		if fn.reserved >= 0 && fn.inFlight >= fn.reserved {
			aerr = reservedThrottle()
		} else {
			fn.inFlight++
			defer func() {
				s.lambda.mu.Lock()
				fn.inFlight--
				s.lambda.mu.Unlock()
			}()
		}
	}
	s.lambda.mu.Unlock()
	if aerr != nil {
		return nil, aerr
	}
	if itype == "DryRun" {
		return &response{status: http.StatusNoContent}, nil
	}
	result, ferr := []byte("null"), ""
	if h != nil {
		result, ferr = h(req.body)
	}
	header := map[string]string{"X-Amz-Executed-Version": executed}
	req.result["ExecutedVersion"] = executed
	if ferr != "" {
		header["X-Amz-Function-Error"] = "Unhandled"
		req.result["FunctionError"] = "Unhandled"
		result, _ = json.Marshal(map[string]string{"errorMessage": ferr, "errorType": "Error"})
	}
	if itype == "Event" {
		return &response{status: http.StatusAccepted}, nil
	}
	req.result["Payload"] = string(result)
	return &response{status: http.StatusOK, ctype: "application/json", header: header, body: result}, nil
}
