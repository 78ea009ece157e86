package policy

import (
	"strings"
	"testing"
	"time"
)

func TestFindingStringSaysBreachOrWhenItWouldTrip(t *testing.T) {
	base := 0.01
	cases := []struct {
		name string
		f    Finding
		want []string
		not  []string
	}{
		{"breached", Finding{Rule: "error-rate", Breached: true, Observed: 0.084, Op: ">", Threshold: 0.05, Window: 5 * time.Minute, Samples: 5, Evidence: 1200, Baseline: &base},
			[]string{"error-rate: observed 0.084 > threshold 0.05 over 5m0s", "evidence 1200", "baseline 0.01"}, []string{"trips when"}},
		{"healthy", Finding{Rule: "p99", Observed: 180, Op: ">", Threshold: 800, Window: time.Minute, Samples: 3},
			[]string{"p99: observed 180, trips when > 800, over 1m0s"}, []string{"180 > threshold"}},
		{"with note", Finding{Rule: "r", Samples: 1, Note: "3 invocations < min_invocations 50"}, []string{"; 3 invocations < min_invocations 50"}, nil},
		{"nothing observed, no baseline yet", Finding{Rule: "p999", Window: 0, Alpha: 1e-4, Note: "no pre-deploy baseline"},
			[]string{"p999: nothing observed; no pre-deploy baseline"}, []string{"observed 0", "trips when > 0", "e=0"}},
		{"nothing observed, a threshold", Finding{Rule: "payments", Window: 5 * time.Minute, Op: ">", Threshold: 20, Note: "no data in window, missing_data=good"},
			[]string{"payments: nothing observed over 5m0s, trips when > 20; no data in window"}, []string{"observed 0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.f.String()
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("%q lacks %q", s, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(s, n) {
					t.Errorf("%q contains %q", s, n)
				}
			}
		})
	}
}
