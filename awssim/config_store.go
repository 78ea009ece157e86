package awssim

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Where canaryd's own config may live: S3 objects (GetObject, path-style
// REST) and SSM parameters (GetParameter, JSON 1.1) — the two operations
// `canaryd run --config s3://… | ssm:…` calls.

type objectStore struct {
	mu      sync.Mutex
	objects map[string][]byte // "bucket/key"
	params  map[string]ssmParam
}

type ssmParam struct {
	value    string
	typ      string
	version  int64
	modified time.Time
}

func newObjectStore() *objectStore {
	return &objectStore{objects: map[string][]byte{}, params: map[string]ssmParam{}}
}

// PutObject stores an S3 object.
func (s *Sim) PutObject(bucket, key string, data []byte) {
	s.store.mu.Lock()
	s.store.objects[bucket+"/"+key] = append([]byte(nil), data...)
	s.store.mu.Unlock()
}

// PutParameter stores an SSM parameter (type String or SecureString),
// bumping its version.
func (s *Sim) PutParameter(name, value, typ string) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	p := s.store.params[name]
	s.store.params[name] = ssmParam{value: value, typ: typ, version: p.version + 1, modified: s.clock.Now()}
}

// s3Route recognises GetObject as the SDK sends it path-style:
// GET /bucket/key?x-id=GetObject.
func (s *Sim) s3Route(r *http.Request) (route, bool) {
	if r.Method != http.MethodGet || r.URL.Query().Get("x-id") != "GetObject" {
		return route{}, false
	}
	segs := pathSegments(r.URL)
	if len(segs) < 2 {
		return route{}, false
	}
	return route{service: "s3", api: "GetObject", h: s.s3GetObject, vars: []string{segs[0], strings.Join(segs[1:], "/")}}, true
}

func (s *Sim) s3GetObject(req *request) (*response, *apiError) {
	bucket, key := req.vars[0], req.vars[1]
	req.params["Bucket"], req.params["Key"] = bucket, key
	s.store.mu.Lock()
	data, ok := s.store.objects[bucket+"/"+key]
	s.store.mu.Unlock()
	if !ok {
		return nil, &apiError{status: 404, code: "NoSuchKey", message: "The specified key does not exist."}
	}
	return &response{status: 200, ctype: "application/octet-stream", body: data,
		header: map[string]string{"ETag": fmt.Sprintf("%q", newRequestID()), "Last-Modified": s.clock.Now().UTC().Format(http.TimeFormat)}}, nil
}

// writeS3Error writes S3's error shape: <Error><Code>…</Code></Error>.
func writeS3Error(w http.ResponseWriter, e *apiError) {
	type s3Error struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		RequestID string   `xml:"RequestId"`
	}
	b, _ := xml.Marshal(s3Error{Code: e.code, Message: e.message, RequestID: newRequestID()})
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.status)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

// ssmRoute recognises the JSON 1.1 operations of SSM by X-Amz-Target.
func (s *Sim) ssmRoute(r *http.Request) (route, bool) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSSM.")
	if !ok || r.Method != http.MethodPost {
		return route{}, false
	}
	if op != "GetParameter" {
		return route{service: "ssm", api: op, h: func(*request) (*response, *apiError) {
			return nil, &apiError{status: 400, code: "UnknownOperationException", message: "awssim does not implement SSM " + op}
		}}, true
	}
	return route{service: "ssm", api: op, h: s.ssmGetParameter}, true
}

func (s *Sim) ssmGetParameter(req *request) (*response, *apiError) {
	var in struct {
		Name           string
		WithDecryption bool
	}
	if err := json.Unmarshal(req.body, &in); err != nil || in.Name == "" {
		return nil, &apiError{status: 400, code: "ValidationException", message: "1 validation error detected: Value null at 'name'"}
	}
	req.params["Name"], req.params["WithDecryption"] = in.Name, in.WithDecryption
	s.store.mu.Lock()
	p, ok := s.store.params[in.Name]
	s.store.mu.Unlock()
	if !ok {
		return nil, &apiError{status: 400, code: "ParameterNotFound", message: ""}
	}
	value := p.value
	if p.typ == "SecureString" && !in.WithDecryption {
		value = "AQICAHh-encrypted-" + fmt.Sprint(len(p.value))
	}
	arn := fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", s.region, s.account, strings.TrimPrefix(in.Name, "/"))
	b, _ := json.Marshal(map[string]any{"Parameter": map[string]any{"ARN": arn, "DataType": "text", "Name": in.Name, "Type": p.typ,
		"Value": value, "Version": p.version, "LastModifiedDate": float64(p.modified.UnixMilli()) / 1000}})
	return &response{status: 200, ctype: "application/x-amz-json-1.1", body: b}, nil
}

// writeJSON11Error writes an AWS JSON 1.1 error.
func writeJSON11Error(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}
