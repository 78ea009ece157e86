package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			http.Error(w, `{"status":"not ready","reason":"store unreachable"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	cases := []struct {
		name string
		args []string
		env  string
		code int
		want string
	}{
		{"healthz on the listen address", []string{"--addr", "127.0.0.1:" + port}, "", 0, `"ok"`},
		{"0.0.0.0 from the environment is the loopback", nil, "0.0.0.0:" + port, 0, "http://127.0.0.1:" + port + "/healthz"},
		{"readyz failing", []string{"--ready", "--addr", "127.0.0.1:" + port}, "", 1, "503"},
		{"nothing listening", []string{"--addr", "127.0.0.1:1"}, "", 1, "refused"},
		{"bad address", []string{"--addr", "nope"}, "", 2, "--addr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CANARYD_LISTEN", tc.env)
			code, out, errOut := runCLI(t, append([]string{"healthcheck"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Fatalf("exit %d (want %d), output %q %q; want it to contain %q", code, tc.code, out, errOut, tc.want)
			}
		})
	}
}
