package config

import (
	"errors"
	"strings"
	"testing"
)

// [target.codedeploy] loads with auto_rollback defaulting to true, and an
// explicit false is kept.
func TestCodeDeployLoads(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  bool
	}{
		{"", true},
		{"auto_rollback = false\n", false},
		{"auto_rollback = true\n", true},
	} {
		src := string(mustRead(t, "testdata/valid-minimal.toml")) + `
  [target.codedeploy]
  application = "checkout"
  deployment_group = "checkout-live"
  ` + tc.extra
		cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		cd := cfg.Targets[0].CodeDeploy
		if cd == nil || cd.Application != "checkout" || cd.DeploymentGroup != "checkout-live" {
			t.Fatalf("%q: codedeploy %+v", tc.extra, cd)
		}
		if cd.AutoRollback == nil || *cd.AutoRollback != tc.want || cd.AutoRollbackEnabled() != tc.want {
			t.Errorf("%q: auto_rollback %v, want %v", tc.extra, cd.AutoRollback, tc.want)
		}
	}
	if (&CodeDeploy{}).AutoRollbackEnabled() != true {
		t.Error("a CodeDeploy built in code without AutoRollback must default to true")
	}
	tg := Target{CodeDeploy: &CodeDeploy{Application: "a", DeploymentGroup: "g"}}
	ApplyTargetDefaults(&tg)
	if tg.CodeDeploy.AutoRollback == nil || !*tg.CodeDeploy.AutoRollback {
		t.Errorf("ApplyTargetDefaults: auto_rollback %v, want true", tg.CodeDeploy.AutoRollback)
	}
}

// Missing names, a wrong type, an unknown key and an over-long name are
// each reported with the key path and line, all at once.
func TestCodeDeployProblems(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml")) + `
  [target.codedeploy]
  auto_rollback = "yes"
  deployment_grup = "x"

[[target]]
name = "two"
function = "two"
alias = "live"
  [[target.rule]]
  name = "errors"
  kind = "error_rate"
  threshold = 0.05
  [target.codedeploy]
  application = "` + strings.Repeat("a", 101) + `"
  deployment_group = "g"
`
	_, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	got := map[string]Problem{}
	for _, p := range ce.Problems {
		got[p.Path] = p
	}
	want := map[string]string{
		"target[0].codedeploy.application":      "required",
		"target[0].codedeploy.deployment_group": "required",
		"target[0].codedeploy.auto_rollback":    `must be true or false, not the string "yes"`,
		"target[0].codedeploy.deployment_grup":  "deployment_group",
		"target[1].codedeploy.application":      "must be at most 100 characters (got 101)",
	}
	for path, w := range want {
		p, ok := got[path]
		if !ok || !strings.Contains(p.Msg, w) {
			t.Errorf("%s: %q, want it to contain %q (all: %v)", path, p.Msg, w, ce.Problems)
			continue
		}
		if p.Line == 0 && path != "target[0].codedeploy.application" && path != "target[0].codedeploy.deployment_group" {
			t.Errorf("%s: no line number", path)
		}
	}
	if len(got) != len(want) {
		t.Errorf("problems %v, want exactly %d", ce.Problems, len(want))
	}
}

// A target deployed both by canaryd's own rollout and by CodeDeploy gets a
// warning: both would shift the alias.
func TestCodeDeployWithRolloutWarns(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml")) + `
  [target.rollout]
  preset = "AllAtOnce"
  [target.codedeploy]
  application = "a"
  deployment_group = "g"
`
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Path != "target[0].codedeploy" || cfg.Warnings[0].Line == 0 {
		t.Errorf("warnings %+v", cfg.Warnings)
	}
}
