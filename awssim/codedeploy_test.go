package awssim

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

var activeStatuses = []cdtypes.DeploymentStatus{cdtypes.DeploymentStatusCreated, cdtypes.DeploymentStatusQueued,
	cdtypes.DeploymentStatusInProgress, cdtypes.DeploymentStatusReady, cdtypes.DeploymentStatusBaking}

func cdNoRetry(o *codedeploy.Options) { o.RetryMaxAttempts = 1 }

// TestCodeDeployThroughTheSDK: the real CodeDeploy client lists a group's
// deployments (newest first, filtered by status), reads one, and stops it
// with auto-rollback, which starts the rollback deployment; a second stop
// and an unknown id get CodeDeploy's modeled exceptions.
func TestCodeDeployThroughTheSDK(t *testing.T) {
	s, _, _ := start(t, Options{})
	cd := codedeploy.NewFromConfig(mustConfig(t, s))
	s.CreateAlias("fn", "live", "1")
	s.PublishVersion("fn")
	s.PublishVersion("fn")
	old := s.StartCodeDeployDeployment("app", "grp", "fn", "live", "2")
	s.CodeDeployShift() // old succeeds: alias on 2
	id := s.StartCodeDeployDeployment("app", "grp", "fn", "live", "3")
	other := s.StartCodeDeployDeployment("app", "other", "fn", "live", "3")

	all, err := cd.ListDeployments(ctx(t), &codedeploy.ListDeploymentsInput{ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("grp")})
	if err != nil || strings.Join(all.Deployments, ",") != id+","+old {
		t.Fatalf("ListDeployments = %v, %v; want [%s %s] (newest first, group only; %s is another group's)", all.Deployments, err, id, old, other)
	}
	live, err := cd.ListDeployments(ctx(t), &codedeploy.ListDeploymentsInput{ApplicationName: aws.String("app"),
		DeploymentGroupName: aws.String("grp"), IncludeOnlyStatuses: activeStatuses})
	if err != nil || len(live.Deployments) != 1 || live.Deployments[0] != id {
		t.Fatalf("ListDeployments in progress = %v, %v", live.Deployments, err)
	}
	got, err := cd.GetDeployment(ctx(t), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
	if err != nil || got.DeploymentInfo.Status != cdtypes.DeploymentStatusInProgress || aws.ToString(got.DeploymentInfo.ApplicationName) != "app" ||
		aws.ToString(got.DeploymentInfo.DeploymentGroupName) != "grp" || aws.ToString(got.DeploymentInfo.DeploymentId) != id {
		t.Fatalf("GetDeployment = %+v, %v", got, err)
	}

	stop, err := cd.StopDeployment(ctx(t), &codedeploy.StopDeploymentInput{DeploymentId: aws.String(id), AutoRollbackEnabled: aws.Bool(true)})
	if err != nil || stop.Status != cdtypes.StopStatusSucceeded || aws.ToString(stop.StatusMessage) == "" {
		t.Fatalf("StopDeployment = %+v, %v", stop, err)
	}
	got, err = cd.GetDeployment(ctx(t), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
	if err != nil || got.DeploymentInfo.Status != cdtypes.DeploymentStatusStopped || got.DeploymentInfo.RollbackInfo == nil {
		t.Fatalf("GetDeployment after stop = %+v, %v", got.DeploymentInfo, err)
	}
	rb := aws.ToString(got.DeploymentInfo.RollbackInfo.RollbackDeploymentId)
	rbd, ok := s.CodeDeployDeployment(rb)
	if !ok || rbd.Creator != "codeDeployRollback" || rbd.ToVersion != "2" || rbd.Status != DeploymentInProgress || rbd.RollbackTriggeringID != id {
		t.Fatalf("rollback deployment %+v", rbd)
	}
	if c := s.Calls("StopDeployment"); len(c) != 1 || c[0].Params["deploymentId"] != id || c[0].Params["autoRollbackEnabled"] != true {
		t.Fatalf("StopDeployment calls %+v", c)
	}

	_, err = cd.StopDeployment(ctx(t), &codedeploy.StopDeploymentInput{DeploymentId: aws.String(id)}, cdNoRetry)
	var done *cdtypes.DeploymentAlreadyCompletedException
	if !asErr(err, &done) {
		t.Errorf("second stop: %v, want DeploymentAlreadyCompletedException", err)
	}
	_, err = cd.StopDeployment(ctx(t), &codedeploy.StopDeploymentInput{DeploymentId: aws.String("d-000000000")}, cdNoRetry)
	var missing *cdtypes.DeploymentDoesNotExistException
	if !asErr(err, &missing) {
		t.Errorf("unknown id: %v, want DeploymentDoesNotExistException", err)
	}
	_, err = cd.ListDeployments(ctx(t), &codedeploy.ListDeploymentsInput{ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("nope")}, cdNoRetry)
	var noGroup *cdtypes.DeploymentGroupDoesNotExistException
	if !asErr(err, &noGroup) {
		t.Errorf("unknown group: %v, want DeploymentGroupDoesNotExistException", err)
	}
}

// TestCodeDeployShift: an in-progress deployment moves its alias at the
// next shift; a stopped one does not, and its rollback deployment moves
// the alias back to the original version.
func TestCodeDeployShift(t *testing.T) {
	for _, auto := range []bool{false, true} {
		s, _, _ := start(t, Options{})
		cd := codedeploy.NewFromConfig(mustConfig(t, s))
		s.CreateAlias("fn", "live", "1")
		id := s.StartCodeDeployDeployment("app", "grp", "fn", "live", "2")
		s.Deploy("fn", "live", "1", map[string]float64{"2": 0.1}) // CodeDeploy's first step: 10%
		if _, err := cd.StopDeployment(ctx(t), &codedeploy.StopDeploymentInput{DeploymentId: aws.String(id), AutoRollbackEnabled: aws.Bool(auto)}); err != nil {
			t.Fatal(err)
		}
		shifted := s.CodeDeployShift()
		v, w, _ := s.Alias("fn", "live")
		switch {
		case !auto && (len(shifted) != 0 || v != "1" || w["2"] != 0.1):
			t.Errorf("stopped without rollback: shifted %v, alias %s %v; want untouched", shifted, v, w)
		case auto && (len(shifted) != 1 || v != "1" || len(w) != 0):
			t.Errorf("stopped with rollback: shifted %v, alias %s %v; want the rollback to move it to 1 alone", shifted, v, w)
		}
		if d, _ := s.CodeDeployDeployment(id); d.Status != DeploymentStopped || d.StoppedWithAutoRollback != auto {
			t.Errorf("deployment %+v", d)
		}
	}
}

// TestCodeDeployWire: JSON 1.1 as the service speaks it — errors carry
// __type and X-Amzn-Errortype, a denied action is AccessDeniedException,
// and an injected throttle is CodeDeploy's ThrottlingException.
func TestCodeDeployWire(t *testing.T) {
	s, _, _ := start(t, Options{})
	post := func(op, body string) (int, http.Header, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "CodeDeploy_20141006."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	code, h, body := post("StopDeployment", `{"deploymentId":"d-ABCDEFGHI"}`)
	if code != 400 || h.Get("Content-Type") != "application/x-amz-json-1.1" || !strings.Contains(body, `"__type":"DeploymentDoesNotExistException"`) {
		t.Errorf("unknown deployment: %d %v %s", code, h, body)
	}
	code, _, body = post("CreateDeployment", `{}`)
	if code != 400 || !strings.Contains(body, "UnknownOperationException") {
		t.Errorf("unimplemented op: %d %s", code, body)
	}
	s.Deny("codedeploy:StopDeployment")
	code, _, body = post("StopDeployment", `{"deploymentId":"d-ABCDEFGHI"}`)
	if code != 403 || !strings.Contains(body, `"__type":"AccessDeniedException"`) {
		t.Errorf("denied: %d %s", code, body)
	}
	s.Allow("codedeploy:StopDeployment")
	s.InjectFault(Fault{API: "ListDeployments", Kind: FaultThrottle, Count: 1})
	code, _, body = post("ListDeployments", `{}`)
	if code != 400 || !strings.Contains(body, `"__type":"ThrottlingException"`) {
		t.Errorf("throttled: %d %s", code, body)
	}
	if c := s.Calls("ListDeployments"); len(c) != 1 || c[0].Err != "ThrottlingException" || c[0].Params["Fault"] != "throttle" {
		t.Errorf("calls %+v", c)
	}
}

func mustConfig(t *testing.T, s *Sim) aws.Config {
	t.Helper()
	cfg, err := s.Config(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
