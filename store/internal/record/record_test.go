package record

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

func TestTimeKeyOrder(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// strictly increasing times, across the sign of Unix seconds
	times := []time.Time{
		{}, // zero time, year 1
		time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(-1, 999999999),
		time.Unix(0, 0),
		time.Unix(0, 1),
		base,
		base.Add(time.Nanosecond),
		base.Add(time.Second - time.Nanosecond),
		base.Add(time.Second),
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i := 1; i < len(times); i++ {
		a, b := times[i-1], times[i]
		if bytes.Compare(TimeKey(a), TimeKey(b)) >= 0 {
			t.Errorf("TimeKey(%v) >= TimeKey(%v)", a, b)
		}
		if SortKeyHex(a, "z") >= SortKeyHex(b, "a") {
			t.Errorf("SortKeyHex(%v) >= SortKeyHex(%v)", a, b)
		}
	}
	if !bytes.Equal(TimeKey(base), TimeKey(base.In(time.FixedZone("x", 3600)))) {
		t.Error("TimeKey depends on the time zone")
	}
}

func TestSortKeyHexID(t *testing.T) {
	for _, id := range []string{"w1", "", "a|b", "{x}:y"} {
		got, err := IDFromSortKeyHex(SortKeyHex(time.Unix(5, 6), id))
		if err != nil || got != id {
			t.Errorf("round trip of %q = %q, %v", id, got, err)
		}
	}
	for _, bad := range []string{"", "abc|x", "000000000000000000000000x1"} {
		if _, err := IDFromSortKeyHex(bad); err == nil {
			t.Errorf("IDFromSortKeyHex(%q): no error", bad)
		}
	}
}

func TestLeaseAcquire(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	live := Lease{Holder: "a", Token: 4, ExpiresAt: now.Add(time.Second)}
	expired := Lease{Holder: "a", Token: 4, ExpiresAt: now}
	released := Lease{Token: 4}
	cases := []struct {
		name      string
		l         Lease
		holder    string
		wantToken int64
		wantErr   error
	}{
		{"first ever", Lease{}, "a", 1, nil},
		{"renew keeps token", live, "a", 4, nil},
		{"other holder refused", live, "b", 0, store.ErrLeaseHeld},
		{"other holder after expiry", expired, "b", 5, nil},
		{"same holder after expiry gets a new term", expired, "a", 5, nil},
		{"after release", released, "b", 5, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nl, f, err := tc.l.Acquire("api", tc.holder, now, 10*time.Second)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if f.Token != tc.wantToken || nl.Token != tc.wantToken || f.Holder != tc.holder || f.Target != "api" {
				t.Errorf("fence %+v, lease %+v; want token %d", f, nl, tc.wantToken)
			}
			if !nl.ExpiresAt.Equal(now.Add(10*time.Second)) || nl.Check(f, now) != nil {
				t.Errorf("new lease %+v is not live for its fence", nl)
			}
		})
	}
}

func TestMatchEvent(t *testing.T) {
	now := time.Unix(100, 0)
	e := store.Event{Time: now, Target: "a", WatchID: "w", IncidentID: "i"}
	cases := []struct {
		f    store.EventFilter
		want bool
	}{
		{store.EventFilter{}, true},
		{store.EventFilter{Target: "a", WatchID: "w", IncidentID: "i", Since: now}, true},
		{store.EventFilter{Target: "b"}, false},
		{store.EventFilter{WatchID: "x"}, false},
		{store.EventFilter{IncidentID: "x"}, false},
		{store.EventFilter{Since: now.Add(time.Nanosecond)}, false},
	}
	for _, tc := range cases {
		if got := MatchEvent(tc.f, e); got != tc.want {
			t.Errorf("MatchEvent(%+v) = %t, want %t", tc.f, got, tc.want)
		}
	}
}
