package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
)

// Scope is what a token may do; each scope allows what the ones below it do.
type Scope int

// Scopes.
const (
	ScopeReader   Scope = iota + 1 // GET /v1/*
	ScopeDeployer                  // and POST /v1/deploys
	ScopeOperator                  // and overrides, manual rollbacks
)

func (s Scope) String() string {
	switch s {
	case ScopeReader:
		return config.ScopeReader
	case ScopeDeployer:
		return config.ScopeDeployer
	case ScopeOperator:
		return config.ScopeOperator
	}
	return fmt.Sprintf("scope(%d)", int(s))
}

// ParseScope reads a config scope name.
func ParseScope(s string) (Scope, error) {
	for _, sc := range []Scope{ScopeReader, ScopeDeployer, ScopeOperator} {
		if sc.String() == s {
			return sc, nil
		}
	}
	return 0, fmt.Errorf("unknown scope %q: reader, deployer or operator", s)
}

// Token is a named bearer token. Its name is the actor recorded for every
// change made with it, whatever the client claims.
type Token struct {
	Name   string
	Scope  Scope
	Secret config.Secret
}

// TokensFromConfig turns the config's admin token (named "admin", operator)
// and [[daemon.token]]s into API tokens.
func TokensFromConfig(d config.Daemon) ([]Token, error) {
	var out []Token
	if d.AdminToken.IsSet() {
		out = append(out, Token{Name: config.AdminTokenName, Scope: ScopeOperator, Secret: d.AdminToken})
	}
	for _, t := range d.Tokens {
		sc, err := ParseScope(t.Scope)
		if err != nil {
			return nil, fmt.Errorf("token %s: %w", t.Name, err)
		}
		out = append(out, Token{Name: t.Name, Scope: sc, Secret: t.Value})
	}
	return out, nil
}

type tokenDigest struct {
	name  string
	scope Scope
	sum   [sha256.Size]byte
}

func digests(tokens []Token) []tokenDigest {
	out := make([]tokenDigest, 0, len(tokens))
	for _, t := range tokens {
		if t.Secret.IsSet() {
			out = append(out, tokenDigest{name: t.Name, scope: t.Scope, sum: sha256.Sum256([]byte(t.Secret.Value()))})
		}
	}
	return out
}

type actorKey struct{}

// actor is the name of the token that authenticated r.
func actor(r *http.Request) string {
	a, _ := r.Context().Value(actorKey{}).(string)
	return a
}

// authorized lets a request through only with a bearer token of at least
// scope. Every configured token is compared, in constant time over SHA-256
// digests, so neither a token's bytes, its length nor which one matched
// leak through timing. Without any token every request is refused: a
// daemon started without one must not be steerable by anyone who can
// reach the port.
func (s *Server) authorized(scope Scope, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.tokens) == 0 {
			s.metrics.authFailures.WithLabelValues("no_token_configured").Inc()
			writeError(w, http.StatusForbidden, "admin token not configured", "")
			return
		}
		got, ok := bearer(r)
		if !ok {
			s.refuse(w, r, "missing")
			return
		}
		sum := sha256.Sum256([]byte(got))
		match := -1
		for i, t := range s.tokens {
			if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
				match = i
			}
		}
		if match < 0 {
			s.refuse(w, r, "invalid")
			return
		}
		t := s.tokens[match]
		if t.scope < scope {
			s.metrics.authFailures.WithLabelValues("forbidden").Inc()
			s.log.Warn("admin api: request beyond the token's scope refused", zap.String("actor", t.name),
				zap.String("scope", t.scope.String()), zap.String("method", r.Method), zap.String("path", r.URL.Path))
			writeError(w, http.StatusForbidden, fmt.Sprintf("token %q has scope %s; %s %s needs %s", t.name, t.scope, r.Method, r.URL.Path, scope), "")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, t.name)))
	})
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, reason string) {
	s.metrics.authFailures.WithLabelValues(reason).Inc()
	// Never log the header: a wrong token is often a right token for
	// something else.
	s.log.Warn("admin api: unauthenticated request refused",
		zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.String("remote", r.RemoteAddr), zap.String("reason", reason))
	w.Header().Set("WWW-Authenticate", `Bearer realm="canaryd"`)
	writeError(w, http.StatusUnauthorized, "missing or invalid bearer token", "")
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
