package awssim

import (
	"math/rand"
	"net"
	"net/http"
	"sync"
	"time"
)

// faultSet holds injected faults; rng makes Rate faults deterministic.
type faultSet struct {
	mu     sync.Mutex
	faults []*Fault
	rng    *rand.Rand
}

func newFaultSet() *faultSet { return &faultSet{rng: rand.New(rand.NewSource(1))} }

// InjectFault adds a fault. Faults are checked in the order injected; the
// first that fires answers the call (a latency fault delays it and lets the
// call proceed).
func (s *Sim) InjectFault(f Fault) {
	s.faults.mu.Lock()
	s.faults.faults = append(s.faults.faults, &f)
	s.faults.mu.Unlock()
}

// ClearFaults removes all injected faults.
func (s *Sim) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.faults = nil
	s.faults.mu.Unlock()
}

// SeedFaults reseeds the PRNG used by Rate faults.
func (s *Sim) SeedFaults(seed int64) {
	s.faults.mu.Lock()
	s.faults.rng = rand.New(rand.NewSource(seed))
	s.faults.mu.Unlock()
}

// pick returns the faults that fire for api on this call, whose main
// parameters are params.
func (fs *faultSet) pick(api string, params map[string]any) []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var fired []Fault
	kept := fs.faults[:0]
	for _, f := range fs.faults {
		if f.API != api && f.API != "*" || !f.matches(params) {
			kept = append(kept, f)
			continue
		}
		if f.After > 0 {
			f.After--
			kept = append(kept, f)
			continue
		}
		switch {
		case f.Count > 0:
			fired = append(fired, *f)
			f.Count--
			if f.Count > 0 {
				kept = append(kept, f)
			}
		case f.Rate > 0:
			if fs.rng.Float64() < f.Rate {
				fired = append(fired, *f)
			}
			kept = append(kept, f)
		default:
			// neither Count nor Rate: inert, dropped
		}
	}
	fs.faults = kept
	return fired
}

// applyFault answers the call with a fault when one fires; it reports
// whether the call was answered.
func (s *Sim) applyFault(w http.ResponseWriter, req *request, rt route) bool {
	r := req.r
	for _, f := range s.faults.pick(rt.api, faultParams(rt, req)) {
		params := faultParams(rt, req)
		params["Fault"] = f.Kind.String()
		call := Call{API: rt.api, Time: s.clock.Now(), Params: params}
		switch f.Kind {
		case FaultLatency:
			t := time.NewTimer(f.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			}
			continue
		case FaultThrottle:
			e := throttleError(rt.service)
			call.Err, call.Status = e.code, e.status
			if e.queryCode != "" {
				call.Err = e.queryCode
			}
			s.rec.add(call)
			writeError(w, rt.service, e)
			return true
		case Fault5xx:
			e := serverError(rt.service, f.Status)
			call.Err, call.Status = e.code, e.status
			if e.queryCode != "" {
				call.Err = e.queryCode
			}
			s.rec.add(call)
			writeError(w, rt.service, e)
			return true
		case FaultReset:
			call.Err = "ConnectionReset"
			s.rec.add(call)
			resetConn(w)
			return true
		}
	}
	return false
}

// resetConn closes the client connection abruptly (RST where possible).
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// throttleError is the error each service really returns when throttling
// control-plane calls.
func throttleError(service string) *apiError {
	switch service {
	case "lambda":
		return &apiError{status: 429, code: "TooManyRequestsException", message: "Rate exceeded", retryAfter: "1", reason: "CallerRateLimitExceeded"}
	case "cloudwatch":
		return &apiError{status: 400, code: "Throttling", queryCode: "Throttling", message: "Rate exceeded"}
	case "codedeploy":
		return &apiError{status: 400, code: "ThrottlingException", message: "Rate exceeded"}
	case "sqs":
		return sqsErr(400, "ThrottlingException", "RequestThrottled", "Rate exceeded")
	default: // cloudfront, sns
		return &apiError{status: 400, code: "Throttling", message: "Rate exceeded"}
	}
}

// serverError is a 500 InternalFailure or 503 ServiceUnavailable.
func serverError(service string, status int) *apiError {
	if status == http.StatusServiceUnavailable {
		e := &apiError{status: 503, code: "ServiceUnavailable", message: "Service Unavailable", fault: "Receiver"}
		if service == "lambda" {
			e.code = "ServiceException"
		}
		return e
	}
	e := &apiError{status: 500, code: "InternalFailure", message: "Internal service error", fault: "Receiver"}
	if service == "lambda" {
		e.code = "ServiceException"
	}
	if service == "cloudwatch" {
		e.code, e.queryCode = "com.amazonaws.cloudwatch#InternalServiceFault", "InternalServiceError"
	}
	if service == "sqs" {
		e.code, e.queryCode = "InternalError", "InternalError"
	}
	return e
}

// String names the kind.
func (k FaultKind) String() string {
	switch k {
	case FaultThrottle:
		return "throttle"
	case Fault5xx:
		return "5xx"
	case FaultLatency:
		return "latency"
	case FaultReset:
		return "reset"
	}
	return "unknown"
}

// matches reports whether a call with these main parameters is one the
// fault is for (every Match entry equal).
func (f *Fault) matches(params map[string]any) bool {
	for k, v := range f.Match {
		if got, _ := params[k].(string); got != v {
			return false
		}
	}
	return true
}

// chance reports true with probability p, on the PRNG SeedFaults seeds.
func (fs *faultSet) chance(p float64) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rng.Float64() < p
}
