package policy

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// Binomial tails worked out by hand: P(X >= k) = sum_{i>=k} C(n,i) p^i (1-p)^(n-i).
func TestBinomialUpperTail(t *testing.T) {
	cases := []struct {
		name    string
		k, n, p float64
		want    float64
	}{
		{"all of 7 at one half", 7, 7, 0.5, 1.0 / 128},
		{"8 or more of 10", 8, 10, 0.5, 56.0 / 1024},              // (45+10+1)/2^10
		{"2 or more of 3 at 0.2", 2, 3, 0.2, 0.104},               // 3*.04*.8 + .008
		{"k=0 is certain", 0, 5, 0.3, 1},                          // empty condition
		{"more than n is impossible", 4, 3, 0.5, 0},               //
		{"p=0 never errs", 1, 10, 0, 0},                           //
		{"one trial", 1, 1, 0.25, 0.25},                           //
		{"10 of 20 at one half", 10, 20, 0.5, 0.5880985260009766}, // (2^20 + C(20,10))/2^21
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := binomialUpperTail(tc.k, tc.n, tc.p); !near(got, tc.want, 1e-12) {
				t.Fatalf("P(X>=%v | n=%v, p=%v) = %.15g, want %.15g", tc.k, tc.n, tc.p, got, tc.want)
			}
		})
	}
}

func TestCompareErrorsP(t *testing.T) {
	cases := []struct {
		name                       string
		eNew, nNew, eOld, nOld, me float64
		want                       float64
	}{
		// Equal exposure, min_effect 0: p0 = 1/2, k = 20.
		{"equal rates", 10, 1000, 10, 1000, 0, 0.5880985260009766},
		// All zero: no errors anywhere is no evidence against the new version.
		{"all zero", 0, 1000, 0, 1000, 0.2, 1},
		// min_effect 0.5: p0 = 1.5*100/(1.5*100+300) = 1/3; all 4 errors new: (1/3)^4.
		{"min effect scales p0", 4, 100, 0, 300, 0.5, 1.0 / 81},
		// Tiny: one error, one invocation each side: p0 = 1/2, k = 1.
		{"tiny", 1, 1, 0, 1, 0, 0.5},
		{"no new errors", 0, 500, 30, 500, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := compareErrorsP(tc.eNew, tc.nNew, tc.eOld, tc.nOld, tc.me); !near(got, tc.want, 1e-12) {
				t.Fatalf("p = %.15g, want %.15g", got, tc.want)
			}
		})
	}
}

func seq(from, to, step float64) []float64 {
	var v []float64
	for x := from; x <= to+1e-9; x += step {
		v = append(v, x)
	}
	return v
}

// Mann-Whitney U, one-sided "x larger". Exact values: P(U >= u) counts the
// orderings, C(n1+n2, n1) equally likely; the n1 = n2 = 5 values are those
// of Siegel (1956), Nonparametric Statistics, Table J (n2 = 5): P(U <= 4) =
// .048, P(U <= 5) = .075, P(U <= 0) = .004 — by symmetry the upper tails at
// 21, 20 and 25.
func TestMannWhitneyExact(t *testing.T) {
	cases := []struct {
		name  string
		x, y  []float64
		wantU float64
		wantP float64
		tol   float64
	}{
		{"3 vs 3 separated", []float64{4, 5, 6}, []float64{1, 2, 3}, 9, 1.0 / 20, 1e-12},
		{"4 vs 4 separated", []float64{5, 6, 7, 8}, []float64{1, 2, 3, 4}, 16, 1.0 / 70, 1e-12},
		{"5 vs 5 separated (Table J: .004)", seq(6, 10, 1), seq(1, 5, 1), 25, 0.004, 0.0005},
		// x ranks {1,2,3,4,5,...}: U = 21 means four "inversions" from separation.
		{"5 vs 5 U=21 (Table J: .048)", []float64{2.5, 7, 8, 9, 10}, []float64{1, 3, 4, 5, 6}, 21, 0.048, 0.0005},
		{"5 vs 5 U=20 (Table J: .075)", []float64{0.5, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5}, 20, 0.075, 0.0005},
		{"5 vs 5 exact 12/252", []float64{2.5, 7, 8, 9, 10}, []float64{1, 3, 4, 5, 6}, 21, 12.0 / 252, 1e-12},
		{"1 vs 1", []float64{2}, []float64{1}, 1, 0.5, 1e-12},
		{"x smaller", []float64{1, 2, 3}, []float64{4, 5, 6}, 0, 1, 1e-12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, p := mannWhitneyGreater(tc.x, tc.y)
			if u != tc.wantU || !near(p, tc.wantP, tc.tol) {
				t.Fatalf("U=%v p=%.6g, want U=%v p=%.6g", u, p, tc.wantU, tc.wantP)
			}
		})
	}
}

// Normal approximation, worked out by hand:
//   - ties: x={3,4,5,5}, y={1,2,3,5}: mid-ranks give R1 = 22.5, U = 12.5;
//     tie terms (2^3-2)+(3^3-3) = 30; sigma^2 = 16/12*(9 - 30/56) = 11.2857;
//     z = (12.5 - 8 - 0.5)/sqrt(sigma^2) = 1.19068; p = 1 - Phi(z) = 0.116889.
//   - 60 vs 60 without ties (beyond the exact limit): x_i = i+10.5, y_j = j,
//     U = 2375, mu = 1800, sigma^2 = 3600*121/12, z = 3.01534, p = 0.00128344.
//   - all zero: every value tied, variance 0, p = 1.
func TestMannWhitneyNormal(t *testing.T) {
	x60, y60 := make([]float64, 60), make([]float64, 60)
	for i := range x60 {
		x60[i], y60[i] = float64(i)+10.5, float64(i)
	}
	cases := []struct {
		name         string
		x, y         []float64
		wantU, wantP float64
	}{
		{"ties", []float64{3, 4, 5, 5}, []float64{1, 2, 3, 5}, 12.5, 0.11688939709202392},
		{"60 vs 60", x60, y60, 2375, 0.0012834439717620898},
		{"all zero", []float64{0, 0, 0}, []float64{0, 0, 0, 0}, 6, 1},
		{"empty", nil, []float64{1}, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, p := mannWhitneyGreater(tc.x, tc.y)
			if u != tc.wantU || !near(p, tc.wantP, 1e-9) {
				t.Fatalf("U=%v p=%.12g, want U=%v p=%.12g", u, p, tc.wantU, tc.wantP)
			}
		})
	}
}

// The exact distribution sums to one and is symmetric: P(U >= u) = P(U <= n1*n2 - u).
func TestExactDistributionShape(t *testing.T) {
	for _, sz := range [][2]int{{1, 1}, {2, 7}, {5, 5}, {12, 30}, {50, 50}} {
		tails := upperTails(sz[0], sz[1])
		mn := sz[0] * sz[1]
		if !near(tails[0], 1, 1e-9) {
			t.Fatalf("%v: P(U>=0) = %v", sz, tails[0])
		}
		for u := 1; u <= mn; u++ {
			lower := 1 - tails[mn-u+1] // P(U <= u-1)... P(U <= mn-u) = 1 - P(U >= mn-u+1)
			if !near(tails[u], lower, 1e-9) || tails[u] < -1e-12 {
				t.Fatalf("%v: P(U>=%d)=%v, P(U<=%d)=%v", sz, u, tails[u], mn-u, lower)
			}
		}
	}
}

// The exact distribution and the normal approximation agree closely for
// moderate sizes (a consistency check between the two code paths).
func TestExactAgreesWithNormal(t *testing.T) {
	const n1, n2 = 20, 20
	tails := upperTails(n1, n2)
	mu, sigma := float64(n1*n2)/2, math.Sqrt(float64(n1*n2*(n1+n2+1))/12)
	for _, u := range []int{220, 250, 270, 290, 310} {
		z := (float64(u) - mu - 0.5) / sigma
		normal := 0.5 * math.Erfc(z/math.Sqrt2)
		if !near(tails[u], normal, 0.005) {
			t.Errorf("U>=%d: exact %.5f, normal %.5f", u, tails[u], normal)
		}
	}
}
