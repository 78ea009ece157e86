package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rollout says how canaryd shifts a target's traffic itself, step by step,
// when a pipeline asks it to deploy a version (`canaryd deploy`).
type Rollout struct {
	// Preset is one of CodeDeploy's Lambda deployment configurations:
	// Canary10Percent5Minutes (10%, CANARY then 100%), Linear10PercentEvery1Minute
	// (10%, 20% ... 100%), AllAtOnce. Steps, when given, replace it.
	Preset string        `toml:"preset"`
	Steps  []RolloutStep `toml:"steps"`
	// PreTraffic runs before any traffic moves (a failure moves none);
	// PostTraffic after 100 % (a failure rolls back).
	PreTraffic  *TrafficHook `toml:"pre_traffic"`
	PostTraffic *TrafficHook `toml:"post_traffic"`
	// StallAfter is how long a step may hold past its hold waiting for
	// evidence (low traffic, a rule on its way to a trip) before on-call is
	// told, once per step; default 30m.
	StallAfter Duration `toml:"stall_after"`
}

// DefaultStallAfter is Rollout.StallAfter's default.
const DefaultStallAfter = 30 * time.Minute

// RolloutStep is one weight of a rollout.
type RolloutStep struct {
	Weight float64  `toml:"weight"` // percent of the traffic on the new version, (0, 100]
	Hold   Duration `toml:"hold"`   // judged this long before the next step
	Gate   bool     `toml:"gate"`   // after the hold, wait for `canaryd promote`
}

// TrafficHook is a rollout's gate: a signed webhook or an exec hook (the
// same as the rollback plan's hooks), or the invoke of a Lambda function
// (CodeDeploy's BeforeAllowTraffic / AfterAllowTraffic); exactly one. It
// passes when it succeeds.
type TrafficHook struct {
	Webhook *WebhookHook `toml:"webhook"`
	Exec    *ExecHook    `toml:"exec"`
	Lambda  *LambdaHook  `toml:"lambda"`
}

// LambdaHook is a traffic hook that invokes a Lambda function
// (RequestResponse) with the rollout's details; it passes when the
// function returns without a function error and, if its result is a JSON
// object with a "status", that status is "Succeeded".
type LambdaHook struct {
	// Function is the hook function: a name, a partial or full ARN, each
	// optionally qualified with a version or alias ("smoke:live").
	Function string   `toml:"function"`
	Timeout  Duration `toml:"timeout"` // default 60s, at most 15m (Lambda's own limit)
	// PayloadExtra are more string fields of the invoke payload; they may
	// not replace the ones canaryd sets (LambdaHookPayloadKeys).
	PayloadExtra map[string]string `toml:"payload_extra"`
}

// Bounds of a lambda hook's timeout.
const (
	DefaultLambdaHookTimeout = 60 * time.Second
	MaxLambdaHookTimeout     = 15 * time.Minute
)

// LambdaHookPayloadKeys are the fields canaryd sets in a lambda hook's
// payload; payload_extra may not name them.
var LambdaHookPayloadKeys = []string{"event", "target", "function", "alias", "watch_id", "new_version", "known_good"}

// Kind names the hook's kind: "webhook", "exec" or "lambda" ("" when none).
func (h *TrafficHook) Kind() string {
	switch {
	case h == nil:
		return ""
	case h.Webhook != nil:
		return "webhook"
	case h.Exec != nil:
		return "exec"
	case h.Lambda != nil:
		return "lambda"
	}
	return ""
}

var presetRE = regexp.MustCompile(`^(Canary|Linear)(\d+)Percent(?:Every)?(\d+)Minutes?$`)

// RolloutSteps are the steps a rollout takes: its Steps, or its Preset's.
func (r *Rollout) RolloutSteps() ([]RolloutStep, error) {
	if len(r.Steps) > 0 {
		return r.Steps, nil
	}
	switch r.Preset {
	case "AllAtOnce":
		return []RolloutStep{{Weight: 100}}, nil
	case "":
		return nil, fmt.Errorf("give steps or a preset")
	}
	m := presetRE.FindStringSubmatch(r.Preset)
	if m == nil {
		return nil, fmt.Errorf("unknown preset %q (want e.g. Canary10Percent5Minutes, Linear10PercentEvery1Minute, AllAtOnce)", r.Preset)
	}
	pct, _ := strconv.Atoi(m[2])
	mins, _ := strconv.Atoi(m[3])
	if pct <= 0 || pct >= 100 || mins <= 0 {
		return nil, fmt.Errorf("preset %q: percent must be in (0, 100) and minutes positive", r.Preset)
	}
	hold := Duration{Duration: time.Duration(mins) * time.Minute}
	if m[1] == "Canary" {
		return []RolloutStep{{Weight: float64(pct), Hold: hold}, {Weight: 100}}, nil
	}
	var steps []RolloutStep
	for w := pct; w < 100; w += pct {
		steps = append(steps, RolloutStep{Weight: float64(w), Hold: hold})
	}
	return append(steps, RolloutStep{Weight: 100}), nil
}

// validateRollout checks a target's rollout: its steps climb to 100 %.
func (l *loader) validateRollout(path string, r *Rollout) {
	if r != nil && r.StallAfter.Duration < 0 {
		l.add(path+".stall_after", "must not be negative")
	}
	if r == nil {
		return
	}
	steps, err := r.RolloutSteps()
	if err != nil {
		l.add(path, "%v", err)
		return
	}
	prev := 0.0
	for i, s := range steps {
		p := fmt.Sprintf("%s.steps[%d]", path, i)
		switch {
		case s.Weight <= prev || s.Weight > 100:
			l.add(p+".weight", "must be above the step before (%g) and at most 100 (got %g)", prev, s.Weight)
		case s.Hold.Duration < 0:
			l.add(p+".hold", "must not be negative")
		}
		prev = s.Weight
	}
	if prev != 100 {
		l.add(path+".steps", "the last step must be 100 (all traffic on the new version)")
	}
	for _, name := range []string{"pre_traffic", "post_traffic"} {
		h := r.PreTraffic
		if name == "post_traffic" {
			h = r.PostTraffic
		}
		l.validateTrafficHook(path+"."+name, h)
	}
}

// validateTrafficHook checks one traffic hook: exactly one kind, and a
// lambda hook's function, timeout and payload_extra.
func (l *loader) validateTrafficHook(path string, h *TrafficHook) {
	if h == nil {
		return
	}
	n := 0
	for _, set := range []bool{h.Webhook != nil, h.Exec != nil, h.Lambda != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		l.add(path, "give exactly one of webhook, exec or lambda")
	}
	lh := h.Lambda
	if lh == nil {
		return
	}
	lp := path + ".lambda"
	l.checkHookFunction(lp+".function", lh.Function)
	if d := lh.Timeout.Duration; d < time.Second || d > MaxLambdaHookTimeout {
		l.add(lp+".timeout", "must be between 1s and %s (got %s)", MaxLambdaHookTimeout, d)
	}
	for _, k := range sortedKeys(lh.PayloadExtra) {
		if slices.Contains(LambdaHookPayloadKeys, k) {
			l.add(lp+".payload_extra."+k, "%q is set by canaryd (%s): choose another key", k, strings.Join(LambdaHookPayloadKeys, ", "))
		}
	}
}
