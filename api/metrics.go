package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's own: requests by route pattern and status code
// (bounded: patterns are fixed, unmatched paths share one label) and
// refused authentications by reason.
type metrics struct {
	requests     *prometheus.CounterVec
	authFailures *prometheus.CounterVec
}

// newMetrics registers the API's metrics on reg. A second Server on the
// same registry (a restart of the API inside one process, tests) shares
// the collectors already there instead of panicking.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: registerCounterVec(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_api_requests_total",
			Help: "Admin API requests by route pattern and HTTP status code.",
		}, []string{"route", "code"})),
		authFailures: registerCounterVec(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_api_auth_failures_total",
			Help: "Admin API requests refused for authentication, by reason.",
		}, []string{"reason"})),
	}
	for _, r := range []string{"missing", "invalid", "forbidden", "no_token_configured"} {
		m.authFailures.WithLabelValues(r)
	}
	return m
}

func registerCounterVec(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("api metrics: %v", err)) // a name clash with another package: a programming error
	}
	return c
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts each request under the pattern the mux matched.
func (s *Server) instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" || route == "/v1/" {
			route = "unmatched"
		}
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	})
}
