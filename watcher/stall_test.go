package watcher

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/sample"
)

// runStallMeter starts a meter on clk and returns it once it runs.
func runStallMeter(t *testing.T, clk *clockwork.FakeClock, counter prometheus.Counter) *StallMeter {
	t.Helper()
	m := NewStallMeter(clk, counter)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	until(t, "the meter to run", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.running
	})
	return m
}

// until polls cond against a generous real-time deadline (a bound on the
// code under test, not a synchronisation sleep).
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// steadily advances clk by d in the meter's own steps, each wake-up
// taken before the next: a process that never stood still.
func steadily(t *testing.T, clk *clockwork.FakeClock, m *StallMeter, d time.Duration) {
	t.Helper()
	for step := time.Duration(0); step < d; step += m.interval {
		clk.Advance(m.interval)
		until(t, "the meter's wake-up", func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.last.Equal(clk.Now())
		})
	}
}

func TestStallMeterCountsLateWakeUps(t *testing.T) {
	clk := clockwork.NewFakeClock()
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "stall_seconds_total"})
	m := runStallMeter(t, clk, counter)

	start := m.Mark()
	steadily(t, clk, m, time.Second)
	if got := m.Since(start); got != 0 {
		t.Fatalf("a second of on-time wake-ups counted as a %s stall", got)
	}

	// Three seconds without a wake-up: the overdue one counts at once,
	// before the meter's goroutine has woken to record it ...
	mark := m.Mark()
	clk.Advance(3 * time.Second)
	want := 3*time.Second - m.interval
	if got := m.Since(mark); got != want {
		t.Fatalf("stall while overdue: %s, want %s", got, want)
	}
	// ... and stays the same once it has.
	until(t, "the late wake-up", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.total > 0
	})
	if got := m.Since(mark); got != want {
		t.Fatalf("stall after the late wake-up: %s, want %s", got, want)
	}
	if got := testutil.ToFloat64(counter); got != want.Seconds() {
		t.Fatalf("stall counter %v, want %v", got, want.Seconds())
	}

	// Lateness within the slack is timer jitter.
	mark = m.Mark()
	clk.Advance(m.interval + m.slack)
	until(t, "a slightly late wake-up", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.last.Equal(clk.Now())
	})
	if got := m.Since(mark); got != 0 {
		t.Fatalf("a wake-up %s late counted as a %s stall", m.slack, got)
	}
}

func TestStallMeterIdleReportsNothing(t *testing.T) {
	clk := clockwork.NewFakeClock()
	m := NewStallMeter(clk, nil) // never run: a test driving Tick by hand
	mark := m.Mark()
	clk.Advance(time.Hour)
	if got := m.Since(mark); got != 0 {
		t.Fatalf("a meter that never ran reports a %s stall", got)
	}
	var none *StallMeter
	if got := none.Since(none.Mark()); got != 0 {
		t.Fatalf("nil meter reports a %s stall", got)
	}
}

// TestProbeFailureDuringStallIsNotEvidence: a probe that timed out, or
// came back too slow, while canaryd itself stood still is a source error
// naming the stall; the same failure without a stall stays a failure.
func TestProbeFailureDuringStallIsNotEvidence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		slow   bool          // the server answers after the clock moved (else it never does)
		steady time.Duration // on-time wake-ups first
		jump   time.Duration // then the clock moves this far at once (a stall of jump - interval)
		want   sample.Outcome
	}{
		{"timeout while stalled", false, 0, 2 * time.Second, sample.OutcomeSourceError},
		{"timeout, stalled a quarter of it", false, 1400 * time.Millisecond, 600 * time.Millisecond, sample.OutcomeSourceError},
		{"timeout, stalled less than a quarter", false, 1600 * time.Millisecond, 400 * time.Millisecond, sample.OutcomeFail},
		{"timeout without a stall", false, 2 * time.Second, 0, sample.OutcomeFail},
		{"too slow only by the stall", true, 500 * time.Millisecond, time.Second, sample.OutcomeSourceError},
		{"too slow beyond the stall", true, 1200 * time.Millisecond, 300 * time.Millisecond, sample.OutcomeFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			var arrived <-chan struct{}
			release := make(chan struct{})
			if tc.slow {
				a := make(chan struct{})
				srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					a <- struct{}{}
					<-release
					fmt.Fprint(w, "ok")
				}))
				t.Cleanup(srv.Close)
				arrived = a
			} else {
				srv, arrived = hangingServer(t, false)
			}
			clk := clockwork.NewFakeClock()
			m := runStallMeter(t, clk, nil)
			pr := NewProber(ProberConfig{Clock: clk, Stalls: m})
			done := make(chan sample.Sample, 1)
			go func() {
				done <- pr.Probe(context.Background(), "api", probeDefaults(config.Probe{Name: "h", URL: srv.URL, Timeout: dur(2 * time.Second), MaxLatency: dur(time.Second)}))
			}()
			waitFor(t, arrived, "request at server")
			steadily(t, clk, m, tc.steady)
			clk.Advance(tc.jump)
			if tc.slow {
				close(release)
			}
			s := waitFor(t, done, "probe")
			if s.Outcome != tc.want {
				t.Fatalf("got %s %q, want %s", s.Outcome, s.Reason, tc.want)
			}
			if stalled := strings.Contains(s.Reason, "canaryd itself stalled"); stalled != (tc.want == sample.OutcomeSourceError) {
				t.Fatalf("reason %q: names the stall %v, want %v", s.Reason, stalled, !stalled)
			}
		})
	}
}
