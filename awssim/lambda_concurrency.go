package awssim

import (
	"encoding/json"
	"net/http"
)

// Lambda concurrency: a function's reserved concurrency
// (Put/Get/DeleteFunctionConcurrency, REST paths of API versions 2017-10-31
// and 2019-09-30) and the account's limits (GetAccountSettings,
// 2016-08-19). A reservation caps the function's synthetic traffic
// (LambdaTraffic: ConcurrentExecutions, Throttles) and its synchronous
// Invokes.

const (
	// defaultAccountConcurrency is a new account's concurrency limit.
	defaultAccountConcurrency = 1000
	// minUnreservedConcurrency is what Lambda keeps unreserved: the
	// reservations of all functions may not exceed limit - 100.
	minUnreservedConcurrency = 100

	// AccountLimit's code size limits (bytes), as AWS reports them.
	accountTotalCodeSize    = 80530636800
	accountCodeSizeUnzipped = 262144000
	accountCodeSizeZipped   = 52428800
)

// lambdaConcurrencyRoute routes the concurrency operations, which live
// under other API versions than 2015-03-31.
func (s *Sim) lambdaConcurrencyRoute(r *http.Request, apiVersion string, rest []string) (route, bool) {
	rt := func(api string, h handlerFunc) (route, bool) {
		return route{service: "lambda", api: api, h: h, vars: rest}, true
	}
	if len(rest) == 2 && rest[1] == "concurrency" {
		switch {
		case apiVersion == "2017-10-31" && r.Method == http.MethodPut:
			return rt("PutFunctionConcurrency", s.lambdaPutFunctionConcurrency)
		case apiVersion == "2017-10-31" && r.Method == http.MethodDelete:
			return rt("DeleteFunctionConcurrency", s.lambdaDeleteFunctionConcurrency)
		case apiVersion == "2019-09-30" && r.Method == http.MethodGet:
			return rt("GetFunctionConcurrency", s.lambdaGetFunctionConcurrency)
		}
	}
	return unknownOp("lambda", r), true
}

// concurrencyShape is the Concurrency / GetFunctionConcurrencyResponse
// shape: {} when no reservation is set.
type concurrencyShape struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions,omitempty"`
}

// concurrencyFunction reads the unqualified function name of a concurrency
// operation (name, partial or full ARN; a qualifier is refused as the
// API's FunctionName pattern refuses it).
func concurrencyFunction(req *request) (string, *apiError) {
	name, qual := parseFunctionName(req.vars[0])
	req.params["FunctionName"] = name
	if qual != "" {
		return "", invalidParam("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must be an unqualified function name or ARN", req.vars[0])
	}
	return name, nil
}

func (s *Sim) lambdaPutFunctionConcurrency(req *request) (*response, *apiError) {
	name, aerr := concurrencyFunction(req)
	if aerr != nil {
		return nil, aerr
	}
	var in concurrencyShape
	if err := json.Unmarshal(req.body, &in); err != nil {
		return nil, invalidParam("invalid request body: %v", err)
	}
	if in.ReservedConcurrentExecutions == nil {
		return nil, invalidParam("ReservedConcurrentExecutions is required")
	}
	n := *in.ReservedConcurrentExecutions
	req.params["ReservedConcurrentExecutions"] = n
	if n < 0 {
		return nil, invalidParam("1 validation error detected: Value '%d' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0", n)
	}
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	fn, aerr := s.fnLocked(name)
	if aerr != nil {
		return nil, aerr
	}
	others := s.reservedSumLocked() - max(fn.reserved, 0)
	if limit := s.lambda.accountLimit; others+n > limit-minUnreservedConcurrency {
		return nil, invalidParam("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d]. (account limit %d, reserved by other functions %d, so at most %d for %s)",
			minUnreservedConcurrency, limit, others, max(0, limit-minUnreservedConcurrency-others), name)
	}
	fn.reserved = n
	req.result["ReservedConcurrentExecutions"] = n
	return jsonResponse(200, concurrencyShape{ReservedConcurrentExecutions: &n})
}

// withConcurrencyFn runs f on the request's function under the Lambda
// lock: the GET and DELETE of its concurrency.
func (s *Sim) withConcurrencyFn(req *request, f func(fn *lambdaFunction) (*response, *apiError)) (*response, *apiError) {
	name, aerr := concurrencyFunction(req)
	if aerr != nil {
		return nil, aerr
	}
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	fn, aerr := s.fnLocked(name)
	if aerr != nil {
		return nil, aerr
	}
	return f(fn)
}

func (s *Sim) lambdaGetFunctionConcurrency(req *request) (*response, *apiError) {
	return s.withConcurrencyFn(req, func(fn *lambdaFunction) (*response, *apiError) {
		var out concurrencyShape
		if fn.reserved >= 0 {
			n := fn.reserved
			out.ReservedConcurrentExecutions = &n
			req.result["ReservedConcurrentExecutions"] = n
		}
		return jsonResponse(200, out)
	})
}

func (s *Sim) lambdaDeleteFunctionConcurrency(req *request) (*response, *apiError) {
	return s.withConcurrencyFn(req, func(fn *lambdaFunction) (*response, *apiError) {
		fn.reserved = -1
		return &response{status: http.StatusNoContent}, nil
	})
}

type accountLimitShape struct {
	TotalCodeSize                  int64 `json:"TotalCodeSize"`
	CodeSizeUnzipped               int64 `json:"CodeSizeUnzipped"`
	CodeSizeZipped                 int64 `json:"CodeSizeZipped"`
	ConcurrentExecutions           int   `json:"ConcurrentExecutions"`
	UnreservedConcurrentExecutions int   `json:"UnreservedConcurrentExecutions"`
}

type accountUsageShape struct {
	TotalCodeSize int64 `json:"TotalCodeSize"`
	FunctionCount int64 `json:"FunctionCount"`
}

func (s *Sim) lambdaGetAccountSettings(req *request) (*response, *apiError) {
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	limit := s.lambda.accountLimit
	unreserved := max(0, limit-s.reservedSumLocked())
	req.result["ConcurrentExecutions"], req.result["UnreservedConcurrentExecutions"] = limit, unreserved
	return jsonResponse(200, struct {
		AccountLimit accountLimitShape `json:"AccountLimit"`
		AccountUsage accountUsageShape `json:"AccountUsage"`
	}{
		AccountLimit: accountLimitShape{TotalCodeSize: accountTotalCodeSize, CodeSizeUnzipped: accountCodeSizeUnzipped,
			CodeSizeZipped: accountCodeSizeZipped, ConcurrentExecutions: limit, UnreservedConcurrentExecutions: unreserved},
		AccountUsage: accountUsageShape{FunctionCount: int64(len(s.lambda.fns))},
	})
}

// reservedSumLocked is the reserved concurrency of all functions;
// s.lambda.mu must be held.
func (s *Sim) reservedSumLocked() int {
	sum := 0
	for _, fn := range s.lambda.fns {
		sum += max(fn.reserved, 0)
	}
	return sum
}

// SetAccountConcurrency sets the account's concurrency limit
// (GetAccountSettings' AccountLimit.ConcurrentExecutions, default 1000);
// n <= 0 restores the default. Existing reservations are kept even when
// they no longer leave 100 unreserved (UnreservedConcurrentExecutions
// then reads 0 at least); later PutFunctionConcurrency calls are checked
// against the new limit.
func (s *Sim) SetAccountConcurrency(n int) {
	if n <= 0 {
		n = defaultAccountConcurrency
	}
	s.lambda.mu.Lock()
	s.lambda.accountLimit = n
	s.lambda.mu.Unlock()
}

// SetReservedConcurrency sets fn's reserved concurrency as
// PutFunctionConcurrency does (n < 0 removes it, as
// DeleteFunctionConcurrency), creating the function when needed. It
// bypasses the account check: a scenario may reserve more than the API
// allows. LambdaTraffic written afterwards is capped by it.
func (s *Sim) SetReservedConcurrency(fn string, n int) {
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	f := s.lambda.fns[fn]
	if f == nil {
		f = s.createFunctionLocked(fn, "")
	}
	f.reserved = max(n, -1)
}

// ReservedConcurrency returns fn's reserved concurrency; ok is false when
// none is set or the function does not exist.
func (s *Sim) ReservedConcurrency(fn string) (n int, ok bool) {
	r := s.reservedOf(fn)
	return max(r, 0), r >= 0
}

// reservedOf is fn's reserved concurrency, -1 when none (or no function).
func (s *Sim) reservedOf(fn string) int {
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	if f := s.lambda.fns[fn]; f != nil {
		return f.reserved
	}
	return -1
}

// reservedThrottle is Invoke's answer when a function's reserved
// concurrency is all in use (or is 0).
func reservedThrottle() *apiError {
	return &apiError{status: 429, code: "TooManyRequestsException", message: "Rate Exceeded.",
		retryAfter: "1", reason: "ReservedFunctionConcurrentInvocationLimitExceeded"}
}
