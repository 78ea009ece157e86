package watcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/canaryd/canaryd/config"
)

// Reading deploy events: EventBridge envelopes of CloudTrail's Lambda
// alias calls and CodeDeploy's deployment state changes, and which
// configured targets each one names.

// DeployEventKind says what a deploy event is about.
type DeployEventKind int

// Deploy event kinds.
const (
	EventOther      DeployEventKind = iota // anything else: ignored
	EventAlias                             // CloudTrail CreateAlias/UpdateAlias of a Lambda alias
	EventCodeDeploy                        // a CodeDeploy deployment changed state
)

// DeployEvent is what canaryd reads from an event.
type DeployEvent struct {
	ID      string // EventBridge event id (de-duplication)
	Kind    DeployEventKind
	Name    string    // eventName or the CodeDeploy state
	Time    time.Time // when it happened
	Account string
	Region  string
	// EventAlias: the function (as the caller named it: name or ARN), the
	// alias and the version it was pointed at ("" when the call did not say).
	Function, Alias, Version string
	// EventCodeDeploy: the deployment group.
	Application, Group string
}

type ebEnvelope struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
}

type cloudTrailDetail struct {
	EventSource       string `json:"eventSource"`
	EventName         string `json:"eventName"`
	AWSRegion         string `json:"awsRegion"`
	ErrorCode         string `json:"errorCode"`
	RecipientAccount  string `json:"recipientAccountId"`
	RequestParameters struct {
		FunctionName    string `json:"functionName"`
		Name            string `json:"name"`
		FunctionVersion string `json:"functionVersion"`
	} `json:"requestParameters"`
}

type codeDeployDetail struct {
	Application     string `json:"application"`
	DeploymentGroup string `json:"deploymentGroup"`
	DeploymentID    string `json:"deploymentId"`
	State           string `json:"state"`
	Region          string `json:"region"`
}

// ParseDeployEvent reads an EventBridge event. An error means the body is
// not an EventBridge event at all (a poison message); an event of another
// kind is EventOther, and so is a failed API call (errorCode set).
func ParseDeployEvent(body []byte) (DeployEvent, error) {
	var env ebEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return DeployEvent{}, fmt.Errorf("not an EventBridge event: %w", err)
	}
	if env.Source == "" || env.DetailType == "" || len(env.Detail) == 0 {
		return DeployEvent{}, errors.New("not an EventBridge event: no source, detail-type or detail")
	}
	ev := DeployEvent{ID: env.ID, Time: env.Time, Account: env.Account, Region: env.Region}
	switch {
	case env.Source == "aws.lambda" && env.DetailType == "AWS API Call via CloudTrail":
		var d cloudTrailDetail
		if err := json.Unmarshal(env.Detail, &d); err != nil {
			return DeployEvent{}, fmt.Errorf("CloudTrail event %s: %w", env.ID, err)
		}
		ev.Name = d.EventName
		if d.ErrorCode != "" || !isAliasChange(d.EventName) {
			return ev, nil
		}
		p := d.RequestParameters
		if p.FunctionName == "" || p.Name == "" {
			return DeployEvent{}, fmt.Errorf("CloudTrail %s event %s names no functionName or alias name", d.EventName, env.ID)
		}
		ev.Kind, ev.Function, ev.Alias, ev.Version = EventAlias, p.FunctionName, p.Name, p.FunctionVersion
		if d.AWSRegion != "" {
			ev.Region = d.AWSRegion
		}
		if d.RecipientAccount != "" {
			ev.Account = d.RecipientAccount
		}
	case env.Source == "aws.codedeploy" && env.DetailType == "CodeDeploy Deployment State-change Notification":
		var d codeDeployDetail
		if err := json.Unmarshal(env.Detail, &d); err != nil {
			return DeployEvent{}, fmt.Errorf("CodeDeploy event %s: %w", env.ID, err)
		}
		if d.Application == "" || d.DeploymentGroup == "" {
			return DeployEvent{}, fmt.Errorf("CodeDeploy event %s names no application or deployment group", env.ID)
		}
		ev.Kind, ev.Name, ev.Application, ev.Group = EventCodeDeploy, d.State, d.Application, d.DeploymentGroup
		if d.Region != "" {
			ev.Region = d.Region
		}
	}
	return ev, nil
}

// isAliasChange: CloudTrail names Lambda calls with their API version
// (UpdateAlias20150331, CreateAlias20150331v2 …).
func isAliasChange(eventName string) bool {
	return strings.HasPrefix(eventName, "UpdateAlias") || strings.HasPrefix(eventName, "CreateAlias")
}

// lambdaRef is a function as a name or an ARN names it.
type lambdaRef struct {
	name, account, region string // account and region "" when not given
}

// parseFunction reads a function name, a partial ARN (ACCOUNT:function:NAME)
// or an ARN, dropping any qualifier.
func parseFunction(fn string) lambdaRef {
	parts := strings.Split(fn, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn": // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
		return lambdaRef{name: parts[6], account: parts[4], region: parts[3]}
	case len(parts) >= 3 && parts[1] == "function": // ACCOUNT:function:NAME[:QUALIFIER]
		return lambdaRef{name: parts[2], account: parts[0]}
	case len(parts) == 2: // NAME:QUALIFIER
		return lambdaRef{name: parts[0]}
	}
	return lambdaRef{name: fn}
}

// targetIndex finds the targets an event names.
type targetIndex struct {
	byAlias map[string][]indexedTarget // function name + "\x00" + alias
	byGroup map[string][]indexedTarget // application + "/" + group
}

type indexedTarget struct {
	name string
	fn   lambdaRef
}

func newTargetIndex(targets []config.Target) targetIndex {
	ix := targetIndex{byAlias: map[string][]indexedTarget{}, byGroup: map[string][]indexedTarget{}}
	for _, t := range targets {
		ref := parseFunction(t.Function)
		if ref.region == "" {
			ref.region = t.Region
		}
		it := indexedTarget{name: t.Name, fn: ref}
		ix.byAlias[ref.name+"\x00"+t.Alias] = append(ix.byAlias[ref.name+"\x00"+t.Alias], it)
		if cd := t.CodeDeploy; cd != nil {
			ix.byGroup[cd.Application+"/"+cd.DeploymentGroup] = append(ix.byGroup[cd.Application+"/"+cd.DeploymentGroup], it)
		}
	}
	return ix
}

// match returns the names of the targets ev is about: same function and
// alias (or deployment group), and the same region and account where both
// the event and the target say.
func (ix targetIndex) match(ev DeployEvent) []string {
	var cands []indexedTarget
	var ref lambdaRef
	switch ev.Kind {
	case EventAlias:
		ref = parseFunction(ev.Function)
		cands = ix.byAlias[ref.name+"\x00"+ev.Alias]
	case EventCodeDeploy:
		cands = ix.byGroup[ev.Application+"/"+ev.Group]
	default:
		return nil
	}
	if ref.region == "" {
		ref.region = ev.Region
	}
	if ref.account == "" {
		ref.account = ev.Account
	}
	var out []string
	for _, c := range cands {
		if differ(c.fn.region, ref.region) || differ(c.fn.account, ref.account) {
			continue
		}
		out = append(out, c.name)
	}
	return out
}

func differ(a, b string) bool { return a != "" && b != "" && a != b }
