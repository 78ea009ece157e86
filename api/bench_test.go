package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkAuthenticatedStatus is one GET /v1/status through the whole
// handler chain (metrics, auth, controller, JSON), without the network.
func BenchmarkAuthenticatedStatus(b *testing.B) {
	h := newHarness(b)
	handler := h.srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkRefusedRequest is the cost of turning away a wrong token.
func BenchmarkRefusedRequest(b *testing.B) {
	h := newHarness(b)
	handler := h.srv.Handler()
	body := `{"target":"checkout","reason":"x"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/rollback", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer wrong")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
