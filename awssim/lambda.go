package awssim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// lambdaState holds functions, their published versions and aliases.
type lambdaState struct {
	mu     sync.Mutex
	fns    map[string]*lambdaFunction
	invoke map[string]InvokeHandler // by function name (SetInvokeHandler)
	// accountLimit is the account's concurrency limit (SetAccountConcurrency).
	accountLimit int
}

type lambdaFunction struct {
	name     string
	latest   *fnVersion
	versions []*fnVersion // published, ascending
	aliases  map[string]*lambdaAlias
	// reserved is the reserved concurrency, -1 when none is set.
	reserved int
	inFlight int // Invokes running now (held against reserved)
}

type fnVersion struct {
	version      string
	description  string
	codeSha      string
	revisionID   string
	lastModified time.Time
}

type lambdaAlias struct {
	name        string
	version     string
	weights     map[string]float64
	description string
	revisionID  string
}

func newLambdaState() *lambdaState {
	return &lambdaState{fns: map[string]*lambdaFunction{}, accountLimit: defaultAccountConcurrency}
}

// wire shapes (REST-JSON member names as the SDK's schemas spell them)

type functionConfiguration struct {
	FunctionName     string `json:"FunctionName"`
	FunctionArn      string `json:"FunctionArn"`
	Version          string `json:"Version"`
	Runtime          string `json:"Runtime,omitempty"`
	Role             string `json:"Role,omitempty"`
	Handler          string `json:"Handler,omitempty"`
	Description      string `json:"Description"`
	CodeSha256       string `json:"CodeSha256"`
	CodeSize         int64  `json:"CodeSize"`
	Timeout          int32  `json:"Timeout"`
	MemorySize       int32  `json:"MemorySize"`
	LastModified     string `json:"LastModified"`
	RevisionID       string `json:"RevisionId"`
	State            string `json:"State"`
	LastUpdateStatus string `json:"LastUpdateStatus"`
	PackageType      string `json:"PackageType"`
}

type routingConfig struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights,omitempty"`
}

type aliasConfiguration struct {
	AliasArn        string         `json:"AliasArn"`
	Name            string         `json:"Name"`
	FunctionVersion string         `json:"FunctionVersion"`
	Description     string         `json:"Description"`
	RoutingConfig   *routingConfig `json:"RoutingConfig,omitempty"`
	RevisionID      string         `json:"RevisionId"`
}

// aliasInput is CreateAlias/UpdateAlias's body. RoutingConfig is raw so an
// absent RoutingConfig (keep) differs from an empty one (clear).
type aliasInput struct {
	Name            *string          `json:"Name"`
	FunctionVersion *string          `json:"FunctionVersion"`
	Description     *string          `json:"Description"`
	RoutingConfig   *json.RawMessage `json:"RoutingConfig"`
	RevisionID      *string          `json:"RevisionId"`
}

func (s *Sim) lambdaRoute(r *http.Request) (route, bool) {
	segs := pathSegments(r.URL)
	if len(segs) == 2 && segs[0] == "2016-08-19" && segs[1] == "account-settings" {
		if r.Method == http.MethodGet {
			return route{service: "lambda", api: "GetAccountSettings", h: s.lambdaGetAccountSettings}, true
		}
		return unknownOp("lambda", r), true
	}
	// segs[0]="2015-03-31" (or another API version), segs[1]="functions"
	if len(segs) < 2 || segs[1] != "functions" {
		return route{}, false
	}
	rest := segs[2:]
	rt := func(api string, h handlerFunc) (route, bool) {
		return route{service: "lambda", api: api, h: h, vars: rest}, true
	}
	if segs[0] != "2015-03-31" {
		return s.lambdaConcurrencyRoute(r, segs[0], rest)
	}
	switch {
	case len(rest) == 0 && r.Method == http.MethodPost:
		return rt("CreateFunction", s.lambdaCreateFunction)
	case len(rest) == 2 && rest[1] == "configuration" && r.Method == http.MethodGet:
		return rt("GetFunctionConfiguration", s.lambdaGetFunctionConfiguration)
	case len(rest) == 2 && rest[1] == "versions" && r.Method == http.MethodPost:
		return rt("PublishVersion", s.lambdaPublishVersion)
	case len(rest) == 2 && rest[1] == "versions" && r.Method == http.MethodGet:
		return rt("ListVersionsByFunction", s.lambdaListVersions)
	case len(rest) == 2 && rest[1] == "aliases" && r.Method == http.MethodPost:
		return rt("CreateAlias", s.lambdaCreateAlias)
	case len(rest) == 2 && rest[1] == "aliases" && r.Method == http.MethodGet:
		return rt("ListAliases", s.lambdaListAliases)
	case len(rest) == 3 && rest[1] == "aliases" && r.Method == http.MethodGet:
		return rt("GetAlias", s.lambdaGetAlias)
	case len(rest) == 3 && rest[1] == "aliases" && r.Method == http.MethodPut:
		return rt("UpdateAlias", s.lambdaUpdateAlias)
	case len(rest) == 2 && rest[1] == "invocations" && r.Method == http.MethodPost:
		return rt("Invoke", s.lambdaInvoke)
	case len(rest) == 3 && rest[1] == "aliases" && r.Method == http.MethodDelete:
		return rt("DeleteAlias", s.lambdaDeleteAlias)
	}
	return unknownOp("lambda", r), true
}

// pathSegments splits the escaped path and unescapes each segment, so an
// ARN label (with escaped ':') stays one segment.
func pathSegments(u *url.URL) []string {
	parts := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	for i, p := range parts {
		if v, err := url.PathUnescape(p); err == nil {
			parts[i] = v
		}
	}
	return parts
}

// parseFunctionName accepts a name, "name:qualifier", a partial ARN
// ("123456789012:function:name") or a full ARN, with optional qualifier.
func parseFunctionName(s string) (name, qualifier string) {
	parts := strings.Split(s, ":")
	for i, p := range parts {
		if p == "function" && i+1 < len(parts) {
			name = parts[i+1]
			if i+2 < len(parts) {
				qualifier = parts[i+2]
			}
			return name, qualifier
		}
	}
	if len(parts) == 2 {
		return parts[0], parts[1]
	}
	return s, ""
}

func (s *Sim) functionARN(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", s.region, s.account, name)
}

func notFound(msg string) *apiError {
	return &apiError{status: 404, code: "ResourceNotFoundException", message: msg}
}

func invalidParam(format string, a ...any) *apiError {
	return &apiError{status: 400, code: "InvalidParameterValueException", message: fmt.Sprintf(format, a...)}
}

// fnLocked finds a function; s.lambda.mu must be held.
func (s *Sim) fnLocked(name string) (*lambdaFunction, *apiError) {
	fn := s.lambda.fns[name]
	if fn == nil {
		return nil, notFound("Function not found: " + s.functionARN(name))
	}
	return fn, nil
}

func (fn *lambdaFunction) version(v string) *fnVersion {
	if v == "$LATEST" {
		return fn.latest
	}
	for _, fv := range fn.versions {
		if fv.version == v {
			return fv
		}
	}
	return nil
}

func (s *Sim) configOf(fn *lambdaFunction, fv *fnVersion) functionConfiguration {
	arn := s.functionARN(fn.name)
	if fv.version != "$LATEST" {
		arn += ":" + fv.version
	}
	return functionConfiguration{
		FunctionName: fn.name, FunctionArn: arn, Version: fv.version,
		Runtime: "provided.al2023", Role: fmt.Sprintf("arn:aws:iam::%s:role/awssim", s.account), Handler: "bootstrap",
		Description: fv.description, CodeSha256: fv.codeSha, CodeSize: 1024, Timeout: 3, MemorySize: 128,
		LastModified: fv.lastModified.UTC().Format("2006-01-02T15:04:05.000-0700"),
		RevisionID:   fv.revisionID, State: "Active", LastUpdateStatus: "Successful", PackageType: "Zip",
	}
}

func (s *Sim) aliasOf(fn *lambdaFunction, a *lambdaAlias) aliasConfiguration {
	out := aliasConfiguration{
		AliasArn: s.functionARN(fn.name) + ":" + a.name, Name: a.name, FunctionVersion: a.version,
		Description: a.description, RevisionID: a.revisionID,
	}
	if len(a.weights) > 0 {
		out.RoutingConfig = &routingConfig{AdditionalVersionWeights: copyWeights(a.weights)}
	}
	return out
}

func copyWeights(w map[string]float64) map[string]float64 {
	if len(w) == 0 {
		return nil
	}
	out := make(map[string]float64, len(w))
	for k, v := range w {
		out[k] = v
	}
	return out
}
