package seqtest

import (
	"math"
	"testing"
)

// TestRateTrend: over simulated hours of per-minute slow counts, steady
// and bursty, the slope's estimate is unbiased within its standard error,
// and the one-sided lower bound at z = 2 lies above the true slope about
// as often as it should (2.3%; Pearson's dispersion keeps it so for
// bursty counts).
func TestRateTrend(t *testing.T) {
	cases := []struct {
		name        string
		beta        float64 // per hour
		perMin      int     // invocations a minute
		share       float64 // slow share at the start
		burstK      float64 // Gamma shape of a minute's multiplier (Inf: Poisson)
		maxMeanErr  float64 // |mean estimate - beta| allowed, in mean standard errors
		maxAboveTwo float64 // share of runs whose lower bound exceeds beta
	}{
		{"flat, 150 a minute", 0, 150, 0.01, math.Inf(1), 0.2, 0.045},
		{"flat, 3000 a minute", 0, 3000, 0.01, math.Inf(1), 0.2, 0.045},
		{"rising 0.7/h, 3000 a minute", 0.7, 3000, 0.01, math.Inf(1), 0.2, 0.045},
		{"rising 0.7/h, bursty (k=5)", 0.7, 3000, 0.01, 5, 0.2, 0.045},
		{"falling 0.5/h, 500 a minute", -0.5, 500, 0.02, math.Inf(1), 0.2, 0.045},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newSim(7)
			const runs, minutes = 2000, 60
			ts, x, n := make([]float64, minutes), make([]float64, minutes), make([]float64, minutes)
			var sumErr, sumSE float64
			above := 0
			for range runs {
				for i := range minutes {
					ts[i] = float64(i) / 60
					n[i] = float64(tc.perMin)
					x[i] = float64(r.events(tc.perMin, tc.share*math.Exp(tc.beta*ts[i]), tc.burstK))
				}
				b, se, ok := RateTrend(ts, x, n)
				if !ok {
					t.Fatalf("no fit for x=%v", x)
				}
				sumErr += b - tc.beta
				sumSE += se
				if b-2*se > tc.beta {
					above++
				}
			}
			meanErr, meanSE := sumErr/runs, sumSE/runs
			if math.Abs(meanErr) > tc.maxMeanErr*meanSE {
				t.Errorf("mean error %.4f, more than %.1f of the mean standard error %.4f", meanErr, tc.maxMeanErr, meanSE)
			}
			if got := float64(above) / runs; got > tc.maxAboveTwo {
				t.Errorf("lower bound above the true slope in %.3f of runs, want at most %.3f", got, tc.maxAboveTwo)
			}
			t.Logf("mean error %.4f, mean se %.4f, lower bound above in %d of %d", meanErr, meanSE, above, runs)
		})
	}
}

func TestRateTrendDegenerate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		t, x, n []float64
	}{
		{"two periods", []float64{0, 1}, []float64{1, 2}, []float64{10, 10}},
		{"no events", []float64{0, 1, 2}, []float64{0, 0, 0}, []float64{10, 10, 10}},
		{"one time", []float64{1, 1, 1}, []float64{1, 2, 3}, []float64{10, 10, 10}},
		{"no trials", []float64{0, 1, 2}, []float64{1, 2, 3}, []float64{0, 0, 0}},
	} {
		if _, _, ok := RateTrend(tc.t, tc.x, tc.n); ok {
			t.Errorf("%s: ok, want no fit", tc.name)
		}
	}
	// Events in one period only: a slope towards it, finite.
	b, se, ok := RateTrend([]float64{0, 1, 2}, []float64{0, 0, 5}, []float64{10, 10, 10})
	if !ok || !(b > 0) || math.IsInf(b, 0) || math.IsNaN(se) {
		t.Errorf("events at the end only: beta %v se %v ok %v, want a finite positive slope", b, se, ok)
	}
}
