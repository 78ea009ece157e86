package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A lambda traffic hook loads with its function (qualified or not), the
// default timeout and its payload_extra.
func TestLambdaTrafficHookLoads(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml")) + `
  [target.rollout]
  preset = "Canary10Percent5Minutes"
    [target.rollout.pre_traffic.lambda]
    function = "checkout-smoke:live"
    payload_extra = { suite = "smoke", env = "prod" }
    [target.rollout.post_traffic.lambda]
    function = "arn:aws:lambda:us-east-1:123456789012:function:checkout-verify:7"
    timeout = "15m"
`
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Targets[0].Rollout
	pre, post := r.PreTraffic.Lambda, r.PostTraffic.Lambda
	if pre == nil || pre.Function != "checkout-smoke:live" || pre.Timeout.Duration != DefaultLambdaHookTimeout ||
		pre.PayloadExtra["suite"] != "smoke" || pre.PayloadExtra["env"] != "prod" {
		t.Fatalf("pre_traffic.lambda %+v", pre)
	}
	if post == nil || post.Timeout.Duration != 15*time.Minute || !strings.HasSuffix(post.Function, ":checkout-verify:7") {
		t.Fatalf("post_traffic.lambda %+v", post)
	}
	if r.PreTraffic.Kind() != "lambda" || (&TrafficHook{Exec: &ExecHook{}}).Kind() != "exec" || (*TrafficHook)(nil).Kind() != "" {
		t.Errorf("Kind: %q", r.PreTraffic.Kind())
	}
	tg := Target{Rollout: &Rollout{Preset: "AllAtOnce", PreTraffic: &TrafficHook{Lambda: &LambdaHook{Function: "f"}}}}
	ApplyTargetDefaults(&tg)
	if tg.Rollout.PreTraffic.Lambda.Timeout.Duration != DefaultLambdaHookTimeout {
		t.Errorf("ApplyTargetDefaults: timeout %s", tg.Rollout.PreTraffic.Lambda.Timeout.Duration)
	}
}

// Every problem of a lambda hook is reported with its key path (and a line
// where the key is written), all at once.
func TestLambdaTrafficHookProblems(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml")) + `
  [target.rollout]
  preset = "AllAtOnce"
    [target.rollout.pre_traffic.lambda]
    timeout = "16m"
    payload_extra = { watch_id = "x", fine = "y" }
    functon = "typo"
    [target.rollout.post_traffic.lambda]
    function = "smoke"
    [target.rollout.post_traffic.exec]
    argv = ["/bin/true"]

[[target]]
name = "two"
function = "two"
alias = "live"
  [[target.rule]]
  name = "errors"
  kind = "error_rate"
  threshold = 0.05
  [target.rollout]
  preset = "AllAtOnce"
    [target.rollout.pre_traffic.lambda]
    function = "not a function!"
    timeout = "10ms"
    payload_extra = { n = 3 }
    [target.rollout.post_traffic.lambda]
    function = "smoke:a:b"
`
	_, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	got := map[string]Problem{}
	for _, p := range ce.Problems {
		got[p.Path] = p
	}
	want := map[string]string{
		"target[0].rollout.pre_traffic.lambda.function":               "required",
		"target[0].rollout.pre_traffic.lambda.functon":                "unknown key",
		"target[0].rollout.pre_traffic.lambda.timeout":                "must be between 1s and 15m0s (got 16m0s)",
		"target[0].rollout.pre_traffic.lambda.payload_extra.watch_id": `"watch_id" is set by canaryd`,
		"target[0].rollout.post_traffic":                              "give exactly one of webhook, exec or lambda",
		"target[1].rollout.pre_traffic.lambda.function":               `"not a function!" is not a Lambda function name`,
		"target[1].rollout.pre_traffic.lambda.timeout":                "must be between 1s and 15m0s (got 10ms)",
		"target[1].rollout.pre_traffic.lambda.payload_extra":          "each value must be a string",
		"target[1].rollout.post_traffic.lambda.function":              `"smoke:a:b" is not a Lambda function name`,
	}
	for path, w := range want {
		p, ok := got[path]
		if !ok || !strings.Contains(p.Msg, w) {
			t.Errorf("%s: %q, want it to contain %q (all: %v)", path, p.Msg, w, ce.Problems)
			continue
		}
		if p.Line == 0 && path != "target[0].rollout.pre_traffic.lambda.function" {
			t.Errorf("%s: no line number", path)
		}
	}
	if len(got) != len(want) {
		t.Errorf("problems %v, want exactly %d", ce.Problems, len(want))
	}
}

// The qualifiers a hook function may carry: a version, an alias, $LATEST;
// not an ARN's junk.
func TestLambdaHookFunctionNames(t *testing.T) {
	for fn, ok := range map[string]bool{
		"smoke": true, "smoke:live": true, "smoke:12": true, "smoke:$LATEST": true,
		"123456789012:function:smoke": true, "123456789012:function:smoke:live": true,
		"arn:aws:lambda:eu-west-1:123456789012:function:smoke":     true,
		"arn:aws:lambda:eu-west-1:123456789012:function:smoke:v2":  true,
		"arn:aws:lambda:eu-west-1:123456789012:function:smoke:a/b": false,
		"arn:aws:lambda:eu-west-1:123456789012:function:smoke:a:b": false,
		"": false, "smoke:": false, "sm oke": false, "arn:aws:s3:::bucket": false,
	} {
		l := &loader{}
		l.checkHookFunction("f", fn)
		if (len(l.problems) == 0) != ok {
			t.Errorf("%q: problems %v, want ok=%v", fn, l.problems, ok)
		}
	}
}
