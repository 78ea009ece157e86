package config

import (
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	env := map[string]string{"ADMIN": "admin-token-0123456789", "CI": "ci-token-0123456789abc", "SHORT": "short", "DUP": "ci-token-0123456789abc"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	base := "[aws]\nregion = \"us-east-1\"\n[[target]]\nname = \"a\"\nfunction = \"f\"\nalias = \"live\"\n  [[target.rule]]\n  name = \"r\"\n  kind = \"throttles\"\n  threshold = 1\n"
	cases := []struct {
		name, daemon string
		want         []string // problems; none = valid
	}{
		{"named tokens and the admin token", `admin_token_env = "ADMIN"
[[daemon.token]]
name = "ci"
scope = "deployer"
token_env = "CI"`, nil},
		{"bad scope, short value, missing secret", `[[daemon.token]]
name = "ci"
scope = "admin"
token_env = "SHORT"
[[daemon.token]]
name = "ro"
scope = "reader"`, []string{"daemon.token[0].scope: must be reader, deployer or operator", "shorter than 16", "daemon.token[1]: needs token_env or token_file"}},
		{"duplicates", `admin_token_env = "ADMIN"
[[daemon.token]]
name = "admin"
scope = "reader"
token_env = "CI"
[[daemon.token]]
name = "ci"
scope = "reader"
token_env = "DUP"`, []string{`duplicate token name "admin" (also daemon.admin_token)`, "daemon.token[1]: has the same value as daemon.token[0]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("[daemon]\n"+tc.daemon+"\n"+base), "c.toml", Options{LookupEnv: lookup})
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if tk := cfg.Daemon.Tokens[0]; tk.Name != "ci" || tk.Scope != ScopeDeployer || tk.Value.Value() != env["CI"] {
					t.Fatalf("token %+v", tk)
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not contain %q", err, w)
				}
			}
		})
	}
}
