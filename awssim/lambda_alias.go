package awssim

import (
	"encoding/json"
	"regexp"
)

var (
	aliasNameRE = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,128}$`)
	allDigits   = regexp.MustCompile(`^[0-9]+$`) // alias names cannot look like versions
)

// parseRouting decodes a RoutingConfig; nil raw means "not given".
func parseRouting(raw *json.RawMessage) (weights map[string]float64, given bool, aerr *apiError) {
	if raw == nil {
		return nil, false, nil
	}
	var rc struct {
		AdditionalVersionWeights map[string]float64
	}
	if err := json.Unmarshal(*raw, &rc); err != nil {
		return nil, true, invalidParam("invalid RoutingConfig: %v", err)
	}
	return rc.AdditionalVersionWeights, true, nil
}

// validateRouting applies Lambda's rules for weighted aliases.
func (s *Sim) validateRouting(fn *lambdaFunction, primary string, weights map[string]float64) *apiError {
	if len(weights) == 0 {
		return nil
	}
	if len(weights) > 1 {
		return invalidParam("RoutingConfig: AdditionalVersionWeights can contain only one version.")
	}
	if primary == "$LATEST" {
		return invalidParam("$LATEST is not supported for an alias pointing to more than 1 version")
	}
	for v, w := range weights {
		if v == "$LATEST" {
			return invalidParam("$LATEST is not supported for an alias pointing to more than 1 version")
		}
		if v == primary {
			return invalidParam("Alias' primary version (%s) cannot be specified in AdditionalVersionWeights", v)
		}
		if w < 0 || w > 1 {
			return invalidParam("1 validation error detected: Value at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]")
		}
		if fn.version(v) == nil {
			return notFound("Function not found: " + s.functionARN(fn.name) + ":" + v)
		}
	}
	return nil
}

func (s *Sim) lambdaCreateAlias(req *request) (*response, *apiError) {
	var in aliasInput
	if err := json.Unmarshal(req.body, &in); err != nil {
		return nil, invalidParam("invalid request body: %v", err)
	}
	name, _ := parseFunctionName(req.vars[0])
	req.params["FunctionName"] = name
	if in.Name == nil || !aliasNameRE.MatchString(*in.Name) || allDigits.MatchString(*in.Name) {
		return nil, invalidParam("alias name is missing or invalid")
	}
	if in.FunctionVersion == nil {
		return nil, invalidParam("FunctionVersion is required")
	}
	req.params["Name"], req.params["FunctionVersion"] = *in.Name, *in.FunctionVersion
	weights, _, aerr := parseRouting(in.RoutingConfig)
	if aerr != nil {
		return nil, aerr
	}
	req.params["AdditionalVersionWeights"] = copyWeights(weights)
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	fn, aerr := s.fnLocked(name)
	if aerr != nil {
		return nil, aerr
	}
	if fn.aliases[*in.Name] != nil {
		return nil, &apiError{status: 409, code: "ResourceConflictException", message: "Alias already exists: " + s.functionARN(name) + ":" + *in.Name}
	}
	if fn.version(*in.FunctionVersion) == nil {
		return nil, notFound("Function not found: " + s.functionARN(name) + ":" + *in.FunctionVersion)
	}
	if aerr := s.validateRouting(fn, *in.FunctionVersion, weights); aerr != nil {
		return nil, aerr
	}
	a := &lambdaAlias{name: *in.Name, version: *in.FunctionVersion, weights: copyWeights(weights), revisionID: newRequestID()}
	if in.Description != nil {
		a.description = *in.Description
	}
	fn.aliases[a.name] = a
	req.result["RevisionId"], req.result["FunctionVersion"] = a.revisionID, a.version
	return jsonResponse(201, s.aliasOf(fn, a))
}

func (s *Sim) lambdaUpdateAlias(req *request) (*response, *apiError) {
	var in aliasInput
	if len(req.body) > 0 {
		if err := json.Unmarshal(req.body, &in); err != nil {
			return nil, invalidParam("invalid request body: %v", err)
		}
	}
	name, _ := parseFunctionName(req.vars[0])
	alias := req.vars[2]
	req.params["FunctionName"], req.params["Name"] = name, alias
	if in.FunctionVersion != nil {
		req.params["FunctionVersion"] = *in.FunctionVersion
	}
	if in.RevisionID != nil {
		req.params["RevisionId"] = *in.RevisionID
	}
	weights, given, aerr := parseRouting(in.RoutingConfig)
	if aerr != nil {
		return nil, aerr
	}
	if given {
		req.params["AdditionalVersionWeights"] = copyWeights(weights)
		if req.params["AdditionalVersionWeights"] == nil {
			req.params["AdditionalVersionWeights"] = map[string]float64{}
		}
	}
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	fn, a, aerr := s.aliasLocked(name, alias)
	if aerr != nil {
		return nil, aerr
	}
	if in.RevisionID != nil && *in.RevisionID != a.revisionID {
		return nil, preconditionFailed()
	}
	version := a.version
	if in.FunctionVersion != nil {
		version = *in.FunctionVersion
		if fn.version(version) == nil {
			return nil, notFound("Function not found: " + s.functionARN(name) + ":" + version)
		}
	}
	if !given {
		weights = a.weights
	}
	if aerr := s.validateRouting(fn, version, weights); aerr != nil {
		return nil, aerr
	}
	a.version, a.weights = version, copyWeights(weights)
	if in.Description != nil {
		a.description = *in.Description
	}
	a.revisionID = newRequestID()
	req.result["RevisionId"], req.result["FunctionVersion"] = a.revisionID, a.version
	req.result["AdditionalVersionWeights"] = copyWeights(a.weights)
	return jsonResponse(200, s.aliasOf(fn, a))
}

// CreateFunction creates a function with only $LATEST (no-op if it exists).
func (s *Sim) CreateFunction(name string) {
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	if s.lambda.fns[name] == nil {
		s.createFunctionLocked(name, "")
	}
}

// PublishVersion publishes a new version of fn ("1", "2", ...), creating
// the function first if needed.
func (s *Sim) PublishVersion(fn string) string {
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	f := s.lambda.fns[fn]
	if f == nil {
		f = s.createFunctionLocked(fn, "")
	}
	return s.publishLocked(f, "").version
}

// CreateAlias points a new alias of fn at version (publishing versions up to
// it when missing) and returns its RevisionId. An existing alias is moved.
func (s *Sim) CreateAlias(fn, alias, version string) string {
	return s.Deploy(fn, alias, version, nil)
}

// Deploy moves alias to version with the given additional version weights
// (nil or empty: all traffic to version), as a deployment pipeline would,
// creating the function, missing versions and the alias as needed. It
// returns the new RevisionId. It bypasses validation: scenarios may build
// states the API would refuse.
func (s *Sim) Deploy(fn, alias, version string, weights map[string]float64) string {
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	f := s.lambda.fns[fn]
	if f == nil {
		f = s.createFunctionLocked(fn, "")
	}
	s.ensureVersionsLocked(f, version)
	for v := range weights {
		s.ensureVersionsLocked(f, v)
	}
	a := f.aliases[alias]
	if a == nil {
		a = &lambdaAlias{name: alias}
		f.aliases[alias] = a
	}
	a.version, a.weights, a.revisionID = version, copyWeights(weights), newRequestID()
	return a.revisionID
}

// ensureVersionsLocked publishes versions until numeric version v exists.
func (s *Sim) ensureVersionsLocked(f *lambdaFunction, v string) {
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return
		}
		n = n*10 + int(c-'0')
	}
	for len(f.versions) < n {
		s.publishLocked(f, "")
	}
}

// Alias returns an alias's version, additional version weights (nil when
// none) and RevisionId; all empty when the alias does not exist.
func (s *Sim) Alias(fn, alias string) (version string, weights map[string]float64, revisionID string) {
	s.lambda.mu.Lock()
	defer s.lambda.mu.Unlock()
	f := s.lambda.fns[fn]
	if f == nil || f.aliases[alias] == nil {
		return "", nil, ""
	}
	a := f.aliases[alias]
	return a.version, copyWeights(a.weights), a.revisionID
}
