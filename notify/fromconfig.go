package notify

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/canaryd/canaryd/event"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/canaryd/canaryd/config"
	"github.com/jonboulle/clockwork"
)

// ParseEventType checks an event name from config: one of event.Alerts.
func ParseEventType(s string) (event.Kind, error) {
	for _, t := range event.Alerts {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown event %q", s)
}

// Deps are what FromConfig needs from the daemon.
type Deps struct {
	// HTTPClient is shared by the HTTP notifiers; default: a client with
	// no timeout of its own (the dispatcher's per-attempt context bounds
	// every request).
	HTTPClient *http.Client
	// SNS returns the SNS client for a region ("" = the default region).
	// Needed only when an sns notifier is configured; see SNSFromAWSConfig.
	SNS   func(region string) (SNSAPI, error)
	Clock clockwork.Clock
}

// SNSFromAWSConfig returns a Deps.SNS that builds one real SNS client per
// region from base (built by awsclient.Load) and reuses it.
func SNSFromAWSConfig(base aws.Config) func(region string) (SNSAPI, error) {
	var mu sync.Mutex
	clients := map[string]*sns.Client{}
	return func(region string) (SNSAPI, error) {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[region]; ok {
			return c, nil
		}
		c := sns.NewFromConfig(base, func(o *sns.Options) {
			if region != "" {
				o.Region = region
			}
		})
		clients[region] = c
		return c, nil
	}
}

// FromConfig builds the configured notifiers, by name. Config has already
// applied defaults and resolved secrets; errors name the notifier and the
// key and never carry a secret.
func FromConfig(cfgs []config.Notifier, deps Deps) (map[string]Notifier, error) {
	if deps.HTTPClient == nil {
		deps.HTTPClient = defaultHTTPClient()
	}
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	out := make(map[string]Notifier, len(cfgs))
	for _, c := range cfgs {
		if _, dup := out[c.Name]; dup {
			return nil, fmt.Errorf("notifier %q: duplicate name", c.Name)
		}
		n, err := fromConfig(c, deps)
		if err != nil {
			return nil, fmt.Errorf("notifier %q: %w", c.Name, err)
		}
		out[c.Name] = n
	}
	return out, nil
}

func fromConfig(c config.Notifier, deps Deps) (Notifier, error) {
	switch c.Type {
	case config.NotifierPagerDuty:
		if !c.RoutingKey.IsSet() {
			return nil, fmt.Errorf("routing key not set (routing_key_env or routing_key_file)")
		}
		return NewPagerDuty(PagerDutyConfig{Name: c.Name, RoutingKey: c.RoutingKey, URL: c.URL, Client: deps.HTTPClient}), nil
	case config.NotifierSlack:
		if !c.SecretURL.IsSet() {
			return nil, fmt.Errorf("webhook url not set (url_env or url_file)")
		}
		return NewSlack(SlackConfig{Name: c.Name, URL: c.SecretURL, Client: deps.HTTPClient}), nil
	case config.NotifierWebhook:
		if c.URL == "" {
			return nil, fmt.Errorf("url: not set")
		}
		return NewWebhook(WebhookConfig{Name: c.Name, URL: c.URL, Secret: c.Secret, Client: deps.HTTPClient, Clock: deps.Clock}), nil
	case config.NotifierSNS:
		if c.TopicARN == "" {
			return nil, fmt.Errorf("topic_arn: not set")
		}
		if deps.SNS == nil {
			return nil, fmt.Errorf("no SNS client factory in notify.Deps")
		}
		client, err := deps.SNS(c.Region)
		if err != nil {
			return nil, fmt.Errorf("sns client for region %q: %w", c.Region, err)
		}
		return NewSNS(SNSConfig{Name: c.Name, TopicARN: c.TopicARN, Client: client}), nil
	}
	return nil, fmt.Errorf("type: unknown notifier type %q", c.Type)
}

// OptionsFromConfig returns each notifier's event filter, per-attempt
// timeout and attempts (retries + 1).
func OptionsFromConfig(cfgs []config.Notifier) (map[string]NotifierOptions, error) {
	out := make(map[string]NotifierOptions, len(cfgs))
	for _, c := range cfgs {
		o := NotifierOptions{Timeout: c.Timeout.Duration, MaxAttempts: c.Retries + 1}
		for _, e := range c.Events {
			t, err := ParseEventType(e)
			if err != nil {
				return nil, fmt.Errorf("notifier %q: events: %w", c.Name, err)
			}
			o.Events = append(o.Events, t)
		}
		out[c.Name] = o
	}
	return out, nil
}

// RoutesFromTargets routes each target's events to its notify list. A
// target that is not configured (or lists no notifier) reaches nobody;
// target "*" (an override on every target) reaches every notifier any
// target lists.
func RoutesFromTargets(ts []config.Target) func(target string) []string {
	routes := make(map[string][]string, len(ts))
	seen := map[string]bool{}
	var all []string
	for _, t := range ts {
		routes[t.Name] = append([]string(nil), t.Notify...)
		for _, n := range t.Notify {
			if !seen[n] {
				seen[n] = true
				all = append(all, n)
			}
		}
	}
	return func(target string) []string {
		if target == "*" {
			return all
		}
		return routes[target]
	}
}
