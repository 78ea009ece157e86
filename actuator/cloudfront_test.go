package actuator

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

func TestCloudFrontWait(t *testing.T) {
	cases := []struct {
		name        string
		delay       time.Duration // awssim InvalidationDelay
		wait        time.Duration // action's Wait
		wantStatus  string
		wantExpired bool
		wantPolls   bool
	}{
		{name: "no wait", delay: time.Minute, wait: 0, wantStatus: "InProgress"},
		{name: "completes within the bound", delay: 45 * time.Second, wait: 5 * time.Minute, wantStatus: "Completed", wantPolls: true},
		{name: "bound elapses first", delay: 10 * time.Minute, wait: 30 * time.Second, wantStatus: "InProgress", wantExpired: true, wantPolls: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvSim(t, awssim.Options{InvalidationDelay: tc.delay}, nil, nil)
			autoAdvance(t, e.clk, CloudFrontPoll)
			tg := e.target()
			tg.Actions = config.Actions{CloudFront: []config.CloudFrontAction{{Distribution: distID, Paths: []string{"/a", "/b/*"}, Wait: config.Duration{Duration: tc.wait}}}}

			res := e.execute(BuildPlan(tg, e.input()))

			sr := res.Steps[1]
			var d cloudFrontDetail
			if err := json.Unmarshal(sr.Detail, &d); err != nil {
				t.Fatal(err)
			}
			if sr.Status != store.StepDone || d.Status != tc.wantStatus || d.WaitExpired != tc.wantExpired {
				t.Errorf("step %s status %q expired %v; want done %q expired %v", sr.Status, d.Status, d.WaitExpired, tc.wantStatus, tc.wantExpired)
			}
			if polls := len(e.sim.Calls("GetInvalidation")); (polls > 0) != tc.wantPolls {
				t.Errorf("GetInvalidation calls = %d", polls)
			}
			invs := e.sim.Invalidations(distID)
			if len(invs) != 1 || invs[0].ID != d.InvalidationID || invs[0].CallerReference != "canaryd/"+incident+"/1/"+distID {
				t.Errorf("invalidations %+v, detail %+v", invs, d)
			}
		})
	}
}
