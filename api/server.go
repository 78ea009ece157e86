package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/console"
	"github.com/canaryd/canaryd/store"
)

// Defaults applied by New.
const (
	DefaultMaxBodyBytes      = 64 << 10
	DefaultOverrideTTL       = time.Hour
	DefaultMaxOverrideTTL    = 7 * 24 * time.Hour
	DefaultShutdownTimeout   = 10 * time.Second
	defaultReadHeaderTimeout = 5 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 60 * time.Second
	defaultIdleTimeout       = 120 * time.Second
	defaultMaxHeaderBytes    = 64 << 10
	defaultListLimit         = 100
	maxListLimit             = 10000
)

// Config is what the API needs. Controller and Store are required.
type Config struct {
	Controller Controller
	Store      store.Store
	// Token is the admin bearer token, named "admin", scope operator (the
	// config's admin_token_*). Tokens are more, named and scoped. With none
	// set every /v1 request is refused with 403, reads included.
	Token  config.Secret
	Tokens []Token
	// Registry is served on /metrics; the API registers its own request
	// metrics on it. Nil: /metrics serves an empty registry.
	Registry *prometheus.Registry
	// Ready reports whether the daemon is ready (store reachable, config
	// loaded...); nil means always ready.
	Ready  func() error
	Clock  clockwork.Clock // default: real clock
	Logger *zap.Logger     // default: no-op
	// MaxBodyBytes bounds request bodies (413 beyond), default 64 KiB.
	MaxBodyBytes int64
	// DefaultOverrideTTL applies when a POST /v1/overrides gives no ttl
	// (default 1h); MaxOverrideTTL bounds it (default 7 days).
	DefaultOverrideTTL time.Duration
	MaxOverrideTTL     time.Duration
	// ShutdownTimeout bounds graceful shutdown in Serve (default 10s).
	ShutdownTimeout time.Duration
	// NewID generates override IDs; default: random 16 hex chars.
	NewID func() string
	// Evidence gives watches' evidence series for GET /v1/watches/{id}
	// (the daemon's recorder); nil reads the stored snapshots only.
	Evidence EvidenceSource
	// Traces gives the watches' recorded replay traces for
	// GET /v1/watches/{id}/trace (nil: none recorded).
	Traces TraceSource
}

// Server is the admin API.
type Server struct {
	cfg     Config
	tokens  []tokenDigest
	log     *zap.Logger
	metrics *metrics
	handler http.Handler
}

// New builds a Server, applying defaults to cfg.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.DefaultOverrideTTL <= 0 {
		cfg.DefaultOverrideTTL = DefaultOverrideTTL
	}
	if cfg.MaxOverrideTTL <= 0 {
		cfg.MaxOverrideTTL = DefaultMaxOverrideTTL
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	tokens := cfg.Tokens
	if cfg.Token.IsSet() {
		tokens = append([]Token{{Name: config.AdminTokenName, Scope: ScopeOperator, Secret: cfg.Token}}, tokens...)
	}
	s := &Server{cfg: cfg, tokens: digests(tokens), log: cfg.Logger.Named("api"), metrics: newMetrics(cfg.Registry)}
	s.handler = s.routes()
	return s
}

// Handler is the API as an http.Handler (tests, or embedding in a mux).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	// The console's shell (HTML, JS, CSS) is public and holds no data;
	// every call it makes for data is a /v1 GET with the reader's token.
	mux.Handle("GET /console/", http.StripPrefix("/console", console.Handler()))
	mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))

	v1 := func(pattern string, scope Scope, h http.HandlerFunc) { mux.Handle(pattern, s.authorized(scope, h)) }
	v1("GET /v1/status", ScopeReader, s.getStatus)
	v1("GET /v1/overrides", ScopeReader, s.listOverrides)
	v1("POST /v1/overrides", ScopeOperator, s.postOverride)
	v1("DELETE /v1/overrides/{id}", ScopeOperator, s.deleteOverride)
	v1("POST /v1/rollback", ScopeOperator, s.postRollback)
	v1("POST /v1/deploys", ScopeDeployer, s.postDeploy)
	v1("GET /v1/watches", ScopeReader, s.listWatches)
	v1("GET /v1/watches/{id}", ScopeReader, s.getWatch)
	v1("GET /v1/watches/{id}/trace", ScopeReader, s.getTrace)
	v1("GET /v1/incidents", ScopeReader, s.listIncidents)
	v1("GET /v1/incidents/{id}", ScopeReader, s.getIncident)
	v1("GET /v1/incidents/{id}/postmortem", ScopeReader, s.getPostmortem)
	// Anything else under /v1 still needs a token before it learns 404.
	mux.Handle("/v1/", s.authorized(ScopeReader, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route", "")
	}))
	return drainBody(s.instrument(mux))
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// ListenAndServe serves on addr until ctx ends, then shuts down gracefully.
// With certFile and keyFile set it serves TLS.
func (s *Server) ListenAndServe(ctx context.Context, addr, certFile, keyFile string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("admin api listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln, certFile, keyFile)
}

// Serve serves on ln (which it closes) until ctx ends, then shuts down
// gracefully within Config.ShutdownTimeout. It returns nil after a clean
// shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener, certFile, keyFile string) error {
	if (certFile == "") != (keyFile == "") {
		ln.Close()
		return errors.New("admin api: tls needs both a cert file and a key file")
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: defaultReadHeaderTimeout,
		ReadTimeout:       defaultReadTimeout,
		WriteTimeout:      defaultWriteTimeout,
		IdleTimeout:       defaultIdleTimeout,
		MaxHeaderBytes:    defaultMaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if certFile != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	if certFile == "" && !isLoopback(ln.Addr()) {
		s.log.Warn("admin api serves plain HTTP on a non-loopback address: the bearer token crosses the network in clear; set tls_cert_file and tls_key_file",
			zap.String("addr", ln.Addr().String()))
	}
	s.log.Info("admin api listening", zap.String("addr", ln.Addr().String()), zap.Bool("tls", certFile != ""),
		zap.Int("tokens", len(s.tokens)))
	select {
	case err := <-errc:
		return fmt.Errorf("admin api serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("admin api shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin api serve: %w", err)
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
