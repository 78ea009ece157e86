package demo

import "testing"

func TestCountsText(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]int
		want string
	}{
		{map[string]int{"watch_started": 2, "tripped": 1, "rollback_done": 1}, "rollback_done 1, tripped 1, watch_started 2"},
		{nil, ""},
	} {
		if got := countsText(tc.in); got != tc.want {
			t.Errorf("countsText(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
