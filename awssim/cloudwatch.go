package awssim

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

const cwPathPrefix = "/service/GraniteServiceVersion20100801/operation/"

func (s *Sim) cloudwatchRoute(r *http.Request) (route, bool) {
	if !strings.HasPrefix(r.URL.Path, cwPathPrefix) || r.Method != http.MethodPost {
		return route{}, false
	}
	op := strings.TrimPrefix(r.URL.Path, cwPathPrefix)
	rt := route{service: "cloudwatch", api: op}
	switch op {
	case "GetMetricData":
		rt.h = s.cwGetMetricData
	case "PutMetricData":
		rt.h = s.cwPutMetricData
	default:
		rt.h = func(*request) (*response, *apiError) {
			return nil, &apiError{status: 400, code: "UnknownOperationException", message: "awssim does not implement CloudWatch " + op}
		}
	}
	return rt, true
}

func cwValidation(format string, a ...any) *apiError {
	return &apiError{status: 400, code: "com.amazonaws.cloudwatch#ValidationException", queryCode: "ValidationError", message: fmt.Sprintf(format, a...)}
}

func cwInvalidParam(format string, a ...any) *apiError {
	return &apiError{status: 400, code: "com.amazonaws.cloudwatch#InvalidParameterValueException", queryCode: "InvalidParameterValue", message: fmt.Sprintf(format, a...)}
}

func decodeCBORMap(body []byte) (cbor.Map, *apiError) {
	if len(body) == 0 {
		return cbor.Map{}, nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, &apiError{status: 400, code: "SerializationException", message: "invalid CBOR body: " + err.Error()}
	}
	m, ok := v.(cbor.Map)
	if !ok {
		return nil, &apiError{status: 400, code: "SerializationException", message: "CBOR body is not a map"}
	}
	return m, nil
}

func cborResponse(v cbor.Map) (*response, *apiError) {
	return &response{status: 200, ctype: "application/cbor",
		header: map[string]string{"Smithy-Protocol": "rpc-v2-cbor"}, body: cbor.Encode(v)}, nil
}

// parseDims reads a Dimensions list [{Name, Value}].
func parseDims(m cbor.Map) map[string]string {
	l, _ := cList(m, "Dimensions")
	dims := make(map[string]string, len(l))
	for _, d := range l {
		dm, ok := d.(cbor.Map)
		if !ok {
			continue
		}
		n, _ := cStr(dm, "Name")
		v, _ := cStr(dm, "Value")
		dims[n] = v
	}
	return dims
}

func (s *Sim) cwPutMetricData(req *request) (*response, *apiError) {
	in, aerr := decodeCBORMap(req.body)
	if aerr != nil {
		return nil, aerr
	}
	ns, _ := cStr(in, "Namespace")
	data, _ := cList(in, "MetricData")
	req.params["Namespace"], req.params["MetricData"] = ns, len(data)
	if ns == "" {
		return nil, &apiError{status: 400, code: "com.amazonaws.cloudwatch#MissingRequiredParameterException", queryCode: "MissingParameter", message: "The parameter Namespace is required."}
	}
	if strings.HasPrefix(ns, "AWS/") {
		return nil, cwInvalidParam("The value AWS/ for parameter Namespace is invalid.")
	}
	type put struct {
		key string
		b   cwBucket
	}
	var puts []put
	for i, d := range data {
		dm, ok := d.(cbor.Map)
		if !ok {
			return nil, cwValidation("MetricData.member.%d is not a structure", i+1)
		}
		b, aerr := s.datumBucket(dm, i+1)
		if aerr != nil {
			return nil, aerr
		}
		name, _ := cStr(dm, "MetricName")
		puts = append(puts, put{metricKey(ns, name, parseDims(dm)), b})
	}
	for _, p := range puts {
		s.cw.add(p.key, p.b)
	}
	return cborResponse(cbor.Map{})
}

// datumBucket turns one MetricDatum (Value, Values/Counts or
// StatisticValues) into a bucket.
func (s *Sim) datumBucket(dm cbor.Map, n int) (cwBucket, *apiError) {
	name, _ := cStr(dm, "MetricName")
	if name == "" {
		return cwBucket{}, &apiError{status: 400, code: "com.amazonaws.cloudwatch#MissingRequiredParameterException", queryCode: "MissingParameter", message: fmt.Sprintf("The parameter MetricData.member.%d.MetricName is required.", n)}
	}
	t, ok := cTime(dm, "Timestamp")
	if !ok {
		t = s.clock.Now()
	}
	vals, err := cFloats(dm, "Values")
	if err != nil {
		return cwBucket{}, cwInvalidParam("MetricData.member.%d: %v", n, err)
	}
	counts, err := cFloats(dm, "Counts")
	if err != nil {
		return cwBucket{}, cwInvalidParam("MetricData.member.%d: %v", n, err)
	}
	if v, ok := cFloat(dm, "Value"); ok {
		if len(vals) > 0 {
			return cwBucket{}, &apiError{status: 400, code: "com.amazonaws.cloudwatch#InvalidParameterCombinationException", queryCode: "InvalidParameterCombination", message: "The parameters MetricData.member.N.Value and MetricData.member.N.Values are mutually exclusive."}
		}
		vals = []float64{v}
	}
	if counts != nil && len(counts) != len(vals) {
		return cwBucket{}, cwInvalidParam("The parameters MetricData.member.%d.Values and MetricData.member.%d.Counts must be of the same size.", n, n)
	}
	if ss, ok := cMap(dm, "StatisticValues"); ok {
		b := cwBucket{t: t.Unix()}
		b.sum, _ = cFloat(ss, "Sum")
		b.count, _ = cFloat(ss, "SampleCount")
		b.min, _ = cFloat(ss, "Minimum")
		b.max, _ = cFloat(ss, "Maximum")
		return b, nil
	}
	if len(vals) == 0 {
		return cwBucket{}, cwInvalidParam("MetricData.member.%d has no Value, Values or StatisticValues", n)
	}
	return valuesBucket(t, vals, counts), nil
}

// PutDatapoint records values (each with count 1) for a metric at t, as a
// PutMetricData with Values would.
func (s *Sim) PutDatapoint(ns, metric string, dims map[string]string, t time.Time, values ...float64) {
	if len(values) == 0 {
		return
	}
	s.cw.add(metricKey(ns, metric, dims), valuesBucket(t, append([]float64(nil), values...), nil))
}

// PutStatistics records a statistic set (no percentiles) for a metric at t.
func (s *Sim) PutStatistics(ns, metric string, dims map[string]string, t time.Time, sampleCount, sum, minimum, maximum float64) {
	s.cw.add(metricKey(ns, metric, dims), cwBucket{t: t.Unix(), sum: sum, count: sampleCount, min: minimum, max: maximum})
}
