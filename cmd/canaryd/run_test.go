package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/daemon"
)

// TestRunServesScopedTokensAndBuildInfo: the daemon as `canaryd run`
// builds it serves the config's named tokens with their scopes, and
// canaryd_build_info on /metrics.
func TestRunServesScopedTokensAndBuildInfo(t *testing.T) {
	sim, _ := awssim.Start(t, awssim.Options{})
	sim.CreateFunction("shop")
	sim.PublishVersion("shop")
	sim.PublishVersion("shop")
	sim.CreateAlias("shop", "live", "1")
	t.Setenv("RUN_TEST_READER", "reader-token-0123456789")
	t.Setenv("RUN_TEST_CI", "deployer-token-0123456789")
	src := fmt.Sprintf(`
[daemon]
listen = "127.0.0.1:0"
[[daemon.token]]
name = "grafana"
scope = "reader"
token_env = "RUN_TEST_READER"
[[daemon.token]]
name = "ci"
scope = "deployer"
token_env = "RUN_TEST_CI"
[aws]
region = "us-east-1"
endpoint_url = %q
[store]
path = %q
[[target]]
name = "shop"
function = "shop"
alias = "live"
  [[target.rule]]
  name = "r"
  kind = "throttles"
  threshold = 1
`, sim.URL(), t.TempDir()+"/c.db")
	cfg, err := config.Parse([]byte(src), "c.toml", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, runOptions{cfg: cfg, log: zap.NewNop(), ready: ready,
			daemon: daemon.Config{AWS: awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("A", "B", "")}}})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run ended: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("run not listening after 20s")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	call := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	announce := `{"target":"shop","version":"1"}`
	for _, tc := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"GET", "/v1/status", "reader-token-0123456789", "", 200},
		{"POST", "/v1/deploys", "reader-token-0123456789", announce, 403},
		{"POST", "/v1/overrides", "deployer-token-0123456789", `{"target":"shop","kind":"pause","reason":"x"}`, 403},
		{"GET", "/v1/status", "wrong-token-0123456789", "", 401},
	} {
		if code, body := call(tc.method, tc.path, tc.token, tc.body); code != tc.want {
			t.Errorf("%s %s with %.8s…: %d %s, want %d", tc.method, tc.path, tc.token, code, body, tc.want)
		}
	}
	if code, body := call("POST", "/v1/deploys", "deployer-token-0123456789", announce); code == 401 || code == 403 {
		t.Errorf("the deployer may announce: %d %s", code, body)
	}
	if _, body := call("GET", "/metrics", "", ""); !strings.Contains(body, "canaryd_build_info{") {
		t.Errorf("/metrics lacks canaryd_build_info")
	}
}
