package awssim

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// request is what a handler gets: the HTTP request, its body, and a params
// map it fills for the call log.
type request struct {
	r      *http.Request
	body   []byte
	params map[string]any
	result map[string]any
	vars   []string // path segments captured by the router
}

// response is a successful answer.
type response struct {
	status int
	ctype  string
	header map[string]string
	body   []byte
}

// apiError is an AWS error; each service writes it in its own wire shape.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter string // Lambda TooManyRequestsException
	reason     string // Lambda TooManyRequestsException
	queryCode  string // CloudWatch awsQueryCompatible code (X-Amzn-Query-Error)
	fault      string // "Sender" or "Receiver"
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

type handlerFunc func(req *request) (*response, *apiError)

// route is one resolved operation.
type route struct {
	service string // lambda, cloudwatch, cloudfront, sns, sts, ssm, s3, codedeploy, sqs
	api     string
	h       handlerFunc
	vars    []string
}

// ServeHTTP routes a request to the service it addresses, applies injected
// faults, answers and records the call.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	rt, ok := s.route(r, body)
	if !ok {
		s.rec.add(Call{API: "Unknown", Time: s.clock.Now(), Params: map[string]any{"Method": r.Method, "Path": r.URL.Path}, Err: "UnknownOperationException"})
		writeError(w, "unknown", &apiError{status: 404, code: "UnknownOperationException", message: "awssim: no operation for " + r.Method + " " + r.URL.Path, fault: "Sender"})
		return
	}
	req := &request{r: r, body: body, params: map[string]any{}, result: map[string]any{}, vars: rt.vars}
	if r.Header.Get("Authorization") == "" {
		e := &apiError{status: 403, code: "MissingAuthenticationTokenException", message: "Missing Authentication Token", queryCode: "MissingAuthenticationToken", fault: "Sender"}
		if rt.service == "sns" || rt.service == "cloudfront" {
			e.code = "MissingAuthenticationToken"
		}
		s.rec.add(Call{API: rt.api, Time: s.clock.Now(), Params: req.params, Err: e.code, Status: e.status})
		writeError(w, rt.service, e)
		return
	}
	if s.deny.denied(rt.service, rt.api) {
		e := s.accessDenied(rt.service, rt.api)
		call := Call{API: rt.api, Time: s.clock.Now(), Params: faultParams(rt, req), Err: e.code, Status: e.status}
		if e.queryCode != "" {
			call.Err = e.queryCode
		}
		s.rec.add(call)
		writeError(w, rt.service, e)
		return
	}
	if s.applyFault(w, req, rt) {
		return
	}
	resp, aerr := rt.h(req)
	call := Call{API: rt.api, Time: s.clock.Now(), Params: req.params}
	if aerr != nil {
		call.Err, call.Status = aerr.code, aerr.status
		if aerr.queryCode != "" {
			call.Err = aerr.queryCode
		}
		s.rec.add(call)
		writeError(w, rt.service, aerr)
		return
	}
	call.Status, call.Result = resp.status, req.result
	if call.Status == 0 {
		call.Status = http.StatusOK
	}
	s.rec.add(call)
	for k, v := range resp.header {
		w.Header().Set(k, v)
	}
	if resp.ctype != "" {
		w.Header().Set("Content-Type", resp.ctype)
	}
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	status := resp.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.body)
}

// readBody reads the request body, gunzipping it when the SDK compressed it
// (CloudWatch PutMetricData has the requestCompression trait).
func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	}
	return io.ReadAll(rd)
}

func (s *Sim) route(r *http.Request, body []byte) (route, bool) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/service/") && r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor":
		return s.cloudwatchRoute(r)
	case strings.HasPrefix(p, "/2015-03-31/functions"), strings.HasPrefix(p, "/2017-10-31/functions"),
		strings.HasPrefix(p, "/2019-09-30/functions"), strings.HasPrefix(p, "/2016-08-19/account-settings"):
		return s.lambdaRoute(r)
	case strings.HasPrefix(p, "/2020-05-31/distribution"):
		return s.cloudfrontRoute(r)
	case r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		if form, err := url.ParseQuery(string(body)); err == nil {
			if rt, ok := s.stsRoute(form); ok {
				return rt, true
			}
		}
		return s.snsRoute(r, body)
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), sqsTargetPrefix):
		return s.sqsRoute(r)
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), codeDeployTargetPrefix):
		return s.codedeployRoute(r)
	case r.Header.Get("X-Amz-Target") != "":
		return s.ssmRoute(r)
	}
	return s.s3Route(r)
}

// unknownOp answers an operation awssim does not implement in the wire shape
// of its service, so the SDK reports a clean API error.
func unknownOp(service string, r *http.Request) route {
	return route{service: service, api: "Unknown", h: func(req *request) (*response, *apiError) {
		req.params["Method"], req.params["Path"] = r.Method, r.URL.Path
		return nil, &apiError{status: 400, code: "UnknownOperationException", message: "awssim does not implement " + r.Method + " " + r.URL.Path}
	}}
}

// writeError writes e in the wire shape of service.
func writeError(w http.ResponseWriter, service string, e *apiError) {
	if e.fault == "" {
		e.fault = "Sender"
		if e.status >= 500 {
			e.fault = "Receiver"
		}
	}
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	switch service {
	case "lambda":
		writeLambdaError(w, e)
	case "cloudwatch":
		writeCBORError(w, e)
	case "cloudfront", "sns", "sts":
		writeXMLError(w, e)
	case "s3":
		writeS3Error(w, e)
	case "ssm", "codedeploy":
		writeJSON11Error(w, e)
	case "sqs":
		writeJSON10Error(w, e)
	default:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(e.status)
		_, _ = io.WriteString(w, e.Error())
	}
}
