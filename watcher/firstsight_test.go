package watcher

import (
	"testing"
	"time"
)

func TestDecideFirstSight(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return now.Add(time.Duration(m) * time.Minute) }
	cases := []struct {
		name      string
		traffic   []served
		adopt     bool
		knownGood string
		since     time.Time
	}{
		{"only the live version served", []served{{"7", at(-180), at(-5)}, {"6", time.Time{}, time.Time{}}}, true, "", time.Time{}},
		{"nothing served", []served{{"7", time.Time{}, time.Time{}}}, true, "", time.Time{}},
		{"a recent deploy", []served{{"7", at(-20), at(-5)}, {"6", at(-180), at(-20)}, {"5", time.Time{}, time.Time{}}}, false, "6", at(-20)},
		{"deployed, no traffic yet", []served{{"7", time.Time{}, time.Time{}}, {"6", at(-180), at(-10)}}, false, "6", now},
		{"the newest of the others is the known-good", []served{{"8", at(-10), at(-5)}, {"7", at(-60), at(-30)}, {"6", at(-180), at(-60)}}, false, "7", at(-10)},
		{"back after a rollback", []served{{"7", at(-180), at(-5)}, {"8", at(-40), at(-30)}}, true, "", time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := decideFirstSight(tc.traffic[0].version, tc.traffic, now)
			if got.adopt != tc.adopt || got.knownGood != tc.knownGood || (!tc.adopt && !got.since.Equal(tc.since)) || got.why == "" {
				t.Fatalf("got %+v, want adopt %v known-good %q since %s", got, tc.adopt, tc.knownGood, tc.since)
			}
		})
	}
}
