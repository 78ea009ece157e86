package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestUnknownKeysEverywhere: every place a key can be written — table
// headers, dotted keys, array tables, inline tables and arrays of them — is
// checked against Config, with the key's path and line; map-valued keys
// (headers, env, dimensions) take any key, and keys match case-insensitively
// as the decoder does.
func TestUnknownKeysEverywhere(t *testing.T) {
	src := `[aws]
region = "us-east-1"
regoin = "eu-west-1"
[deamon]
listen = "x"
[daemon]
Log_Level = "info"
[[target]]
name = "api"
function = "f"
alias = "a"
actions.verfy.window = "1m"
  [[target.probe]]
  name = "h"
  url = "https://x.example/health"
  headers = { X-Anything = "1" }
  [[target.rule]]
  name = "r"
  kind = "throttles"
  threshold = 1
  dimensions = { Whatever = "x" }
  [[target.actions.exec]]
  name = "e"
  argv = ["/bin/true"]
  env = { ANY_NAME = "1" }
  [[target.actions.redis]]
  name = "c"
  patterns = ["p:*"]
  conn = { addrs = ["127.0.0.1:6379"], pasword = "x" }
[[target]]
name = "web"
function = "f"
alias = "a"
actions.cloudfront = [{ distribution = "E1", paths = ["/"] }, { distribution = "E2", pathz = ["/"] }]
  [[target.rule]]
  name = "r"
  kind = "throttles"
  threshold = 1
`
	_, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	got := map[string]int{}
	for _, p := range ce.Problems {
		if strings.HasPrefix(p.Msg, "unknown key") || strings.HasPrefix(p.Msg, "unknown table") {
			got[p.Path] = p.Line
		}
	}
	want := map[string]int{
		"aws.regoin":                     3,
		"deamon":                         4,
		"target[0].actions.verfy.window": 12,
		"target[0].actions.redis[0].conn.pasword": 29,
		"target[1].actions.cloudfront[1].pathz":   34,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unknown keys %v\nwant %v\n(all problems: %v)", got, want, ce.Problems)
	}
}

// TestUnknownKeysReportedForEveryTypo runs the benchmark's
// input: every one of many typos is reported, once.
func TestUnknownKeysReportedForEveryTypo(t *testing.T) {
	_, err := Parse(unknownKeysConfig(500), "typos.toml", Options{LookupEnv: noEnv})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	if len(ce.Problems) != 500 || ce.Problems[499].Path != "target[499].bake_tme" {
		t.Fatalf("%d problems, last %+v; want 500, the last at target[499].bake_tme", len(ce.Problems), ce.Problems[len(ce.Problems)-1])
	}
}
