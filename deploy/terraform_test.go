package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/config"
)

// Terraform cannot be applied here (no provider download), so the module's
// structure is checked by hand: it is `terraform fmt`-clean (when the
// terraform binary is installed), every var., local. and resource
// reference resolves, and each file's braces balance.

func terraformFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no .tf files in %s: %v", dir, err)
	}
	out := map[string]string{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = string(b)
	}
	return out
}

func TestTerraformIsFormatted(t *testing.T) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform not installed")
	}
	out, err := exec.Command(tf, "fmt", "-check", "-recursive", "-diff", "terraform").CombinedOutput()
	if err != nil {
		t.Fatalf("terraform fmt -check: %v\n%s", err, out)
	}
}

var (
	declVariable = regexp.MustCompile(`(?m)^variable "([a-z0-9_]+)"`)
	declResource = regexp.MustCompile(`(?m)^(?:resource|data) "([a-z0-9_]+)" "([a-z0-9_]+)"`)
	declLocal    = regexp.MustCompile(`(?m)^  ([a-z0-9_]+)\s+= `)
	useVariable  = regexp.MustCompile(`\bvar\.([a-z0-9_]+)`)
	useLocal     = regexp.MustCompile(`\blocal\.([a-z0-9_]+)`)
	useResource  = regexp.MustCompile(`\b((?:data\.)?aws_[a-z0-9_]+)\.([a-z0-9_]+)\b`)
)

func TestTerraformReferencesResolve(t *testing.T) {
	for _, dir := range []string{"terraform", "terraform/examples/fargate"} {
		t.Run(dir, func(t *testing.T) {
			files := terraformFiles(t, dir)
			vars, locals, resources := map[string]bool{}, map[string]bool{}, map[string]bool{}
			for _, src := range files {
				for _, m := range declVariable.FindAllStringSubmatch(src, -1) {
					vars[m[1]] = true
				}
				for _, m := range declResource.FindAllStringSubmatch(src, -1) {
					prefix := ""
					if strings.HasPrefix(m[0], "data") {
						prefix = "data."
					}
					resources[prefix+m[1]+"."+m[2]] = true
				}
				for _, block := range localsBlocks(src) {
					for _, m := range declLocal.FindAllStringSubmatch(block, -1) {
						locals[m[1]] = true
					}
				}
			}
			for name, src := range files {
				if strings.Count(src, "{") != strings.Count(src, "}") || strings.Count(src, "[") != strings.Count(src, "]") {
					t.Errorf("%s: unbalanced braces or brackets", name)
				}
				for _, m := range useVariable.FindAllStringSubmatch(src, -1) {
					if !vars[m[1]] {
						t.Errorf("%s: var.%s is not declared", name, m[1])
					}
				}
				for _, m := range useLocal.FindAllStringSubmatch(src, -1) {
					if !locals[m[1]] {
						t.Errorf("%s: local.%s is not declared", name, m[1])
					}
				}
				for _, m := range useResource.FindAllStringSubmatch(src, -1) {
					if !resources[m[1]+"."+m[2]] {
						t.Errorf("%s: %s.%s is not declared", name, m[1], m[2])
					}
				}
			}
		})
	}
}

// localsBlocks returns the bodies of the file's top-level locals blocks.
func localsBlocks(src string) []string {
	var out []string
	for {
		i := strings.Index(src, "\nlocals {")
		if i < 0 {
			return out
		}
		src = src[i+len("\nlocals {"):]
		end := strings.Index(src, "\n}")
		if end < 0 {
			return out
		}
		out = append(out, src[:end])
		src = src[end:]
	}
}

// TestExampleConfigLoads: the example's config.toml is valid, in the
// environment the task definition gives it.
func TestExampleConfigLoads(t *testing.T) {
	env := map[string]string{"CANARYD_ADMIN_TOKEN": "example-token-0123456789", "PAGERDUTY_ROUTING_KEY": "k",
		"CANARYD_LISTEN": "0.0.0.0:8080", "CANARYD_REDIS_ADDRS": "store.example.cache.amazonaws.com:6379", "CANARYD_REDIS_TLS": "true",
		"CANARYD_REDIS_PASSWORD": "auth-token"}
	b, err := os.ReadFile("terraform/examples/fargate/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(b, "config.toml", config.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Daemon.Listen != "0.0.0.0:8080" || cfg.Store.Backend != "redis" || !cfg.Store.Redis.TLS || !cfg.Store.Redis.Password.IsSet() {
		t.Fatalf("the task's environment is not applied: listen %s, store %+v", cfg.Daemon.Listen, cfg.Store)
	}
}
