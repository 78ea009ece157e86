package actuator

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/canaryd/canaryd/config"
)

// Triggers of a rollout's traffic hooks (the webhook's "event", the exec
// hook's CANARYD_TRIGGER).
const (
	TriggerPreTraffic  = "pre_traffic"
	TriggerPostTraffic = "post_traffic"
)

// TrafficHookInput is what a rollout's traffic hook is told: the watch, the
// version being rolled out (ToVersion) and the known-good one (FromVersion).
type TrafficHookInput struct {
	Target     config.Target
	WatchID    string
	NewVersion string
	KnownGood  string
	Pre        bool // before any traffic moves; else after 100 %
}

// RunTrafficHook runs a rollout's pre- or post-traffic hook (a webhook or an
// exec hook, with the rollback hooks' signing, timeouts, minimal
// environment and redaction, or the invoke of a Lambda function with the
// target's Lambda client) and says whether it passed, with its detail.
func (a *Actuator) RunTrafficHook(ctx context.Context, in TrafficHookInput, h config.TrafficHook) (bool, string) {
	trigger := TriggerPostTraffic
	if in.Pre {
		trigger = TriggerPreTraffic
	}
	p := Plan{ID: in.WatchID + "/" + trigger, Target: in.Target,
		Input: PlanInput{IncidentID: in.WatchID, FromVersion: in.KnownGood, ToVersion: in.NewVersion, Trigger: trigger}}
	s := Step{Kind: KindWebhook, Name: trigger, Webhook: h.Webhook, Exec: h.Exec}
	red := a.red.With(config.SecretsOf(p.Target)...)
	var out stepOutcome
	switch {
	case h.Exec != nil:
		s.Kind = KindExec
		out = a.runExec(ctx, p, s, red)
	case h.Webhook != nil:
		out = a.runWebhook(ctx, p, s)
	case h.Lambda != nil:
		out = a.runLambdaHook(ctx, in, trigger, h.Lambda, red)
	default:
		out = failed(nil, errors.New("traffic hook of no kind (webhook, exec or lambda)"))
	}
	detail, _ := json.Marshal(out.detail)
	msg := string(detail)
	if out.err != nil {
		msg = out.err.Error() + " " + msg
	}
	return out.err == nil, red.Redact(msg)
}
