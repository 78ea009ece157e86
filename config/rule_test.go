package config

import "testing"

func TestValidStatistic(t *testing.T) {
	for _, s := range []string{"Sum", "Average", "SampleCount", "Minimum", "Maximum", "IQM", "p99", "p99.9", "p100", "p0",
		"tm99", "wm95", "tc90", "ts99.5", "TM(10%:90%)", "TM(:500)", "WM(5%:)", "TC(577:)", "TC(100:2000)", "TS(:90%)", "PR(:300)", "PR(100:2000)"} {
		if !ValidStatistic(s) {
			t.Errorf("%q refused; CloudWatch accepts it", s)
		}
	}
	for _, s := range []string{"", "avg", "p", "p101", "p-1", "pxx", "tm", "TC(:)", "TC(1:2", "TX(1:2)", "PR(10%:)", "sum", "p99.9.9"} {
		if ValidStatistic(s) {
			t.Errorf("%q accepted; CloudWatch refuses it", s)
		}
	}
}
