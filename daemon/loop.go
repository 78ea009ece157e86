package daemon

import (
	"sync"
	"time"
)

// stuckAfter is how long one tick may run before /readyz fails: every
// external call has a deadline, so a tick this long means a bug or a
// dependency without one.
const stuckAfter = 30 * time.Second

// loopWatch times the run loop's ticks.
type loopWatch struct {
	mu      sync.Mutex
	started time.Time // the tick in progress; zero between ticks
}

func (l *loopWatch) begin(now time.Time) {
	l.mu.Lock()
	l.started = now
	l.mu.Unlock()
}

// end closes the tick in progress and returns how long it took.
func (l *loopWatch) end(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := now.Sub(l.started)
	l.started = time.Time{}
	return d
}

// stuck is how long the tick in progress has run (0 between ticks).
func (l *loopWatch) stuck(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started.IsZero() {
		return 0
	}
	return now.Sub(l.started)
}
