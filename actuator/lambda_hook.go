package actuator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
)

// lambdaHookOutputMax is how much of a hook function's error message or
// result the detail keeps (as an exec hook's output).
const lambdaHookOutputMax = execOutputTail

// lambdaHookDetail is the detail of a lambda traffic hook.
type lambdaHookDetail struct {
	Function        string `json:"function"`
	ExecutedVersion string `json:"executed_version,omitempty"`
	FunctionError   string `json:"function_error,omitempty"` // Unhandled, Handled
	Status          string `json:"status,omitempty"`         // the result's "status", when it has one
	TimedOut        bool   `json:"timed_out,omitempty"`
	// Output is the function's errorMessage (a function error) or its
	// result (a status other than Succeeded), redacted, at most 2 KiB.
	Output string `json:"output,omitempty"`
}

// LambdaHookPayload is the payload a lambda traffic hook's function is
// invoked with: these fields and the hook's payload_extra.
func LambdaHookPayload(in TrafficHookInput, trigger string, h *config.LambdaHook) map[string]string {
	p := make(map[string]string, len(h.PayloadExtra)+7)
	for k, v := range h.PayloadExtra {
		p[k] = v
	}
	for k, v := range map[string]string{
		"event": trigger, "target": in.Target.Name, "function": in.Target.Function, "alias": in.Target.Alias,
		"watch_id": in.WatchID, "new_version": in.NewVersion, "known_good": in.KnownGood,
	} {
		p[k] = v // canaryd's own fields win (Load refuses them in payload_extra)
	}
	return p
}

// runLambdaHook invokes the hook function (RequestResponse) with the
// target's Lambda client and judges the answer the way CodeDeploy judges a
// BeforeAllowTraffic/AfterAllowTraffic hook: it passes when there is no
// function error and the result, if a JSON object with a "status", says
// "Succeeded" (in any case). The timeout (on the injected clock) bounds
// the whole call; the client's own action and response-header deadlines
// do not apply (a hook may run for up to 15 minutes).
func (a *Actuator) runLambdaHook(ctx context.Context, in TrafficHookInput, trigger string, h *config.LambdaHook, red *config.Redactor) stepOutcome {
	d := &lambdaHookDetail{Function: h.Function}
	timeout := h.Timeout.Duration
	if timeout <= 0 {
		timeout = config.DefaultLambdaHookTimeout
	}
	payload, err := json.Marshal(LambdaHookPayload(in, trigger, h))
	if err != nil {
		return failed(d, fmt.Errorf("lambda hook %s: %w", h.Function, err))
	}
	cctx, cancel := a.withTimeout(ctx, timeout)
	defer cancel()
	out, err := a.cfg.Lambda(in.Target.Name).Invoke(cctx, &lambda.InvokeInput{
		FunctionName:   aws.String(h.Function),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	}, awsclient.LongLambdaCall)
	switch {
	case err != nil && ctx.Err() == nil && cctx.Err() != nil:
		d.TimedOut = true
		return failed(d, fmt.Errorf("lambda hook %s: no answer within the timeout %s", h.Function, timeout))
	case err != nil:
		return failed(d, fmt.Errorf("lambda hook %s: invoke: %w", h.Function, invokeError(err)))
	}
	d.ExecutedVersion = aws.ToString(out.ExecutedVersion)
	if fe := aws.ToString(out.FunctionError); fe != "" {
		d.FunctionError = fe
		var e struct {
			ErrorMessage string `json:"errorMessage"`
			ErrorType    string `json:"errorType"`
		}
		msg := string(out.Payload)
		if json.Unmarshal(out.Payload, &e) == nil && e.ErrorMessage != "" {
			msg = e.ErrorMessage
			if e.ErrorType != "" {
				msg = e.ErrorType + ": " + msg
			}
		}
		d.Output = clip(red.Redact(msg), lambdaHookOutputMax)
		return failed(d, fmt.Errorf("lambda hook %s: function error (%s)", h.Function, fe))
	}
	var res map[string]json.RawMessage
	if json.Unmarshal(out.Payload, &res) != nil {
		return done(d) // not an object: no status to judge
	}
	raw, ok := res["status"]
	if !ok {
		return done(d)
	}
	var status string
	if json.Unmarshal(raw, &status) != nil {
		status = string(raw)
	}
	d.Status = clip(red.Redact(status), 64)
	if strings.EqualFold(status, "Succeeded") {
		return done(d)
	}
	d.Output = clip(red.Redact(string(out.Payload)), lambdaHookOutputMax)
	return failed(d, fmt.Errorf("lambda hook %s: status %q, want Succeeded", h.Function, d.Status))
}

// invokeError keeps an API error's code and message (an ARN, no secret)
// and drops the SDK's request wrapping.
func invokeError(err error) error {
	var ae interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err
}

// clip keeps the first max bytes of s (whole UTF-8 characters), marking a cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
