package source

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
)

const minimal = `
[aws]
region = "us-east-1"
[[target]]
name = "api"
function = "api"
alias = "live"
  [[target.rule]]
  name = "throttled"
  kind = "throttles"
  threshold = 5
`

func simOptions(sim *awssim.Sim) Options {
	return Options{AWS: awsclient.Options{Region: "us-east-1", EndpointURL: sim.URL(), MaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("A", "B", "")}}
}

func TestLoadFromS3AndSSM(t *testing.T) {
	sim, _ := awssim.Start(t, awssim.Options{})
	sim.PutObject("ops-config", "canaryd/config.toml", []byte(minimal))
	sim.PutParameter("/canaryd/config", minimal, "SecureString")
	for _, ref := range []string{"s3://ops-config/canaryd/config.toml", "ssm:/canaryd/config"} {
		t.Run(ref, func(t *testing.T) {
			cfg, err := Load(context.Background(), ref, simOptions(sim))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Path != ref || len(cfg.Targets) != 1 || cfg.Targets[0].Name != "api" {
				t.Fatalf("loaded %+v", cfg)
			}
		})
	}
	if calls := sim.Calls("GetParameter"); len(calls) != 1 || calls[0].Params["WithDecryption"] != true {
		t.Errorf("GetParameter calls %+v: want one with decryption", calls)
	}
}

func TestLoadErrorsNameTheSourceAndTheCall(t *testing.T) {
	sim, _ := awssim.Start(t, awssim.Options{})
	sim.PutParameter("/bad", minimal+"\nbogus = 1\n", "String")
	sim.PutParameter("/denied", minimal, "String")
	sim.Deny("ssm:GetParameter")
	cases := []struct {
		name, ref string
		want      []string
	}{
		{"missing object", "s3://ops-config/nope.toml", []string{"s3://ops-config/nope.toml", "s3:GetObject", "NoSuchKey"}},
		{"bad reference", "s3://bucket-only", []string{"want s3://bucket/key"}},
		{"denied", "ssm:/denied", []string{"ssm:/denied", "ssm:GetParameter", "AccessDenied"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(context.Background(), tc.ref, simOptions(sim))
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not contain %q", err, w)
				}
			}
		})
	}
	sim.Allow("ssm:GetParameter")
	_, err := Load(context.Background(), "ssm:/bad", simOptions(sim))
	if err == nil || !strings.Contains(err.Error(), "ssm:/bad:") || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("an invalid config in SSM: %v; want the problem, named by its source", err)
	}
}

func TestIsRemote(t *testing.T) {
	for ref, want := range map[string]bool{"s3://b/k": true, "ssm:/p": true, "config.toml": false, "/etc/canaryd/config.toml": false} {
		if IsRemote(ref) != want {
			t.Errorf("IsRemote(%q) != %v", ref, want)
		}
	}
}
