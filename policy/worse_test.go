package policy

import (
	"math"
	"testing"

	"github.com/canaryd/canaryd/policy/seqtest"
)

// TestWorseSpentOverLooks: whether the new version is worse than the
// known-good's incident is asked at every period while the rule trips,
// for the whole watch, so its level is spent over the periods
// (worseLevel). 25 of 145 failing in the first two periods after the
// deploy, 3.3 standard errors above 1.25 times the incident's tail, is
// worse; 560 of 4,300 after an hour of periods, as many standard errors,
// is not (at the fixed level of before, both were; so was the second by
// Fisher's test, which now judges only a version failing most requests),
// and the levels of all the looks together stay within 2·shiftP1.
func TestWorseSpentOverLooks(t *testing.T) {
	tail := seqtest.Block{X: 45, N: 732} // the incident's last six minutes at 6.1%
	sh := kgShift{raw: tail, recent: tail, periods: 6}
	judge := func(x, n float64, periods int) (z float64, worse bool) {
		a := epochAcc{rawX: x, rawN: n, periods: periods}
		return zAbove(seqtest.Block{X: x, N: n}, tail, incidentWorse), sh.worse(&a, false, 0, 0, periods)
	}
	if z, w := judge(25, 145, 2); z < 3.2 || !w {
		t.Errorf("25 of 145 in two periods (z %.2f): worse %v, want true", z, w)
	}
	if z, w := judge(560, 4300, 60); z < 3.2 || w {
		t.Errorf("560 of 4,300 in 60 periods (z %.2f): worse %v, want false", z, w)
	}
	sum := 0.0
	for look := 1; look <= 100000; look++ {
		sum += worseLevel(look)
	}
	if sum > 2*shiftP1 || math.Abs(worseLevel(1)-shiftP1/2) > 1e-15 {
		t.Errorf("levels sum to %g over 100,000 looks (at most %g), the first %g", sum, 2*shiftP1, worseLevel(1))
	}
}
