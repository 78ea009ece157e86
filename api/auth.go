package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// authenticated lets a request through only with the admin bearer token.
// The comparison is constant-time over SHA-256 digests, so neither the
// token's bytes nor its length leak through timing. Without a configured
// token every request is refused: a daemon started without one must not
// be steerable by anyone who can reach the port.
func (s *Server) authenticated(next http.HandlerFunc) http.Handler {
	var want [sha256.Size]byte
	if s.cfg.Token.IsSet() {
		want = sha256.Sum256([]byte(s.cfg.Token.Value()))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.Token.IsSet() {
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
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			s.refuse(w, r, "invalid")
			return
		}
		next(w, r)
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
