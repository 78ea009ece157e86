package actuator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

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

// upperCaseStatus serves the simulator with every CloudFront invalidation
// status upper-cased, as a proxy or a differing implementation might.
func upperCaseStatus(sim http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		body := bytes.ReplaceAll(rec.Body.Bytes(), []byte("<Status>Completed</Status>"), []byte("<Status>COMPLETED</Status>"))
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// TestCloudFrontStatusIsCaseInsensitive is issue #13 item 9: a COMPLETED
// invalidation is complete; the step does not wait out its bound.
func TestCloudFrontStatusIsCaseInsensitive(t *testing.T) {
	var e *env
	e = newEnv(t, nil, func(c *Config) {
		c.CloudFront = func(string) *cloudfront.Client {
			return cloudfront.NewFromConfig(e.aws, func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(e.proxy.URL) })
		}
	})
	e.proxy = httptest.NewServer(upperCaseStatus(e.sim))
	t.Cleanup(e.proxy.Close)
	tg := e.target()
	tg.Actions = config.Actions{CloudFront: []config.CloudFrontAction{{Distribution: distID, Paths: []string{"/*"}, Wait: config.Duration{Duration: 5 * time.Minute}}}}
	done := make(chan Result, 1)
	go func() { done <- e.execute(BuildPlan(tg, e.input())) }()

	var res Result
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the step is waiting on the clock for an invalidation reported COMPLETED")
	}
	var d cloudFrontDetail
	if err := json.Unmarshal(res.Steps[1].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if res.Steps[1].Status != store.StepDone || d.Status != "COMPLETED" || d.WaitExpired {
		t.Errorf("step %s detail %+v, want done at once with status COMPLETED", res.Steps[1].Status, d)
	}
	if n := len(e.sim.Calls("GetInvalidation")); n != 0 {
		t.Errorf("GetInvalidation calls = %d, want 0", n)
	}
	if !e.clk.Now().Equal(epoch) {
		t.Errorf("clock moved to %s: the step waited", e.clk.Now())
	}
}
