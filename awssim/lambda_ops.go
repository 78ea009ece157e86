package awssim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// createFunctionLocked adds a function with only $LATEST.
func (s *Sim) createFunctionLocked(name, description string) *lambdaFunction {
	fn := &lambdaFunction{name: name, aliases: map[string]*lambdaAlias{}, reserved: -1}
	fn.latest = &fnVersion{version: "$LATEST", description: description, codeSha: codeSha(name, 0),
		revisionID: newRequestID(), lastModified: s.clock.Now()}
	s.lambda.fns[name] = fn
	return fn
}

func codeSha(name string, n int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", name, n)))
	return base64.StdEncoding.EncodeToString(h[:])
}

func (s *Sim) publishLocked(fn *lambdaFunction, description string) *fnVersion {
	n := len(fn.versions) + 1
	fv := &fnVersion{version: strconv.Itoa(n), description: description, codeSha: codeSha(fn.name, n),
		revisionID: newRequestID(), lastModified: s.clock.Now()}
	fn.versions = append(fn.versions, fv)
	// $LATEST gets new "code" so the next publish is a new version.
	fn.latest.codeSha = codeSha(fn.name, n+1)
	fn.latest.revisionID = newRequestID()
	return fv
}

func (s *Sim) lambdaCreateFunction(req *request) (*response, *apiError) {
	var in struct {
		FunctionName string
		Description  string
		Publish      bool
	}
	if err := json.Unmarshal(req.body, &in); err != nil {
		return nil, invalidParam("invalid request body: %v", err)
	}
	name, _ := parseFunctionName(in.FunctionName)
	req.params["FunctionName"] = name
	if name == "" {
		return nil, invalidParam("FunctionName is required")
	}
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	if s.lambda.fns[name] != nil {
		return nil, &apiError{status: 409, code: "ResourceConflictException", message: "Function already exist: " + name}
	}
	fn := s.createFunctionLocked(name, in.Description)
	fv := fn.latest
	if in.Publish {
		fv = s.publishLocked(fn, in.Description)
	}
	return jsonResponse(201, s.configOf(fn, fv))
}

func (s *Sim) lambdaGetFunctionConfiguration(req *request) (*response, *apiError) {
	name, qual := parseFunctionName(req.vars[0])
	if q := req.r.URL.Query().Get("Qualifier"); q != "" {
		qual = q
	}
	req.params["FunctionName"], req.params["Qualifier"] = name, qual
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	fn, aerr := s.fnLocked(name)
	if aerr != nil {
		return nil, aerr
	}
	if qual == "" {
		qual = "$LATEST"
	}
	if a := fn.aliases[qual]; a != nil {
		qual = a.version
	}
	fv := fn.version(qual)
	if fv == nil {
		return nil, notFound("Function not found: " + s.functionARN(name) + ":" + qual)
	}
	return jsonResponse(200, s.configOf(fn, fv))
}

func (s *Sim) lambdaPublishVersion(req *request) (*response, *apiError) {
	var in struct {
		Description string
		RevisionId  *string
	}
	if len(req.body) > 0 {
		if err := json.Unmarshal(req.body, &in); err != nil {
			return nil, invalidParam("invalid request body: %v", err)
		}
	}
	name, _ := parseFunctionName(req.vars[0])
	req.params["FunctionName"] = name
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	fn, aerr := s.fnLocked(name)
	if aerr != nil {
		return nil, aerr
	}
	if in.RevisionId != nil && *in.RevisionId != fn.latest.revisionID {
		return nil, preconditionFailed()
	}
	fv := s.publishLocked(fn, in.Description)
	req.result["Version"] = fv.version
	return jsonResponse(201, s.configOf(fn, fv))
}

func preconditionFailed() *apiError {
	return &apiError{status: 412, code: "PreconditionFailedException",
		message: "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"}
}

// page parses Marker/MaxItems and returns [start, end) and the next marker.
func page(req *request, n int) (start, end int, next string, aerr *apiError) {
	q := req.r.URL.Query()
	max := 50
	if v := q.Get("MaxItems"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > 10000 {
			return 0, 0, "", invalidParam("MaxItems must be between 1 and 10000")
		}
		max = m
		req.params["MaxItems"] = m
	}
	if v := q.Get("Marker"); v != "" {
		req.params["Marker"] = v
		b, err := base64.RawURLEncoding.DecodeString(v)
		i, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || i < 0 || i > n {
			return 0, 0, "", invalidParam("Invalid marker: %s", v)
		}
		start = i
	}
	end = min(start+max, n)
	if end < n {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	return start, end, next, nil
}

func (s *Sim) lambdaListVersions(req *request) (*response, *apiError) {
	name, _ := parseFunctionName(req.vars[0])
	req.params["FunctionName"] = name
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	fn, aerr := s.fnLocked(name)
	if aerr != nil {
		return nil, aerr
	}
	all := append([]*fnVersion{fn.latest}, fn.versions...)
	start, end, next, aerr := page(req, len(all))
	if aerr != nil {
		return nil, aerr
	}
	out := struct {
		NextMarker *string                 `json:"NextMarker,omitempty"`
		Versions   []functionConfiguration `json:"Versions"`
	}{Versions: []functionConfiguration{}}
	for _, fv := range all[start:end] {
		out.Versions = append(out.Versions, s.configOf(fn, fv))
	}
	if next != "" {
		out.NextMarker = &next
	}
	return jsonResponse(200, out)
}

func (s *Sim) lambdaListAliases(req *request) (*response, *apiError) {
	name, _ := parseFunctionName(req.vars[0])
	req.params["FunctionName"] = name
	fver := req.r.URL.Query().Get("FunctionVersion")
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	fn, aerr := s.fnLocked(name)
	if aerr != nil {
		return nil, aerr
	}
	var names []string
	for n, a := range fn.aliases {
		if fver == "" || a.version == fver {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	start, end, next, aerr := page(req, len(names))
	if aerr != nil {
		return nil, aerr
	}
	out := struct {
		NextMarker *string              `json:"NextMarker,omitempty"`
		Aliases    []aliasConfiguration `json:"Aliases"`
	}{Aliases: []aliasConfiguration{}}
	for _, n := range names[start:end] {
		out.Aliases = append(out.Aliases, s.aliasOf(fn, fn.aliases[n]))
	}
	if next != "" {
		out.NextMarker = &next
	}
	return jsonResponse(200, out)
}

func (s *Sim) lambdaGetAlias(req *request) (*response, *apiError) {
	name, _ := parseFunctionName(req.vars[0])
	alias := req.vars[2]
	req.params["FunctionName"], req.params["Name"] = name, alias
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	fn, a, aerr := s.aliasLocked(name, alias)
	if aerr != nil {
		return nil, aerr
	}
	req.result["RevisionId"], req.result["FunctionVersion"] = a.revisionID, a.version
	return jsonResponse(200, s.aliasOf(fn, a))
}

func (s *Sim) lambdaDeleteAlias(req *request) (*response, *apiError) {
	name, _ := parseFunctionName(req.vars[0])
	alias := req.vars[2]
	req.params["FunctionName"], req.params["Name"] = name, alias
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	fn, aerr := s.fnLocked(name)
	if aerr != nil {
		return nil, aerr
	}
	delete(fn.aliases, alias)
	return &response{status: 204}, nil
}

func (s *Sim) aliasLocked(name, alias string) (*lambdaFunction, *lambdaAlias, *apiError) {
	fn, aerr := s.fnLocked(name)
	if aerr != nil {
		return nil, nil, aerr
	}
	a := fn.aliases[alias]
	if a == nil {
		return nil, nil, notFound("Alias not found: " + s.functionARN(name) + ":" + alias)
	}
	return fn, a, nil
}
