package watcher

import (
	"hash/fnv"
	"time"
)

// jitterOffset spreads keys deterministically over [0, interval): the same
// key always lands on the same offset, so a restart keeps the spread and
// 10,000 targets do not fire in one burst.
func jitterOffset(key string, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(interval))
}

// nextSlot returns the first instant strictly after now that is offset past
// a multiple of interval (counted from the Unix epoch).
func nextSlot(now time.Time, interval, offset time.Duration) time.Time {
	if interval <= 0 {
		return now
	}
	base := now.Truncate(interval).Add(offset)
	for !base.After(now) {
		base = base.Add(interval)
	}
	return base
}

// ProbeSlot is when a probe of target that is due after `after` runs: the
// daemon runs each probe on a fixed, epoch-aligned schedule with a
// deterministic offset per (target, probe), at the first tick at or after
// its slot. Trace generators use it to put probe results where the daemon
// would take them.
func ProbeSlot(target, probe string, interval time.Duration, after time.Time) time.Time {
	return nextSlot(after, interval, jitterOffset(target+"\x00"+probe, interval))
}
