package config

import (
	"errors"
	"strings"
	"testing"
)

func problemsOf(t *testing.T, src string) map[string]string {
	t.Helper()
	_, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	out := map[string]string{}
	for _, p := range ce.Problems {
		out[p.Path] += p.Msg
	}
	return out
}

// TestTypeErrorsDoNotHideOtherProblems: wrong types, bad durations and
// range errors elsewhere are all reported at once, each in words, and the
// blanked values do not echo as "required".
func TestTypeErrorsDoNotHideOtherProblems(t *testing.T) {
	got := problemsOf(t, `
[daemon]
poll_interval = "10ms"
shutdown_timeout = 20
[aws]
region = "us-east-1"
[store]
backend = "redis"
redis = "redis://cache.internal:6379/0"
[[target]]
name = "api"
function = "api"
alias = "live"
bake_time = "5 minutes"
metric_lag = "three"
notify = "oncall"
  [[target.rule]]
  name = "errors"
  kind = "error_rate"
  threshold = "5%"
  [[target.rule]]
  name = "slow"
  kind = "latency"
  threshold = 0
`)
	want := map[string]string{
		"daemon.poll_interval":        "must be at least 1s",
		"daemon.shutdown_timeout":     `must be a duration string such as "30s" (got the number 20)`,
		"store.redis":                 "a Redis URL is not accepted",
		"target[0].bake_time":         `invalid duration "5 minutes"`,
		"target[0].metric_lag":        `must be a whole number, not the string "three"`,
		"target[0].notify":            `must be a list such as ["a", "b"], not the string "oncall"`,
		"target[0].rule[0].threshold": "write a fraction (0.05 for 5%)",
		"target[0].rule[1].threshold": "must be > 0",
		"store.redis.addrs":           "",
	}
	for path, w := range want {
		if w == "" {
			if _, ok := got[path]; ok {
				t.Errorf("%s: a follow-on problem of a blanked value: %q", path, got[path])
			}
			continue
		}
		if !strings.Contains(got[path], w) {
			t.Errorf("%s: %q, want it to contain %q", path, got[path], w)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	got := problemsOf(t, `
[aws]
region = "us-east-1"
[[target]]
name = "api"
function = "api"
alias = "live"
bake_tme = "10m"
[[rule]]
name = "errors"
kind = "error_rate"
threshold = 0.05
[deamon]
listen = "x"
`)
	for path, w := range map[string]string{
		"target[0].bake_tme": `unknown key; did you mean "bake_time"?`,
		"rule[0]":            "unknown table [[rule]]; did you mean [[target.rule]]? It belongs to a target",
		"deamon":             "unknown table [deamon]; did you mean [daemon]?",
	} {
		if !strings.Contains(got[path], w) {
			t.Errorf("%s: %q, want %q (all: %v)", path, got[path], w, got)
		}
	}
}

func TestFunctionAndAliasShapes(t *testing.T) {
	cases := []struct {
		function, alias string
		want            string // "" = valid
	}{
		{"checkout-api", "live", ""},
		{"arn:aws:lambda:us-east-1:123456789012:function:checkout-api", "live", ""},
		{"123456789012:function:checkout-api", "live", ""},
		{"checkout-api:live", "live", `"checkout-api:live" is a qualified function name: write function = "checkout-api" and alias = "live"`},
		{"arn:aws:lambda:us-east-1:123456789012:function:checkout-api:live", "live", `carries the qualifier "live"`},
		{"checkout-api", "arn:aws:lambda:us-east-1:123456789012:function:checkout-api:live", `must be the alias's name ("live"), not an ARN`},
		{"checkout-api", "checkout-api:live", `is a qualified name: write only the alias's name ("live")`},
		{"checkout-api", "7", `"7" is a version, not an alias`},
		{"checkout-api", "$LATEST", "is a version, not an alias"},
		{"checkout api", "live", "is not a Lambda function name"},
	}
	for _, tc := range cases {
		t.Run(tc.function+"/"+tc.alias, func(t *testing.T) {
			src := "[aws]\nregion = \"us-east-1\"\n[[target]]\nname = \"t\"\nfunction = \"" + tc.function + "\"\nalias = \"" + tc.alias +
				"\"\n  [[target.rule]]\n  name = \"r\"\n  kind = \"throttles\"\n  threshold = 1\n"
			_, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
