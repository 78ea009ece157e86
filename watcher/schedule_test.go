package watcher

import (
	"fmt"
	"testing"
	"time"
)

func TestJitterSpreadsTargets(t *testing.T) {
	const n, interval = 10000, 15 * time.Second
	buckets := make([]int, 15)
	for i := 0; i < n; i++ {
		off := jitterOffset(fmt.Sprintf("target-%d", i), interval)
		if off < 0 || off >= interval {
			t.Fatalf("offset %v outside [0,%v)", off, interval)
		}
		buckets[off/time.Second]++
	}
	for i, c := range buckets {
		// A burst would put everything in one second; allow +-30% of the mean.
		if c < n/15*7/10 || c > n/15*13/10 {
			t.Errorf("second %d has %d of %d pollers: not spread", i, c, n)
		}
	}
	a1, a2 := jitterOffset("a", interval), jitterOffset("a", interval)
	if a1 != a2 || a1 == jitterOffset("b", interval) {
		t.Errorf("offsets a=%v a=%v b=%v: want deterministic and distinct", a1, a2, jitterOffset("b", interval))
	}
}

func TestNextSlot(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 7, 0, time.UTC)
	cases := []struct {
		name   string
		offset time.Duration
		want   time.Time
	}{
		{"later this interval", 9 * time.Second, now.Add(2 * time.Second)},
		{"earlier: next interval", 3 * time.Second, now.Add(11 * time.Second)},
		{"exactly now: next interval", 7 * time.Second, now.Add(15 * time.Second)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextSlot(now, 15*time.Second, tc.offset); !got.Equal(tc.want) {
				t.Fatalf("nextSlot = %v, want %v", got, tc.want)
			}
		})
	}
}
