package config

import (
	"fmt"
	"regexp"
	"strconv"
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
}

// RolloutStep is one weight of a rollout.
type RolloutStep struct {
	Weight float64  `toml:"weight"` // percent of the traffic on the new version, (0, 100]
	Hold   Duration `toml:"hold"`   // judged this long before the next step
	Gate   bool     `toml:"gate"`   // after the hold, wait for `canaryd promote`
}

// TrafficHook is a rollout's gate: a signed webhook or an exec hook (the
// same as the rollback plan's hooks); it passes when it succeeds.
type TrafficHook struct {
	Webhook *WebhookHook `toml:"webhook"`
	Exec    *ExecHook    `toml:"exec"`
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
	for name, h := range map[string]*TrafficHook{"pre_traffic": r.PreTraffic, "post_traffic": r.PostTraffic} {
		if h != nil && (h.Webhook == nil) == (h.Exec == nil) {
			l.add(path+"."+name, "give exactly one of webhook or exec")
		}
	}
}
