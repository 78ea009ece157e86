package watcher

import (
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// StallMeter measures how long canaryd's own process stood still: a
// goroutine that should wake every Interval and woke later. A health
// probe that timed out (or came back too slow) while the process itself
// was starved of CPU (a busy host, a throttled container, a long GC
// pause) says nothing about the endpoint: the answer may have been on
// the wire while no goroutine ran to read it. Read naively, a starved
// canaryd sees a good new version's probes fail and rolls it back, or
// sees the known-good's probes fail before the deploy and keeps a bad
// version alert-only ("failing before and after"). The prober asks the
// meter, for each failed probe, how long the process stalled while the
// request was in flight (Mark, Since), and discards the result when the
// stall could explain it.
//
// The meter runs on the real clock whatever clock the daemon is given:
// it measures the scheduler, not the watch's time.
type StallMeter struct {
	clock    clockwork.Clock
	interval time.Duration
	slack    time.Duration // lateness below this per wake-up is timer noise
	counter  prometheus.Counter

	mu      sync.Mutex
	running bool
	last    time.Time     // the last wake-up
	total   time.Duration // stalls seen up to last
}

// Stall meter defaults: ten wake-ups a second; lateness up to 20 ms each
// is the OS timer's and Go scheduler's ordinary jitter.
const (
	DefaultStallInterval = 100 * time.Millisecond
	DefaultStallSlack    = 20 * time.Millisecond
)

// NewStallMeter builds a meter on clock (nil: the real clock). counter,
// when not nil, accumulates the stalled seconds (exported so operators
// see a starved watchdog).
func NewStallMeter(clock clockwork.Clock, counter prometheus.Counter) *StallMeter {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &StallMeter{clock: clock, interval: DefaultStallInterval, slack: DefaultStallSlack, counter: counter}
}

// Run wakes every interval until ctx ends, recording late wake-ups.
// Until Run starts (and after it returns) the meter reports no stalls.
func (m *StallMeter) Run(ctx context.Context) {
	t := m.clock.NewTicker(m.interval)
	defer t.Stop()
	m.mu.Lock()
	m.running, m.last = true, m.clock.Now()
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
			m.wake(m.clock.Now())
		}
	}
}

// wake records one wake-up at now.
func (m *StallMeter) wake(now time.Time) {
	m.mu.Lock()
	late := m.lateness(now)
	m.total += late
	m.last = now
	m.mu.Unlock()
	if late > 0 && m.counter != nil {
		m.counter.Add(late.Seconds())
	}
}

// lateness is how far past its due time a wake-up at now is, or 0 within
// the slack. Callers hold mu.
func (m *StallMeter) lateness(now time.Time) time.Duration {
	if late := now.Sub(m.last) - m.interval; late > m.slack {
		return late
	}
	return 0
}

// StallMark is a point on the meter's cumulative stall.
type StallMark time.Duration

// Mark is the process's cumulative stall so far, counting the wake-up
// that is overdue now.
func (m *StallMeter) Mark() StallMark {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		return StallMark(m.total)
	}
	return StallMark(m.total + m.lateness(m.clock.Now()))
}

// Since is how long the process stalled since mark.
func (m *StallMeter) Since(mark StallMark) time.Duration {
	if m == nil {
		return 0
	}
	return time.Duration(m.Mark() - mark)
}
