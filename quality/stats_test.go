package quality

import (
	"math"
	"slices"
	"testing"
)

func TestParseStatRejects(t *testing.T) {
	for _, s := range []string{"", "p", "p0", "p101", "p+9", "pxx", "tm", "TX(1:2)", "TC(1:2", "TC(:)", "TC(a:)", "PR(10%:)", "WM(1:2)", "TC(110%:)", "avg"} {
		t.Run(s, func(t *testing.T) {
			if _, err := parseStat(s); err == nil {
				t.Errorf("parseStat(%q) accepted", s)
			}
		})
	}
}

// Ten values 1..10 ms: every statistic by hand.
func TestStatEval(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		stat string
		want float64
	}{
		{"SampleCount", 10},
		{"Sum", 55},
		{"Average", 5.5},
		{"Minimum", 1},
		{"Maximum", 10},
		{"p50", 5},     // rank ceil(5) = 5
		{"p90", 9},     // rank 9
		{"p99", 10},    // rank ceil(9.9) = 10
		{"p10", 1},     // rank 1
		{"p12.5", 2},   // rank ceil(1.25) = 2
		{"TC(7:)", 3},  // 8, 9, 10
		{"TC(:7)", 7},  // 1..7
		{"TC(2:4)", 2}, // 3, 4: (2, 4]
		{"TC(7.5:)", 3},
		{"PR(:7)", 70},
		{"PR(2:4)", 20},
		{"PR(10:)", 0},
		{"TC(90%:)", 1},    // above p90 (9): 10
		{"TC(10%:90%)", 8}, // ranks 2..9
		{"tc90", 9},        // up to p90
		{"tm90", 5},        // mean of 1..9
		{"ts90", 45},
		{"TM(10%:90%)", 5.5}, // mean of 2..9
		{"TS(:3)", 6},
		{"IQM", 6},           // TM(25%:75%): ranks (ceil(2.5), ceil(7.5)] = 4..8
		{"WM(20%:80%)", 5.3}, // clamped to [p20, p80] = [2, 8]: (2+2+3+4+5+6+7+8+8+8)/10
		{"wm50", 4},          // clamped above p50 = 5: (1+2+3+4+5*6)/10
	}
	for _, tc := range tests {
		t.Run(tc.stat, func(t *testing.T) {
			st, err := parseStat(tc.stat)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := st.eval(xs)
			if !ok || math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("%s = %v (%v), want %v", tc.stat, got, ok, tc.want)
			}
		})
	}
}

func TestStatEvalEmpty(t *testing.T) {
	tests := []struct {
		stat   string
		ok     bool
		want   float64
		values []float64
	}{
		{"p99", false, 0, nil},
		{"TC(5:)", false, 0, nil}, // no invocations: no datapoint at all
		{"TC(50:)", true, 0, []float64{1, 2}},
		{"TM(50:)", false, 0, []float64{1, 2}}, // empty range: no mean
		{"p99", true, 7, []float64{7}},
	}
	for _, tc := range tests {
		t.Run(tc.stat, func(t *testing.T) {
			st, _ := parseStat(tc.stat)
			got, ok := st.eval(tc.values)
			if ok != tc.ok || got != tc.want {
				t.Errorf("%s over %v = %v, %v; want %v, %v", tc.stat, tc.values, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// The statistics do not depend on the order of the values.
func TestStatEvalUnsorted(t *testing.T) {
	r := newRNG(GoodSteady, 3, "test")
	xs := make([]float64, 1001)
	for i := range xs {
		xs[i] = math.Round(r.lognormal(4, 1)) // ties too
	}
	sorted := slices.Sorted(slices.Values(xs))
	for _, name := range []string{"p50", "p99", "p99.9", "Minimum", "Maximum", "TC(60:)", "PR(:60)", "TM(20:80)", "tm90", "WM(5%:95%)", "IQM"} {
		st, _ := parseStat(name)
		got, ok1 := st.eval(slices.Clone(xs))
		want, ok2 := st.eval(sorted)
		if got != want || ok1 != ok2 {
			t.Errorf("%s: %v unsorted, %v sorted", name, got, want)
		}
		if st.fn == "p" && want != sorted[rank(st.q, len(xs))-1] {
			t.Errorf("%s: %v, want rank %d of the sorted values", name, want, rank(st.q, len(xs)))
		}
	}
}
