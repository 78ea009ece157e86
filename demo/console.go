package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/canaryd/canaryd/api"
	"github.com/canaryd/canaryd/config"
)

// serveConsole serves the admin API, and so the web console, on
// Options.Console with one reader token, so the demo's deploys can be
// watched in a browser. It returns the console's URL ("" when off).
func (s *stack) serveConsole(ctx context.Context) (string, error) {
	if s.o.Console == "off" {
		return "", nil
	}
	addr := s.o.Console
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s.token = s.o.ConsoleToken
	if s.token == "" {
		var b [12]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		s.token = "demo-reader-" + hex.EncodeToString(b[:])
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("demo console listen %s: %w", addr, err)
	}
	srv := api.New(api.Config{Controller: s.daemon.Controller(), Store: s.store, Clock: s.clock,
		Tokens:   []api.Token{{Name: "demo-reader", Scope: api.ScopeReader, Secret: config.NewSecret(s.token)}},
		Registry: s.daemon.Registry(), Ready: s.daemon.Ready, Evidence: s.daemon.Evidence(), Traces: s.daemon.Traces()})
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln, "", "") }()
	s.closers = append(s.closers, func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.w.say("console: %v", err)
		}
	})
	url := "http://" + ln.Addr().String() + "/console/"
	s.w.say("web console (read-only): %s — sign in with the demo's reader token %s", url, s.token)
	if s.o.OnConsole != nil {
		s.o.OnConsole(url, s.token)
	}
	return url, nil
}
