package watcher

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/config"
)

// TestVerify: three passing rounds in a row prove recovery; a target that
// stays down is reported with its last failure when the window ends.
func TestVerify(t *testing.T) {
	cases := []struct {
		name     string
		failFor  int32 // first requests that fail
		healthy  bool
		contains string
	}{
		{"recovers", 2, true, "3 probe rounds in a row passed"},
		{"stays down", 1 << 30, false, "health not restored within 1m0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if n.Add(1) <= tc.failFor {
					http.Error(w, "down", http.StatusServiceUnavailable)
				}
			}))
			t.Cleanup(srv.Close)
			clk := clockwork.NewFakeClock()
			pr := NewProber(ProberConfig{Clock: clk})
			tgt := config.Target{Name: "api", Probes: []config.Probe{probeDefaults(config.Probe{Name: "h", URL: srv.URL, Interval: dur(5 * time.Second)})}}
			type result struct {
				ok  bool
				why string
				err error
			}
			done := make(chan result, 1)
			go func() {
				ok, why, err := pr.Verify(context.Background(), tgt, time.Minute)
				done <- result{ok, why, err}
			}()
			deadline := time.Now().Add(10 * time.Second)
			for {
				select {
				case r := <-done:
					if r.err != nil || r.ok != tc.healthy || !strings.Contains(r.why, tc.contains) {
						t.Fatalf("verify: %v %q %v; want %v and %q", r.ok, r.why, r.err, tc.healthy, tc.contains)
					}
					return
				default:
				}
				if time.Now().After(deadline) {
					t.Fatal("verify did not return")
				}
				clk.Advance(time.Second) // rounds are 5 s apart on the fake clock
				time.Sleep(time.Millisecond)
			}
		})
	}
}
