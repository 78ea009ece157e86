package actuator

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
)

const hookSecret = "hunter2-hook-secret"

func lambdaHook(fn string, extra map[string]string) config.TrafficHook {
	return config.TrafficHook{Lambda: &config.LambdaHook{Function: fn, Timeout: config.Duration{Duration: time.Minute}, PayloadExtra: extra}}
}

// TestLambdaTrafficHookPasses: the hook function is invoked through the
// real SDK (RequestResponse) with the rollout's payload and payload_extra;
// a "status" of Succeeded in any case passes, and so does a result that
// carries no status.
func TestLambdaTrafficHookPasses(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.sim.CreateAlias("smoke", "live", "3")
	result := `{"status":"succeeded","checked":12}`
	e.sim.SetInvokeHandler("smoke", func([]byte) ([]byte, string) { return []byte(result), "" })
	in := TrafficHookInput{Target: e.target(), WatchID: "w1", NewVersion: "2", KnownGood: "1", Pre: true}
	ok, detail := e.act.RunTrafficHook(context.Background(), in, lambdaHook("smoke:live", map[string]string{"suite": "smoke", "event": "overridden?"}))
	if !ok || !strings.Contains(detail, `"executed_version":"3"`) {
		t.Fatalf("pass: %v %s", ok, detail)
	}
	calls := e.sim.Calls("Invoke")
	if len(calls) != 1 || calls[0].Params["FunctionName"] != "smoke" || calls[0].Params["Qualifier"] != "live" || calls[0].Params["InvocationType"] != "RequestResponse" {
		t.Fatalf("calls %+v", calls)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(calls[0].Params["Payload"].(string)), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"event": "pre_traffic", "target": "checkout", "function": fnName, "alias": aliasNm,
		"watch_id": "w1", "new_version": "2", "known_good": "1", "suite": "smoke"}
	if len(got) != len(want) {
		t.Errorf("payload %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("payload[%s] = %q, want %q (%v)", k, got[k], v, got)
		}
	}
	in.Pre = false
	for _, r := range []string{`null`, `{"checked":12}`, `"done"`, `{"status":"Succeeded"}`} {
		result = r
		if ok, detail := e.act.RunTrafficHook(context.Background(), in, lambdaHook("smoke", nil)); !ok {
			t.Errorf("result %s: failed %s", r, detail)
		}
	}
	if p := e.sim.Calls("Invoke")[1].Params["Payload"].(string); !strings.Contains(p, `"event":"post_traffic"`) {
		t.Errorf("post-traffic payload %s", p)
	}
}

// TestLambdaTrafficHookFails: a function error fails with its errorMessage
// (redacted, at most 2 KiB); any status but Succeeded fails with the
// result; an unknown function fails with Lambda's error.
func TestLambdaTrafficHookFails(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Redactor = config.NewRedactor(hookSecret) })
	ferr, result := "", ""
	e.sim.SetInvokeHandler("smoke", func([]byte) ([]byte, string) { return []byte(result), ferr })
	in := TrafficHookInput{Target: e.target(), WatchID: "w1", NewVersion: "2", KnownGood: "1", Pre: true}
	run := func() (bool, string) {
		t.Helper()
		return e.act.RunTrafficHook(context.Background(), in, lambdaHook("smoke", nil))
	}

	ferr = "checkout returned 500 with token " + hookSecret + " " + strings.Repeat("x", 4000)
	ok, detail := run()
	if ok || !strings.Contains(detail, "function error (Unhandled)") || !strings.Contains(detail, "Error: checkout returned 500") ||
		strings.Contains(detail, hookSecret) || !strings.Contains(detail, "[redacted]") {
		t.Fatalf("function error: %v %s", ok, detail)
	}
	if len(detail) > 2048+512 {
		t.Errorf("detail is %d bytes: the errorMessage was not truncated", len(detail))
	}

	ferr = ""
	for _, r := range []string{`{"status":"Failed","reason":"smoke test 3 of 12 failed"}`, `{"status":42}`, `{"status":"Pending"}`} {
		result = r
		ok, detail = run()
		if ok || !strings.Contains(detail, "want Succeeded") {
			t.Errorf("result %s: %v %s", r, ok, detail)
		}
	}
	if !strings.Contains(detail, `Pending`) {
		t.Errorf("the status is not in the detail: %s", detail)
	}
	result = `{"status":"Failed","reason":"smoke test 3 of 12 failed"}`
	if _, detail = run(); !strings.Contains(detail, "smoke test 3 of 12 failed") {
		t.Errorf("the result is not in the detail: %s", detail)
	}

	ok, detail = e.act.RunTrafficHook(context.Background(), in, lambdaHook("no-such-hook", nil))
	if ok || !strings.Contains(detail, "ResourceNotFoundException") || !strings.Contains(detail, "no-such-hook") {
		t.Fatalf("unknown function: %v %s", ok, detail)
	}

	e.sim.Deny("lambda:InvokeFunction")
	ok, detail = run()
	if ok || !strings.Contains(detail, "AccessDeniedException") || !strings.Contains(detail, "lambda:InvokeFunction") {
		t.Fatalf("denied: %v %s", ok, detail)
	}
}

// TestLambdaTrafficHookTimeout: a function that does not answer within the
// hook's timeout (on the actuator's clock) fails the hook as timed out.
func TestLambdaTrafficHookTimeout(t *testing.T) {
	e := newEnv(t, nil, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the simulator stops (cleanups run last first)
	e.sim.SetInvokeHandler("slow", func([]byte) ([]byte, string) {
		entered <- struct{}{}
		<-release
		return []byte(`{"status":"Succeeded"}`), ""
	})
	in := TrafficHookInput{Target: e.target(), WatchID: "w1", NewVersion: "2", KnownGood: "1", Pre: true}
	h := lambdaHook("slow", nil)
	h.Lambda.Timeout.Duration = 5 * time.Minute // beyond the SDK's action and response-header deadlines
	type res struct {
		ok     bool
		detail string
	}
	done := make(chan res, 1)
	go func() {
		ok, detail := e.act.RunTrafficHook(context.Background(), in, h)
		done <- res{ok, detail}
	}()
	<-entered // the invoke is in flight: its timer is set
	e.clk.Advance(5*time.Minute - time.Second)
	select {
	case r := <-done:
		t.Fatalf("returned before its timeout: %+v", r)
	default:
	}
	e.clk.Advance(time.Second)
	r := <-done
	if r.ok || !strings.Contains(r.detail, "no answer within the timeout 5m0s") || !strings.Contains(r.detail, `"timed_out":true`) {
		t.Fatalf("timeout: %+v", r)
	}
}
