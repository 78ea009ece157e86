package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/internal/testredis"
)

// checkEnv is a simulated account with one protected function, its cache,
// health endpoint, hooks and notifiers.
type checkEnv struct {
	sim   *awssim.Sim
	rev   string
	cfg   *config.Config
	calls int // webhook and notifier requests received
}

func newCheckEnv(t *testing.T, extraTarget string) *checkEnv {
	t.Helper()
	e := &checkEnv{}
	e.sim, _ = awssim.Start(t, awssim.Options{})
	e.sim.CreateFunction("shop-fn")
	e.sim.PublishVersion("shop-fn")
	e.sim.PublishVersion("shop-fn")
	e.rev = e.sim.CreateAlias("shop-fn", "live", "2")
	now := time.Now()
	e.sim.LambdaTraffic("shop-fn", "live", "2", now.Add(-30*time.Minute), now.Add(-10*time.Minute), awssim.HealthyProfile(1))
	e.sim.CreateDistribution("E2CHECK")
	topic := e.sim.CreateTopic("deploys")
	rs := testredis.Start(t)
	rc := rs.Client(t)
	for i := range 7 {
		rc.Set(context.Background(), fmt.Sprintf("shop:page:%d", i), "x", 0)
	}
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(health.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { e.calls++ }))
	t.Cleanup(hook.Close)
	src := fmt.Sprintf(`
[aws]
region = "us-east-1"
endpoint_url = %q
max_attempts = 1
[[notifier]]
name = "oncall"
type = "webhook"
url = %q
[[notifier]]
name = "sns"
type = "sns"
topic_arn = %q
[[target]]
name = "shop"
function = "shop-fn"
alias = "live"
notify = ["oncall", "sns"]
  [[target.probe]]
  name = "health"
  url = %q
  [[target.rule]]
  name = "r"
  kind = "throttles"
  threshold = 1
  [[target.actions.cloudfront]]
  distribution = "E2CHECK"
  paths = ["/*"]
  [[target.actions.redis]]
  name = "pages"
  patterns = ["shop:page:*"]
  conn = { addrs = [%q] }
  [[target.actions.exec]]
  name = "purge"
  argv = ["/nonexistent/bin/purge", "--all"]
  critical = true
  [[target.actions.exec]]
  name = "log"
  argv = ["true"]
  [[target.actions.webhook]]
  name = "cdn"
  url = %q
%s`, e.sim.URL(), hook.URL, topic, health.URL, rs.Addr, hook.URL, extraTarget)
	cfg, err := config.Parse([]byte(src), "c.toml", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	return e
}

func (e *checkEnv) run(t *testing.T, c awsChecker) (map[string]checkStatus, string, int) {
	t.Helper()
	c.base = awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("A", "B", "")}
	var out bytes.Buffer
	failed := checkAWS(context.Background(), &out, e.cfg, c)
	got := map[string]checkStatus{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		status, rest, ok := strings.Cut(l, " ")
		key, _, ok2 := strings.Cut(strings.TrimSpace(rest), ": ")
		if !ok || !ok2 {
			t.Fatalf("malformed line %q", l)
		}
		got[key] = checkStatus(status)
	}
	return got, out.String(), failed
}

// TestCheckAWSProvesWhatARollbackNeeds: one line per check; the stale
// RevisionId proves UpdateAlias and leaves the alias as it was; a critical
// hook whose program is missing fails; nothing is sent to a notifier or
// hook.
func TestCheckAWSProvesWhatARollbackNeeds(t *testing.T) {
	e := newCheckEnv(t, "")
	got, out, failed := e.run(t, awsChecker{})
	want := map[string]checkStatus{
		"shop lambda:GetAlias":                 checkOK,
		"shop lambda:ListVersionsByFunction":   checkOK,
		"shop lambda:GetFunctionConfiguration": checkOK,
		"shop lambda:UpdateAlias":              checkOK,
		"shop cloudwatch:GetMetricData":        checkOK,
		"shop cloudfront:GetInvalidation":      checkOK,
		"shop cloudfront:CreateInvalidation":   checkUnproved,
		"shop probe health":                    checkOK,
		"shop redis pages":                     checkOK,
		"shop exec purge":                      checkFail,
		"shop exec log":                        checkOK,
		"shop webhook cdn":                     checkOK,
		"notifier oncall webhook":              checkOK,
		"notifier sns sns:Publish":             checkUnproved,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) || failed != 1 {
		t.Errorf("%d lines, %d failed; want %d and 1:\n%s", len(got), failed, len(want), out)
	}
	for _, s := range []string{"PreconditionFailedException", "7 keys match shop:page:*", "/nonexistent/bin/purge", "version 2", e.rev} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if v, w, rev := e.sim.Alias("shop-fn", "live"); v != "2" || len(w) != 0 || rev != e.rev {
		t.Errorf("alias changed by the check: %s %v %s (was RevisionId %s)", v, w, rev, e.rev)
	}
	if e.calls != 0 || len(e.sim.Invalidations("E2CHECK")) != 0 {
		t.Errorf("the check sent %d requests to hooks/notifiers and made %d invalidations", e.calls, len(e.sim.Invalidations("E2CHECK")))
	}
}

// TestCheckAWSNamesAMissingPermission: the simulator denies one action at a
// time; the check fails on exactly that line and names the permission.
func TestCheckAWSNamesAMissingPermission(t *testing.T) {
	for _, action := range []string{"lambda:UpdateAlias", "lambda:GetFunctionConfiguration", "lambda:ListVersionsByFunction",
		"cloudwatch:GetMetricData", "cloudfront:GetInvalidation"} {
		t.Run(action, func(t *testing.T) {
			e := newCheckEnv(t, "")
			e.sim.Deny(action)
			got, out, failed := e.run(t, awsChecker{})
			if got["shop "+action] != checkFail || failed != 2 { // the missing exec hook is the other
				t.Fatalf("denied %s: line %q, %d failed:\n%s", action, got["shop "+action], failed, out)
			}
			if !strings.Contains(out, "FAIL     shop "+action+": MISSING PERMISSION: AWS denied "+action) {
				t.Errorf("the line does not name the permission:\n%s", out)
			}
		})
	}
}

func TestCheckAWSInvalidateProvesCreateInvalidation(t *testing.T) {
	e := newCheckEnv(t, "")
	got, out, _ := e.run(t, awsChecker{invalidate: true})
	invs := e.sim.Invalidations("E2CHECK")
	if got["shop cloudfront:CreateInvalidation"] != checkOK || len(invs) != 1 || !strings.HasPrefix(invs[0].Paths[0], "/canaryd-check/") {
		t.Fatalf("--invalidate: %q, invalidations %+v\n%s", got["shop cloudfront:CreateInvalidation"], invs, out)
	}
	e.sim.Deny("cloudfront:CreateInvalidation")
	if got, out, _ = e.run(t, awsChecker{invalidate: true}); got["shop cloudfront:CreateInvalidation"] != checkFail {
		t.Fatalf("denied CreateInvalidation with --invalidate:\n%s", out)
	}
}

// TestCheckAWSMissingFunction: the alias cannot be read, and the checks
// that need it say so instead of passing.
func TestCheckAWSMissingFunction(t *testing.T) {
	e := newCheckEnv(t, `
[[target]]
name = "gone"
function = "no-such-fn"
alias = "live"
  [[target.rule]]
  name = "r"
  kind = "throttles"
  threshold = 1
`)
	got, out, _ := e.run(t, awsChecker{})
	for _, k := range []string{"gone lambda:GetAlias", "gone lambda:UpdateAlias", "gone lambda:GetFunctionConfiguration"} {
		if got[k] != checkFail {
			t.Errorf("%s: %q\n%s", k, got[k], out)
		}
	}
	if !strings.Contains(out, "ResourceNotFound") || got["shop lambda:UpdateAlias"] != checkOK {
		t.Errorf("output:\n%s", out)
	}
}

// TestCheckAWSAssumesTheTargetsRole: a target in another account is
// checked through its role; a role canaryd may not assume is named, and
// that target's other checks are not run with the wrong identity.
func TestCheckAWSAssumesTheTargetsRole(t *testing.T) {
	e := newCheckEnv(t, `
[[target]]
name = "other"
function = "shop-fn"
alias = "live"
role_arn = "arn:aws:iam::210987654321:role/canaryd"
  [[target.rule]]
  name = "r"
  kind = "throttles"
  threshold = 1
`)
	got, out, _ := e.run(t, awsChecker{})
	if got["other sts:AssumeRole"] != checkOK || got["other lambda:UpdateAlias"] != checkOK {
		t.Fatalf("role target:\n%s", out)
	}
	e.sim.Deny("sts:AssumeRole")
	got, out, failed := e.run(t, awsChecker{})
	if got["other sts:AssumeRole"] != checkFail || !strings.Contains(out, "MISSING PERMISSION: AWS denied sts:AssumeRole") ||
		got["other lambda:GetAlias"] != "" || got["shop lambda:GetAlias"] != checkOK || failed != 2 {
		t.Fatalf("denied role (%d failed):\n%s", failed, out)
	}
}

// TestCheckAWSCodeDeployAndLambdaHooks: a target that names its CodeDeploy
// group and a lambda traffic hook gets a line for each permission the
// rollback and the rollout need; a denied one fails and is named; the
// hook's DryRun invoke runs nothing.
func TestCheckAWSCodeDeployAndLambdaHooks(t *testing.T) {
	extra := `
  [target.codedeploy]
  application = "shop"
  deployment_group = "live"
  [target.rollout]
  steps = [{ weight = 10, hold = "5m" }, { weight = 100 }]
    [target.rollout.pre_traffic.lambda]
    function = "smoke"
`
	e := newCheckEnv(t, extra)
	var ran atomic.Int32
	e.sim.SetInvokeHandler("smoke", func([]byte) ([]byte, string) { ran.Add(1); return []byte(`{"status":"Succeeded"}`), "" })
	e.sim.StartCodeDeployDeployment("shop", "live", "shop-fn", "live", "2")
	got, out, _ := e.run(t, awsChecker{})
	for what, want := range map[string]checkStatus{"codedeploy:ListDeployments": checkOK, "codedeploy:GetDeployment": checkOK,
		"codedeploy:StopDeployment": checkUnproved, "lambda:InvokeFunction": checkOK} {
		if got["shop "+what] != want {
			t.Errorf("%s: %q, want %q\n%s", what, got["shop "+what], want, out)
		}
	}
	if n := ran.Load(); n != 0 {
		t.Fatalf("the DryRun invoke ran the hook %d times", n)
	}
	for _, action := range []string{"codedeploy:ListDeployments", "lambda:InvokeFunction"} {
		e := newCheckEnv(t, extra)
		e.sim.SetInvokeHandler("smoke", func([]byte) ([]byte, string) { return nil, "" })
		e.sim.Deny(action)
		got, out, _ := e.run(t, awsChecker{})
		if got["shop "+action] != checkFail || !strings.Contains(out, "MISSING PERMISSION: AWS denied "+action) {
			t.Errorf("denied %s: %q\n%s", action, got["shop "+action], out)
		}
	}
}

// TestCheckAWSConcurrencyLimit: a target whose throttles rule judges a
// share of requests has its concurrency limit read — the reservation, or
// else the account's unreserved pool — and a denied read warns (the
// daemon works without it) instead of failing.
func TestCheckAWSConcurrencyLimit(t *testing.T) {
	e := newCheckEnv(t, `
[[target]]
name = "share"
function = "shop-fn"
alias = "live"
  [[target.rule]]
  name = "thr"
  kind = "throttles"
  threshold = 0.002
`)
	got, out, failed := e.run(t, awsChecker{})
	if got["share lambda:GetFunctionConcurrency"] != checkOK || got["share lambda:GetAccountSettings"] != checkOK ||
		!strings.Contains(out, "unreserved pool 1000") {
		t.Fatalf("unreserved:\n%s", out)
	}
	if _, ok := got["shop lambda:GetFunctionConcurrency"]; ok {
		t.Errorf("a throttles rule counting per period read the concurrency limit:\n%s", out)
	}
	e.sim.SetReservedConcurrency("shop-fn", 40)
	got, out, _ = e.run(t, awsChecker{})
	if _, ok := got["share lambda:GetAccountSettings"]; ok || !strings.Contains(out, "reserved concurrency 40") {
		t.Fatalf("reserved:\n%s", out)
	}
	e.sim.SetReservedConcurrency("shop-fn", -1)
	e.sim.Deny("lambda:GetAccountSettings")
	got, out, denied := e.run(t, awsChecker{})
	if got["share lambda:GetAccountSettings"] != checkWarn || denied != failed ||
		!strings.Contains(out, "MISSING PERMISSION: AWS denied lambda:GetAccountSettings") {
		t.Fatalf("denied: %d failed (was %d):\n%s", denied, failed, out)
	}
}
