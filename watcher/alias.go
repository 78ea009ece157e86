package watcher

import (
	"context"
	"fmt"
	"maps"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// aliasView is what GetAlias shows about an alias.
type aliasView struct {
	Version    string             // FunctionVersion: the primary version
	Weights    map[string]float64 // AdditionalVersionWeights; nil when not split
	RevisionID string
}

// shows reports whether v receives traffic through the alias.
func (a aliasView) shows(v string) bool {
	if a.Version == v {
		return true
	}
	_, ok := a.Weights[v]
	return ok
}

func (a aliasView) describe() string {
	if len(a.Weights) == 0 {
		return "version " + a.Version
	}
	keys := make([]string, 0, len(a.Weights))
	for k := range a.Weights {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := "version " + a.Version
	for _, k := range keys {
		s += fmt.Sprintf(" + version %s at %.0f%%", k, a.Weights[k]*100)
	}
	return s
}

// candidate is the version a deploy puts under watch: with a traffic
// split whose primary is the known-good version, the weighted one (the
// heaviest, ties by name); otherwise the primary.
func (a aliasView) candidate(knownGood string) string {
	if len(a.Weights) == 0 || a.Version != knownGood {
		return a.Version
	}
	best, bestW := "", -1.0
	for v, w := range a.Weights {
		if v == knownGood {
			continue
		}
		if w > bestW || (w == bestW && v < best) {
			best, bestW = v, w
		}
	}
	if best == "" {
		return a.Version
	}
	return best
}

// sameAs reports whether st already records this alias routing.
func (a aliasView) sameAs(st store.TargetState) bool {
	return a.Version == st.Version && maps.Equal(nonNil(a.Weights), nonNil(st.Weights))
}

func nonNil(m map[string]float64) map[string]float64 {
	if m == nil {
		return map[string]float64{}
	}
	return m
}

func (d *Detector) readAlias(ctx context.Context, t config.Target) (aliasView, error) {
	client := d.cfg.Clients(t.Name)
	if client == nil {
		return aliasView{}, fmt.Errorf("get alias %s:%s: no Lambda client for target %s", t.Function, t.Alias, t.Name)
	}
	out, err := client.GetAlias(ctx, &lambda.GetAliasInput{
		FunctionName: aws.String(t.Function),
		Name:         aws.String(t.Alias),
	})
	if err != nil {
		return aliasView{}, fmt.Errorf("get alias %s:%s: %w", t.Function, t.Alias, err)
	}
	v := aliasView{Version: aws.ToString(out.FunctionVersion), RevisionID: aws.ToString(out.RevisionId)}
	if out.RoutingConfig != nil && len(out.RoutingConfig.AdditionalVersionWeights) > 0 {
		v.Weights = maps.Clone(out.RoutingConfig.AdditionalVersionWeights)
	}
	return v, nil
}
