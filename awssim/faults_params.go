package awssim

import (
	"encoding/json"
	"net/url"

	"github.com/aws/smithy-go/encoding/cbor"
)

// faultParams extracts the main parameters of a call answered by a fault
// (the handler never ran), so Calls shows e.g. the RevisionId of a
// throttled UpdateAlias. Each service's parser reads only what its wire
// protocol carries; unparseable bodies leave the parameters out.
func faultParams(rt route, req *request) map[string]any {
	p := map[string]any{}
	switch rt.service {
	case "lambda":
		lambdaFaultParams(p, rt, req)
	case "cloudwatch":
		cloudwatchFaultParams(p, req.body)
	case "cloudfront":
		if len(rt.vars) > 0 {
			p["DistributionId"] = rt.vars[0]
		}
		if len(rt.vars) > 2 {
			p["Id"] = rt.vars[2]
		}
	case "codedeploy":
		var body map[string]any
		if json.Unmarshal(req.body, &body) == nil {
			copyStrings(p, body, "applicationName", "deploymentGroupName", "deploymentId")
			if v, ok := body["autoRollbackEnabled"].(bool); ok {
				p["autoRollbackEnabled"] = v
			}
		}
	case "sqs":
		var body map[string]any
		if json.Unmarshal(req.body, &body) == nil {
			copyStrings(p, body, "QueueUrl")
		}
	case "sns":
		if form, err := url.ParseQuery(string(req.body)); err == nil {
			for _, k := range []string{"TopicArn", "Message", "Subject", "Name"} {
				if v := form.Get(k); v != "" {
					p[k] = v
				}
			}
		}
	}
	return p
}

// lambdaFaultParams reads Lambda's REST path (function, alias), JSON body
// and query string.
func lambdaFaultParams(p map[string]any, rt route, req *request) {
	if len(rt.vars) > 0 {
		p["FunctionName"], _ = parseFunctionName(rt.vars[0])
	}
	if len(rt.vars) > 2 {
		p["Name"] = rt.vars[2]
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(req.body, &body) == nil {
		for _, k := range []string{"FunctionName", "Name", "FunctionVersion", "RevisionId"} {
			var v string
			if json.Unmarshal(body[k], &v) == nil && v != "" {
				p[k] = v
			}
		}
		if raw, ok := body["RoutingConfig"]; ok {
			if w, _, aerr := parseRouting((*json.RawMessage)(&raw)); aerr == nil {
				if w == nil {
					w = map[string]float64{}
				}
				p["AdditionalVersionWeights"] = w
			}
		}
	}
	for k, v := range req.r.URL.Query() {
		p[k] = v[0]
	}
}

// cloudwatchFaultParams reads CloudWatch's CBOR body (the Smithy RPC v2
// protocol): the query or datum count, the time range and the namespace.
func cloudwatchFaultParams(p map[string]any, body []byte) {
	in, aerr := decodeCBORMap(body)
	if aerr != nil {
		return
	}
	if qs, ok := cList(in, "MetricDataQueries"); ok {
		p["Queries"] = len(qs)
	}
	for _, k := range []string{"StartTime", "EndTime"} {
		if t, ok := cTime(in, k); ok {
			p[k] = t
		}
	}
	for _, k := range []string{"Namespace", "NextToken"} {
		if v, ok := cStr(in, k); ok {
			p[k] = v
		}
	}
	if data, ok := in["MetricData"].(cbor.List); ok {
		p["MetricData"] = len(data)
	}
}

// copyStrings copies body's non-empty string values of keys into p.
func copyStrings(p, body map[string]any, keys ...string) {
	for _, k := range keys {
		if v, ok := body[k].(string); ok && v != "" {
			p[k] = v
		}
	}
}
