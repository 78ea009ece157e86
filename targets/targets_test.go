package targets

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/watch"
)

func dur(d time.Duration) config.Duration { return config.Duration{Duration: d} }

func TestNewLifecycle(t *testing.T) {
	probe := config.Rule{Kind: config.RuleProbe}
	metric := config.Rule{Kind: config.RuleErrorRate}
	probes := []config.Probe{{Interval: dur(10 * time.Second)}, {Interval: dur(30 * time.Second)}}
	cases := []struct {
		name string
		conf config.Target
		want watch.Config
	}{
		{"probes only: the longest probe interval", config.Target{Rules: []config.Rule{probe}, Probes: probes, RollbackWindow: dur(time.Hour)},
			watch.Config{RollbackWindow: time.Hour, DataLag: 30 * time.Second}},
		{"a metric rule: a period and the cycle's delay", config.Target{Rules: []config.Rule{probe, metric}, Probes: probes, MetricPeriod: dur(time.Minute)},
			watch.Config{DataLag: time.Minute + watch.MetricDelay}},
		{"rollout hooks and stall", config.Target{Rollout: &config.Rollout{PreTraffic: &config.TrafficHook{}, StallAfter: dur(5 * time.Minute)}},
			watch.Config{PreHook: true, RolloutStall: 5 * time.Minute, DryRun: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := New(tc.conf, nil, tc.want.DryRun).Lifecycle
			if got != tc.want {
				t.Fatalf("lifecycle %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestClientCacheSharesClients(t *testing.T) {
	cache := ClientCache{}
	o := awsclient.Options{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	a, err := cache.Load(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cache.Load(context.Background(), o)
	if a.Lambda != b.Lambda {
		t.Fatal("the same options built two clients")
	}
	o.RetryMode = "standard"
	c, _ := cache.Load(context.Background(), o)
	if c.Lambda == a.Lambda || len(cache) != 2 {
		t.Fatalf("another retry mode shares the client (%d cached)", len(cache))
	}
}

func TestClientOf(t *testing.T) {
	ts := map[string]*Target{"api": {Conf: config.Target{Name: "api", Function: "fn"}}}
	get := ClientOf(ts, func(t *Target) string { return t.Conf.Function })
	if get("api") != "fn" || get("gone") != "" {
		t.Fatalf("ClientOf: %q %q", get("api"), get("gone"))
	}
}

func TestGrain(t *testing.T) {
	cases := []struct {
		name string
		conf config.Target
		want time.Duration
	}{
		{"the metric period", config.Target{MetricPeriod: dur(time.Minute), Probes: []config.Probe{{Interval: dur(2 * time.Minute)}}}, time.Minute},
		{"a more frequent probe", config.Target{MetricPeriod: dur(time.Minute), Probes: []config.Probe{{Interval: dur(90 * time.Second)}, {Interval: dur(15 * time.Second)}}}, 15 * time.Second},
		{"probes only", config.Target{Probes: []config.Probe{{Interval: dur(30 * time.Second)}}}, 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := (&Target{Conf: tc.conf}).Grain(); got != tc.want {
				t.Fatalf("grain %s, want %s", got, tc.want)
			}
		})
	}
}
