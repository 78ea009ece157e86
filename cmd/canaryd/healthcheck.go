package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/canaryd/canaryd/config"
)

// cmdHealthcheck asks the local daemon's /healthz (or /readyz): the
// container health check of an image without a shell or curl. Exit 0 when
// it answers 200, 1 otherwise.
func cmdHealthcheck(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "healthcheck")
	addr := fs.String("addr", "", "the daemon's listen address (default $CANARYD_LISTEN, else "+config.DefaultListen+")")
	ready := fs.Bool("ready", false, "ask /readyz (store reachable, config loaded) instead of /healthz")
	useTLS := fs.Bool("tls", false, "the admin API serves TLS (its certificate is not verified: this is the loopback)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	u, err := healthURL(*addr, *ready, *useTLS)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return usagef("%v", err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: *useTLS}}} //nolint:gosec // loopback liveness
	resp, err := client.Do(req)
	if err != nil {
		return exitError{code: exitFailure, err: fmt.Errorf("%s: %w", u, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return exitError{code: exitFailure, err: fmt.Errorf("%s: %d %s", u, resp.StatusCode, body)}
	}
	fmt.Fprintf(env.stdout, "%s: %s", u, body)
	return nil
}

// healthURL turns a listen address into one to dial: an unspecified host
// (0.0.0.0, ::, "") is the loopback.
func healthURL(addr string, ready, useTLS bool) (string, error) {
	if addr == "" {
		addr = os.Getenv(config.EnvListen)
	}
	if addr == "" {
		addr = config.DefaultListen
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usagef("--addr %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme, path := "http", "/healthz"
	if useTLS {
		scheme = "https"
	}
	if ready {
		path = "/readyz"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path, nil
}
