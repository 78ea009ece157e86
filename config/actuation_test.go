package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInvalidDeadlinesAndVerifyWindow(t *testing.T) {
	cases := []struct {
		file string
		want []string
	}{
		{"invalid-verify-window.toml", []string{"invalid-verify-window.toml:25:",
			`target[0].actions.verify.window: must be at least 30s: 3 rounds of probe "health" every 10s (got 20s)`}},
		{"invalid-aws-deadlines.toml", []string{
			":3: aws.read_timeout: must be between 1s and 10m0s (got 10ms)",
			":4: aws.action_timeout: must be between 1s and 30m0s (got 2h0m0s)",
			":5: aws.connect_timeout: must be between 100ms and 1m0s (got 2m0s)",
			":18: target[0].actions.retry_for: must be between 0s and 24h0m0s (got -1m0s)"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, err := parseFile(t, filepath.Join("testdata", tc.file), Options{})
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *config.Error, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDeadlineAndRetryDefaults(t *testing.T) {
	cfg, err := parseFile(t, "testdata/valid-minimal.toml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want time.Duration
	}{
		{"read_timeout", cfg.AWS.ReadTimeout.Duration, DefaultAWSReadTimeout},
		{"action_timeout", cfg.AWS.ActionTimeout.Duration, DefaultAWSActionTimeout},
		{"connect_timeout", cfg.AWS.ConnectTimeout.Duration, DefaultAWSConnectTimeout},
		{"response_header_timeout", cfg.AWS.ResponseHeaderTimeout.Duration, DefaultAWSResponseHeaderTimeout},
		{"retry_for", cfg.Targets[0].Actions.RetryFor.Duration, DefaultRetryFor},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
	src := string(mustRead(t, "testdata/valid-minimal.toml")) + "\n  [target.actions]\n  retry_for = \"0s\"\n"
	cfg, err = Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Targets[0].Actions.RetryFor.Duration; d != 0 {
		t.Errorf("explicit retry_for = 0s became %s", d)
	}
}

// TestVerifyWindowOfThreeRoundsLoads: the minimum itself is accepted.
func TestVerifyWindowOfThreeRoundsLoads(t *testing.T) {
	src := strings.Replace(string(mustRead(t, "testdata/invalid-verify-window.toml")), `window = "20s"`, `window = "30s"`, 1)
	if _, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv}); err != nil {
		t.Fatalf("a 30s window over 10s probes: %v", err)
	}
}

// TestBaselineHorizon: 30m unless written; "0s" is kept (relative rules
// roll back for the whole watch); a negative one names its key and line.
func TestBaselineHorizon(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml"))
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Targets[0].BaselineHorizon.Duration; d != DefaultBaselineHorizon {
		t.Errorf("baseline_horizon = %s by default, want %s", d, DefaultBaselineHorizon)
	}
	for _, c := range []struct{ value, want string }{{`"0s"`, ""}, {`"3h"`, ""}, {`"-1m"`, `c.toml:8: target[0].baseline_horizon: must be between 0s and 720h0m0s (got -1m0s)`}} {
		withKey := strings.Replace(src, `alias = "live"`, `alias = "live"`+"\nbaseline_horizon = "+c.value, 1)
		cfg, err := Parse([]byte(withKey), "c.toml", Options{LookupEnv: noEnv})
		switch {
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("baseline_horizon = %s: error %v, want one containing %q", c.value, err, c.want)
		case c.want == "" && err != nil:
			t.Errorf("baseline_horizon = %s: %v", c.value, err)
		case c.want == "" && cfg.Targets[0].BaselineHorizon.String() != map[string]string{`"0s"`: "0s", `"3h"`: "3h0m0s"}[c.value]:
			t.Errorf("baseline_horizon = %s loaded as %s", c.value, cfg.Targets[0].BaselineHorizon)
		}
	}
}

// TestShapeWindow: a day unless written (the baseline_window when that is
// longer); shorter than the baseline_window or longer than CloudWatch
// keeps one-minute data names its key and line.
func TestShapeWindow(t *testing.T) {
	src := string(mustRead(t, "testdata/valid-minimal.toml"))
	cfg, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if tg := cfg.Targets[0]; tg.ShapeWindow.Duration != 24*time.Hour {
		t.Errorf("shape_window = %s by default, want 24h", tg.ShapeWindow)
	}
	long := strings.Replace(src, `alias = "live"`, `alias = "live"`+"\nbaseline_window = \"30h\"", 1)
	if cfg, err := Parse([]byte(long), "c.toml", Options{LookupEnv: noEnv}); err != nil {
		t.Errorf("baseline_window = 30h: %v", err)
	} else if got := cfg.Targets[0].ShapeWindow.Duration; got != 30*time.Hour {
		t.Errorf("baseline_window = 30h: shape_window %s by default, want the baseline_window", got)
	}
	for _, c := range []struct{ value, want string }{
		{`"24h"`, ""},
		{`"10m"`, `c.toml:8: target[0].shape_window: must be between 30m0s and 360h0m0s (got 10m0s)`},
		{`"400h"`, `c.toml:8: target[0].shape_window: must be between 30m0s and 360h0m0s (got 400h0m0s)`},
	} {
		withKey := strings.Replace(src, `alias = "live"`, `alias = "live"`+"\nshape_window = "+c.value, 1)
		cfg, err := Parse([]byte(withKey), "c.toml", Options{LookupEnv: noEnv})
		switch {
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("shape_window = %s: error %v, want one containing %q", c.value, err, c.want)
		case c.want == "" && err != nil:
			t.Errorf("shape_window = %s: %v", c.value, err)
		case c.want == "" && cfg.Targets[0].ShapeWindow.Duration != 24*time.Hour:
			t.Errorf("shape_window = %s loaded as %s", c.value, cfg.Targets[0].ShapeWindow)
		}
	}
}
