package awssim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CodeDeploy, as far as canaryd's rollback needs it: the Lambda deployments
// of a deployment group, listed, read and stopped over AWS JSON 1.1
// (X-Amz-Target: CodeDeploy_20141006.<Op>). A deployment moves a function's
// alias from the version it served when the deployment started to a target
// version; CodeDeployShift does what CodeDeploy's next traffic-shifting
// step would. Stopping with autoRollbackEnabled creates the rollback
// deployment CodeDeploy creates: InProgress, back to the original version.

const codeDeployTargetPrefix = "CodeDeploy_20141006."

// CodeDeploy deployment statuses (the SDK's types.DeploymentStatus).
const (
	DeploymentCreated    = "Created"
	DeploymentQueued     = "Queued"
	DeploymentInProgress = "InProgress"
	DeploymentBaking     = "Baking"
	DeploymentReady      = "Ready"
	DeploymentSucceeded  = "Succeeded"
	DeploymentFailed     = "Failed"
	DeploymentStopped    = "Stopped"
)

// CodeDeployDeployment is a simulated CodeDeploy deployment of a Lambda
// alias, as CodeDeployDeployment returns it.
type CodeDeployDeployment struct {
	ID, Application, Group string
	Function, Alias        string
	FromVersion, ToVersion string // the alias's version at start; the version deployed
	Status                 string
	Creator                string // "user", or "codeDeployRollback" for a rollback deployment
	Created, Completed     time.Time
	// Set on a deployment stopped with autoRollbackEnabled: the rollback
	// deployment it triggered; on that rollback deployment, the one stopped.
	RollbackDeploymentID    string
	RollbackTriggeringID    string
	StoppedWithAutoRollback bool
}

type cdState struct {
	mu     sync.Mutex
	groups map[string]bool // "app/group"
	apps   map[string]bool
	deps   map[string]*CodeDeployDeployment
	order  []string // ids, oldest first
	seq    int
}

func newCDState() *cdState {
	return &cdState{groups: map[string]bool{}, apps: map[string]bool{}, deps: map[string]*CodeDeployDeployment{}}
}

// CreateDeploymentGroup makes a CodeDeploy application and deployment
// group exist (no-op if they do). StartCodeDeployDeployment creates them
// too.
func (s *Sim) CreateDeploymentGroup(app, group string) {
	s.cd.mu.Lock()
	s.cd.apps[app], s.cd.groups[app+"/"+group] = true, true
	s.cd.mu.Unlock()
}

// StartCodeDeployDeployment starts an InProgress deployment of fn:alias to
// toVersion in app/group, as a pipeline's CreateDeployment would, and
// returns its id ("d-" and 9 characters). The alias is not moved: call
// Deploy for the traffic CodeDeploy has shifted so far, CodeDeployShift
// for the rest.
func (s *Sim) StartCodeDeployDeployment(app, group, fn, alias, toVersion string) string {
	from, _, _ := s.Alias(fn, alias)
	s.cd.mu.Lock()
	defer s.cd.mu.Unlock()
	s.cd.apps[app], s.cd.groups[app+"/"+group] = true, true
	return s.newDeploymentLocked(&CodeDeployDeployment{Application: app, Group: group, Function: fn, Alias: alias,
		FromVersion: from, ToVersion: toVersion, Status: DeploymentInProgress, Creator: "user"})
}

func (s *Sim) newDeploymentLocked(d *CodeDeployDeployment) string {
	s.cd.seq++
	d.ID = fmt.Sprintf("d-%09X", 0x5A1000+s.cd.seq)
	d.Created = s.clock.Now()
	s.cd.deps[d.ID] = d
	s.cd.order = append(s.cd.order, d.ID)
	return d.ID
}

// CodeDeployDeployment returns a deployment by id (ok false when unknown).
func (s *Sim) CodeDeployDeployment(id string) (CodeDeployDeployment, bool) {
	s.cd.mu.Lock()
	defer s.cd.mu.Unlock()
	d, ok := s.cd.deps[id]
	if !ok {
		return CodeDeployDeployment{}, false
	}
	return *d, true
}

// CodeDeployShift does what CodeDeploy does at its next step: every
// deployment still in progress (a rollback deployment included) moves its
// alias to its target version alone and succeeds. An alias already there
// is not touched (its RevisionId stays). It returns the ids that shifted.
func (s *Sim) CodeDeployShift() []string {
	s.cd.mu.Lock()
	var due []*CodeDeployDeployment
	for _, id := range s.cd.order {
		if d := s.cd.deps[id]; active(d.Status) {
			d.Status, d.Completed = DeploymentSucceeded, s.clock.Now()
			cp := *d
			due = append(due, &cp)
		}
	}
	s.cd.mu.Unlock()
	var ids []string
	for _, d := range due {
		if v, w, _ := s.Alias(d.Function, d.Alias); v != d.ToVersion || len(w) > 0 {
			s.Deploy(d.Function, d.Alias, d.ToVersion, nil)
		}
		ids = append(ids, d.ID)
	}
	return ids
}

// active reports whether a deployment is not yet finished.
func active(status string) bool {
	switch status {
	case DeploymentCreated, DeploymentQueued, DeploymentInProgress, DeploymentBaking, DeploymentReady:
		return true
	}
	return false
}

// codedeployRoute recognises the JSON 1.1 operations of CodeDeploy.
func (s *Sim) codedeployRoute(r *http.Request) (route, bool) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), codeDeployTargetPrefix)
	if !ok || r.Method != http.MethodPost {
		return route{}, false
	}
	h := map[string]handlerFunc{
		"ListDeployments": s.cdListDeployments,
		"GetDeployment":   s.cdGetDeployment,
		"StopDeployment":  s.cdStopDeployment,
	}[op]
	if h == nil {
		h = func(*request) (*response, *apiError) {
			return nil, &apiError{status: 400, code: "UnknownOperationException", message: "awssim does not implement CodeDeploy " + op}
		}
	}
	return route{service: "codedeploy", api: op, h: h}, true
}

func cdInvalid(code, msg string) *apiError { return &apiError{status: 400, code: code, message: msg} }

func json11(v any) (*response, *apiError) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &apiError{status: 500, code: "InternalFailure", message: err.Error()}
	}
	return &response{status: 200, ctype: "application/x-amz-json-1.1", body: b}, nil
}

// cdListDeploymentsPage is how many ids a ListDeployments page holds.
const cdListDeploymentsPage = 100

func (s *Sim) cdListDeployments(req *request) (*response, *apiError) {
	var in struct {
		ApplicationName     string   `json:"applicationName"`
		DeploymentGroupName string   `json:"deploymentGroupName"`
		IncludeOnlyStatuses []string `json:"includeOnlyStatuses"`
		NextToken           string   `json:"nextToken"`
	}
	if err := json.Unmarshal(req.body, &in); err != nil {
		return nil, cdInvalid("InvalidInputException", "malformed request: "+err.Error())
	}
	req.params["applicationName"], req.params["deploymentGroupName"] = in.ApplicationName, in.DeploymentGroupName
	req.params["includeOnlyStatuses"] = strings.Join(in.IncludeOnlyStatuses, ",")
	want := map[string]bool{}
	for _, st := range in.IncludeOnlyStatuses {
		if !active(st) && st != DeploymentSucceeded && st != DeploymentFailed && st != DeploymentStopped {
			return nil, cdInvalid("InvalidDeploymentStatusException", "Invalid deployment status: "+st)
		}
		want[st] = true
	}
	s.cd.mu.Lock()
	defer s.cd.mu.Unlock()
	switch {
	case in.ApplicationName == "" && in.DeploymentGroupName != "":
		return nil, cdInvalid("ApplicationNameRequiredException", "The application name must be specified when the deployment group name is specified")
	case in.ApplicationName != "" && in.DeploymentGroupName == "":
		return nil, cdInvalid("DeploymentGroupNameRequiredException", "The deployment group name must be specified when the application name is specified")
	case in.ApplicationName != "" && !s.cd.apps[in.ApplicationName]:
		return nil, cdInvalid("ApplicationDoesNotExistException", "No application found for name: "+in.ApplicationName)
	case in.ApplicationName != "" && !s.cd.groups[in.ApplicationName+"/"+in.DeploymentGroupName]:
		return nil, cdInvalid("DeploymentGroupDoesNotExistException", "No Deployment Group found for name: "+in.DeploymentGroupName)
	}
	var ids []string
	for i := len(s.cd.order) - 1; i >= 0; i-- { // newest first
		d := s.cd.deps[s.cd.order[i]]
		if in.ApplicationName != "" && (d.Application != in.ApplicationName || d.Group != in.DeploymentGroupName) {
			continue
		}
		if len(want) > 0 && !want[d.Status] {
			continue
		}
		ids = append(ids, d.ID)
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 || n > len(ids) {
			return nil, cdInvalid("InvalidNextTokenException", "The next token was specified in an invalid format")
		}
		start = n
	}
	end := min(start+cdListDeploymentsPage, len(ids))
	out := map[string]any{"deployments": append([]string{}, ids[start:end]...)}
	if end < len(ids) {
		out["nextToken"] = strconv.Itoa(end)
	}
	req.result["deployments"] = strings.Join(ids[start:end], ",")
	return json11(out)
}

// deploymentIDLocked reads and checks a request's deploymentId.
func (s *Sim) deploymentIDLocked(req *request) (*CodeDeployDeployment, bool, *apiError) {
	var in struct {
		DeploymentID        string `json:"deploymentId"`
		AutoRollbackEnabled *bool  `json:"autoRollbackEnabled"`
	}
	if err := json.Unmarshal(req.body, &in); err != nil {
		return nil, false, cdInvalid("InvalidInputException", "malformed request: "+err.Error())
	}
	req.params["deploymentId"] = in.DeploymentID
	auto := in.AutoRollbackEnabled != nil && *in.AutoRollbackEnabled
	if in.AutoRollbackEnabled != nil {
		req.params["autoRollbackEnabled"] = auto
	}
	switch {
	case in.DeploymentID == "":
		return nil, auto, cdInvalid("DeploymentIdRequiredException", "Deployment id must be specified")
	case !strings.HasPrefix(in.DeploymentID, "d-") || len(in.DeploymentID) != 11:
		return nil, auto, cdInvalid("InvalidDeploymentIdException", "Specified DeploymentId is not in the valid format: "+in.DeploymentID)
	}
	d, ok := s.cd.deps[in.DeploymentID]
	if !ok {
		return nil, auto, cdInvalid("DeploymentDoesNotExistException", "Deployment "+in.DeploymentID+" does not exist")
	}
	return d, auto, nil
}

func (s *Sim) cdGetDeployment(req *request) (*response, *apiError) {
	s.cd.mu.Lock()
	defer s.cd.mu.Unlock()
	d, _, aerr := s.deploymentIDLocked(req)
	if aerr != nil {
		return nil, aerr
	}
	req.result["status"] = d.Status
	info := map[string]any{
		"deploymentId": d.ID, "applicationName": d.Application, "deploymentGroupName": d.Group,
		"status": d.Status, "creator": d.Creator, "computePlatform": "Lambda",
		"deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
		"createTime":           epochSeconds(d.Created),
	}
	if !d.Completed.IsZero() {
		info["completeTime"] = epochSeconds(d.Completed)
	}
	rb := map[string]any{}
	if d.RollbackDeploymentID != "" {
		rb["rollbackDeploymentId"] = d.RollbackDeploymentID
		rb["rollbackMessage"] = "Deployment stopped by user; rolling back with " + d.RollbackDeploymentID
	}
	if d.RollbackTriggeringID != "" {
		rb["rollbackTriggeringDeploymentId"] = d.RollbackTriggeringID
	}
	if len(rb) > 0 {
		info["rollbackInfo"] = rb
	}
	if d.Status == DeploymentStopped {
		info["errorInformation"] = map[string]any{"code": "MANUAL_STOP", "message": "The deployment was stopped by a user"}
	}
	return json11(map[string]any{"deploymentInfo": info})
}

func (s *Sim) cdStopDeployment(req *request) (*response, *apiError) {
	s.cd.mu.Lock()
	defer s.cd.mu.Unlock()
	d, auto, aerr := s.deploymentIDLocked(req)
	if aerr != nil {
		return nil, aerr
	}
	if !active(d.Status) {
		return nil, cdInvalid("DeploymentAlreadyCompletedException", "Deployment is already completed: "+d.ID)
	}
	d.Status, d.Completed = DeploymentStopped, s.clock.Now()
	msg := "Deployment stopped"
	if auto {
		d.StoppedWithAutoRollback = true
		d.RollbackDeploymentID = s.newDeploymentLocked(&CodeDeployDeployment{Application: d.Application, Group: d.Group,
			Function: d.Function, Alias: d.Alias, FromVersion: d.ToVersion, ToVersion: d.FromVersion,
			Status: DeploymentInProgress, Creator: "codeDeployRollback", RollbackTriggeringID: d.ID})
		msg += "; rollback deployment " + d.RollbackDeploymentID + " started"
	}
	req.result["status"], req.result["rollbackDeploymentId"] = "Succeeded", d.RollbackDeploymentID
	return json11(map[string]any{"status": "Succeeded", "statusMessage": msg})
}

func epochSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
